"""Moved to `stepsize_server.observability.logs`; kept for `cli.py`'s import until it
imports from there."""

from ..observability.logs import ACCESS_LOGGER, JsonFormatter, configure_logging

__all__ = ["ACCESS_LOGGER", "JsonFormatter", "configure_logging"]
