"""The HTTP API (SPEC 4): routers in `routes/` (one per resource, thin: parse, authorize,
call, answer) and the request plumbing beside them (deps, params, negotiation,
representations, pagination, errors, openapi). The routers are listed in
`routes.ROUTERS`."""
