"""Prometheus metrics, in a registry of the app's own (so two apps in one process, as in
tests, do not collide)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ..version_cache import VersionCache

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
EVALUATION_KINDS = ("single", "range", "steps", "evaluate", "plot")


class Metrics:
    """Request counts and latencies per route template, evaluations, cache hits."""

    def __init__(self, cache: VersionCache) -> None:
        disable_created_metrics()  # process-wide: the *_created series only add noise
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "stepsize_http_requests_total",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "stepsize_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        evaluations = Counter(
            "stepsize_evaluations_total",
            "learning-rate evaluations by kind (one per request)",
            ["kind"],
            registry=self.registry,
        )
        steps = Counter(
            "stepsize_evaluated_steps_total",
            "steps evaluated, by kind",
            ["kind"],
            registry=self.registry,
        )
        # Bound once: a labels() lookup per request costs more than the increment.
        self.evaluations = {k: evaluations.labels(k) for k in EVALUATION_KINDS}
        self.steps = {k: steps.labels(k) for k in EVALUATION_KINDS}
        self.registry.register(_CacheCollector(cache))

    def evaluated(self, kind: str, count: int) -> None:
        self.evaluations[kind].inc()
        self.steps[kind].inc(count)


class _CacheCollector(Collector):
    """Reads the caches' counters at scrape time: no cost per request."""

    def __init__(self, cache: VersionCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        hits = CounterMetricFamily(
            "stepsize_cache_hits", "compiled-version cache hits", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "stepsize_cache_misses", "compiled-version cache misses", labels=["cache"]
        )
        size = GaugeMetricFamily("stepsize_cache_entries", "entries in the cache", labels=["cache"])
        for label, lru in (("versions", self.cache.versions), ("compiled", self.cache.compiled)):
            hits.add_metric([label], lru.hits)
            misses.add_metric([label], lru.misses)
            size.add_metric([label], len(lru))
        yield hits
        yield misses
        yield size
