"""What the server tells its operators: Prometheus metrics, JSON access logs, and the
ASGI middleware that records them (plus the request-body limit)."""
