"""One router per resource, thin: parse the request, authorize the caller, call the store
or the language, answer. `ROUTERS` is what the app includes."""

from .. import plot, web
from . import audit, catalog, evaluate, health, lr, runs, schedules, tags, tokens, versions

# Requests are matched against routers in this order, so the hot lr route comes first
# (its paths do not overlap the others'); the OpenAPI document follows the same order.
ROUTERS = (
    lr.router,
    schedules.router,
    versions.router,
    tags.router,
    runs.router,
    plot.router,
    evaluate.router,
    catalog.router,
    audit.router,
    tokens.router,
    health.router,
    web.router,
)

__all__ = ["ROUTERS"]
