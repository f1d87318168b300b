"""Prometheus metrics of every service (prometheus-client), served at /metrics.

/metrics is in no spec, so the gateway, which routes exactly the spec's paths, never publishes it:
Prometheus scrapes each service directly (docker-compose.yml's `monitoring` profile). Every series
carries a `service` label, so the five services of `fountain serve`, which share one process and
one registry, stay apart.

- fountain_http_request_duration_seconds{service,operation,status}: a histogram of every request by
  the spec's operationId and the answered status; its `_count` is the request count.
- fountain_idempotent_replays_total{service,operation}: retries answered with a stored reply.
- fountain_upstream_requests_total{service,target,outcome} and
  fountain_upstream_request_duration_seconds{service,target}: each HTTP attempt of a call to another
  service (a retried call counts each attempt), by the called service and what came of it.
- fountain_db_pool_connections_in_use{service} and fountain_db_pool_connections_max{service}: the
  database pool, read when scraped.
- fountain_service_ready{service}: 1 when the service's readiness check passes, checked when scraped.

A scrape reads one process: under `fountain serve --workers N` each scrape sees one worker of N.
"""

import asyncio
import weakref
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import Scope

from fountain_common.health import check_ready

METRICS_PATH = "/metrics"
# Reads of one row take about a millisecond: buckets start there and reach the upstream timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
READINESS_TIMEOUT_SECONDS = 2.0
UNMATCHED = "unmatched"  # a request no route took (404 for an unknown path)

REQUEST_DURATION = Histogram(
    "fountain_http_request_duration_seconds",
    "Time to answer a request, by operationId and status (its _count is the request count).",
    ("service", "operation", "status"),
    buckets=LATENCY_BUCKETS,
)
IDEMPOTENT_REPLAYS = Counter(
    "fountain_idempotent_replays",
    "Requests answered with the stored reply of an earlier request with the same Idempotency-Key.",
    ("service", "operation"),
)
UPSTREAM_REQUESTS = Counter(
    "fountain_upstream_requests",
    "HTTP attempts of calls to another service, by called service and outcome "
    "(ok, refused: 4xx, error: 5xx, timeout, unreachable).",
    ("service", "target", "outcome"),
)
UPSTREAM_DURATION = Histogram(
    "fountain_upstream_request_duration_seconds",
    "Time of one HTTP attempt of a call to another service.",
    ("service", "target"),
    buckets=LATENCY_BUCKETS,
)
SERVICE_READY = Gauge(
    "fountain_service_ready",
    "1 when the service reaches its database and its schema is at the newest migration, else 0.",
    ("service",),
)


class RequestMetrics:
    """Records one service's requests. Called once per request by the request middleware
    (observability.py), so it keeps the histogram's labelled children: looking one up again costs
    more than observing it."""

    def __init__(self, service: str) -> None:
        self.service = service
        # By (id of the route, status): routes compare by value, which costs more than their id, and
        # live as long as the app, as this does.
        self._children: dict[tuple[int, int], Any] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        child = self._children.get((id(route), status))
        if child is None:
            operation = getattr(route, "operation_id", None) or getattr(route, "name", None) or UNMATCHED
            child = REQUEST_DURATION.labels(self.service, operation, str(status))
            self._children[(id(route), status)] = child
        child.observe(seconds)


def record_replay(service: str, operation: str) -> None:
    IDEMPOTENT_REPLAYS.labels(service, operation).inc()


def record_upstream(service: str, target: str, outcome: str, seconds: float) -> None:
    UPSTREAM_REQUESTS.labels(service, target, outcome).inc()
    UPSTREAM_DURATION.labels(service, target).observe(seconds)


class _ServiceApps(Collector):
    """The services of this process, read at scrape time: their pools, and (before each scrape)
    their readiness. Apps are held weakly: a test's app goes when the test drops it."""

    def __init__(self) -> None:
        self.apps: weakref.WeakSet[FastAPI] = weakref.WeakSet()

    def engines(self) -> Iterable[tuple[Any, Any]]:
        """(service, engine) once per service and engine (test apps often share one engine)."""
        seen: set[tuple[str, int]] = set()
        for app in list(self.apps):
            engine = getattr(app.state, "engine", None)
            service = app.state.service
            if engine is None or (service.name, id(engine)) in seen:
                continue
            seen.add((service.name, id(engine)))
            yield service, engine

    def collect(self) -> Iterable[GaugeMetricFamily]:
        in_use = GaugeMetricFamily(
            "fountain_db_pool_connections_in_use", "Database connections checked out of the pool.", labels=["service"]
        )
        capacity = GaugeMetricFamily(
            "fountain_db_pool_connections_max",
            "Connections the pool may hold at once (pool size plus overflow).",
            labels=["service"],
        )
        totals: dict[str, tuple[int, int]] = {}
        for service, engine in self.engines():
            pool = engine.sync_engine.pool
            checked_out = int(getattr(pool, "checkedout", lambda: 0)())
            most = int(getattr(pool, "size", lambda: 0)()) + max(0, int(getattr(pool, "_max_overflow", 0)))
            used, limit = totals.get(service.name, (0, 0))
            totals[service.name] = (used + checked_out, limit + most)
        for name, (used, limit) in sorted(totals.items()):
            in_use.add_metric([name], used)
            capacity.add_metric([name], limit)
        yield in_use
        yield capacity

    async def refresh_readiness(self) -> None:
        """Ready when every engine of the service passes the check (a process has one a service)."""

        async def ready(service: Any, engine: Any) -> tuple[str, bool]:
            try:
                async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
                    await check_ready(engine, service)
            except Exception:  # unreachable, frozen or not migrated: all mean "not ready"
                return service.name, False
            return service.name, True

        results = await asyncio.gather(*(ready(service, engine) for service, engine in self.engines()))
        verdicts: dict[str, bool] = {}
        for name, passed in results:
            verdicts[name] = verdicts.get(name, True) and passed
        for name, passed in verdicts.items():
            SERVICE_READY.labels(name).set(1 if passed else 0)


_SERVICE_APPS = _ServiceApps()
REGISTRY.register(_SERVICE_APPS)


def install_metrics(app: FastAPI) -> None:
    """Serve /metrics on `app` (outside its spec) and report its pool and readiness until
    `forget_app`."""
    _SERVICE_APPS.apps.add(app)

    async def metrics(request: Request) -> Response:
        await _SERVICE_APPS.refresh_readiness()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False, name="metrics")


def forget_app(app: FastAPI) -> None:
    """Stop reporting the pool and readiness of `app` (it shut down)."""
    _SERVICE_APPS.apps.discard(app)
