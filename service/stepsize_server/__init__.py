"""stepsize-server: the learning-rate schedule registry."""
