"""The HTTP API (SPEC 4): one router per resource, thin (parse, authorize, call, answer)."""

from . import audit, catalog, evaluate, health, lr, plot, schedules, tags, tokens, versions, web

# Order matters only for documentation: the OpenAPI document lists routes in this order.
ROUTERS = (
    schedules.router,
    versions.router,
    tags.router,
    lr.router,
    plot.router,
    evaluate.router,
    catalog.router,
    audit.router,
    tokens.router,
    health.router,
    web.router,
)

__all__ = ["ROUTERS"]
