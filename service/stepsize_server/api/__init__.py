"""The HTTP API (SPEC 4): one router per resource, thin (parse, authorize, call, answer)."""

from . import audit, catalog, evaluate, health, lr, plot, schedules, tags, tokens, versions, web

# Requests are matched against routers in this order, so the hot lr route comes first
# (its paths do not overlap the others'); the OpenAPI document follows the same order.
ROUTERS = (
    lr.router,
    schedules.router,
    versions.router,
    tags.router,
    plot.router,
    evaluate.router,
    catalog.router,
    audit.router,
    tokens.router,
    health.router,
    web.router,
)

__all__ = ["ROUTERS"]
