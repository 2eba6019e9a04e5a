"""`python -m stepsize_server ...` is the `stepsize-server` command."""

from .cli import main

main()
