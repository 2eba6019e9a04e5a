"""stepsize-server: the learning-rate schedule registry."""

__version__ = "0.1.0"
