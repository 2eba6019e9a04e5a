"""stepsize: learning-rate schedules from the registry."""
