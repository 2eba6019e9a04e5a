"""The client's version, at the bottom of the package so that anything may import it."""

__version__ = "0.1.0"
