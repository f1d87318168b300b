"""Prometheus metrics (fountain_common/metrics.py): what each service reports at /metrics, by service,
and that the gateway never publishes /metrics."""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from fountain_cli import gateway, registry
from fountain_common.metrics import METRICS_PATH
from fountain_common.settings import Settings
from fountain_common.upstream import Upstreams
from tests import in_process
from tests.character.conftest import reset_characters
from tests.deployment.kong_emulator import route_for

ClientFor = Callable[[str], httpx.AsyncClient]
Labels = dict[str, str]


async def scrape(client: httpx.AsyncClient, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get(METRICS_PATH, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


REQUESTS = "fountain_http_request_duration_seconds_count"


async def test_requests_are_counted_by_operation_id_and_status(engine: AsyncEngine, client_for: ClientFor) -> None:
    await reset_characters(engine)
    client = client_for("character")
    before = await scrape(client)
    created = await client.post("/v2/characters", json={"name": "Juliet", "description": "A Capulet."})
    assert created.status_code == 201
    for _ in range(3):
        assert (await client.get("/v2/characters/1")).status_code == 200
    assert (await client.get("/v2/characters/999")).status_code == 404
    assert (await client.get("/no/such/path")).status_code == 404
    after = await scrape(client)

    def added(**labels: str) -> float:
        return value(after, REQUESTS, service="character", **labels) - value(
            before, REQUESTS, service="character", **labels
        )

    assert added(operation="addCharacter", status="201") == 1
    assert added(operation="getCharacter", status="200") == 3
    assert added(operation="getCharacter", status="404") == 1
    assert added(operation="unmatched", status="404") == 1
    # The latency histogram holds the same requests in its buckets.
    bucket = "fountain_http_request_duration_seconds_bucket"
    labels = {"service": "character", "operation": "getCharacter", "status": "200", "le": "+Inf"}
    assert value(after, bucket, **labels) - value(before, bucket, **labels) == 3


async def test_idempotent_replays_are_counted(engine: AsyncEngine, client_for: ClientFor) -> None:
    await reset_characters(engine)
    client = client_for("character")
    before = await scrape(client)
    body = {"name": "Romeo", "description": "A Montague."}
    for _ in range(3):
        response = await client.post("/v2/characters", json=body, headers={"Idempotency-Key": "metrics-replay"})
        assert response.status_code == 201
    after = await scrape(client)
    name = "fountain_idempotent_replays_total"
    labels = {"service": "character", "operation": "addCharacter"}
    assert value(after, name, **labels) - value(before, name, **labels) == 2


async def test_calls_to_other_services_are_counted_by_target_and_outcome(client_for: ClientFor) -> None:
    client = client_for("core_script")
    before = await scrape(client)
    created = await client.post("/v2/scripts", json={"title": "Hamlet"})
    assert created.status_code == 201, created.text
    after = await scrape(client)
    name = "fountain_upstream_requests_total"
    labels = {"service": "core_script", "target": "central_sequence", "outcome": "ok"}
    assert value(after, name, **labels) - value(before, name, **labels) >= 1


async def test_an_unreachable_service_is_counted_per_attempt(client_for: ClientFor) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    settings = Settings(database_url="postgresql://unused/db", upstream_retries=2)
    upstreams = Upstreams(settings, httpx.MockTransport(refuse), caller="story_factory")
    client = client_for("character")
    before = await scrape(client)
    with pytest.raises(Exception, match="could not reach"):
        await upstreams.request("character", "GET", "/v2/characters")
    await upstreams.aclose()
    after = await scrape(client)
    name = "fountain_upstream_requests_total"
    labels = {"service": "story_factory", "target": "character", "outcome": "unreachable"}
    assert value(after, name, **labels) - value(before, name, **labels) == 3  # the call and its 2 retries


async def test_pool_connections_in_use_are_reported(engine: AsyncEngine, client_for: ClientFor) -> None:
    client = client_for("character")
    idle = await scrape(client)
    in_use = "fountain_db_pool_connections_in_use"
    assert value(idle, "fountain_db_pool_connections_max", service="character") == 10 + 10  # the tests' engine
    async with engine.connect() as held:
        busy = await scrape(client)
        assert held is not None
    assert value(busy, in_use, service="character") == value(idle, in_use, service="character") + 1


async def test_readiness_is_reported_and_a_missing_database_is_not_ready(
    settings: Settings, engine: AsyncEngine, client_for: ClientFor, database_url: str
) -> None:
    client = client_for("session_context")
    assert value(await scrape(client), "fountain_service_ready", service="session_context") == 1
    unreachable = create_async_engine(database_url.replace("/fountain_test?", "/no_such_database?"))
    broken = in_process.service_app("session_context", settings, unreachable)
    async with (
        broken.router.lifespan_context(broken),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=broken), base_url="http://testserver") as other,
    ):
        assert value(await scrape(other), "fountain_service_ready", service="session_context") == 0
    await unreachable.dispose()
    # Shut down, the broken app no longer counts.
    assert value(await scrape(client), "fountain_service_ready", service="session_context") == 1


async def test_services_in_one_process_stay_apart_by_label(gateway_transport: httpx.ASGITransport) -> None:
    async with httpx.AsyncClient(transport=gateway_transport, base_url="http://127.0.0.1:8080") as client:
        hosts = {service.name: service.host for service in registry.all_services()}
        before = await scrape(client, host=hosts["character"])
        assert (await client.get("/v2/characters", headers={"host": hosts["character"]})).status_code == 200
        assert (await client.get("/v2/contexts", headers={"host": hosts["session_context"]})).status_code == 200
        after = await scrape(client, host=hosts["story_factory"])  # any host's /metrics shows the process

    def added(service: str, operation: str) -> float:
        labels = {"service": service, "operation": operation, "status": "200"}
        return value(after, REQUESTS, **labels) - value(before, REQUESTS, **labels)

    assert added("character", "searchCharacters") == 1
    assert added("session_context", "listContexts") == 1
    assert added("session_context", "searchCharacters") == 0
    ready = {labels for (name, labels) in after if name == "fountain_service_ready"}
    assert {dict(labels)["service"] for labels in ready} == set(hosts)


def test_no_spec_declares_the_metrics_path() -> None:
    for service in registry.all_services():
        spec: dict[str, Any] = yaml.safe_load(service.spec_path.read_text())
        assert METRICS_PATH not in spec["paths"], service.name


async def test_metrics_are_not_in_the_served_contract(client_for: ClientFor) -> None:
    for service in registry.all_services():
        document = (await client_for(service.name).get("/openapi.json")).json()
        assert METRICS_PATH not in document["paths"]
        assert METRICS_PATH not in json.dumps(document["paths"])


def test_the_gateway_routes_no_request_to_metrics() -> None:
    kong = yaml.safe_load(gateway.KONG_FILE.read_text())
    for service in registry.all_services():
        for method in ("GET", "HEAD", "POST"):
            for path in (METRICS_PATH, METRICS_PATH + "/", "/v2" + METRICS_PATH):
                route = route_for(kong, service.host, method, path)
                assert route is None, f"{method} {service.host}{path} -> {route.name if route else ''}"


@pytest.mark.parametrize("enabled", [False, True])
async def test_opentelemetry_is_consulted_per_request_only_when_enabled(
    settings: Settings, engine: AsyncEngine, gateway_transport: httpx.ASGITransport, monkeypatch: Any, enabled: bool
) -> None:
    """FastAPI's own telemetry looks up the OpenTelemetry providers on every request; by default the
    services skip it (FOUNTAIN_OPENTELEMETRY), and turning it on hands requests to it again."""
    from opentelemetry import trace

    lookups: list[object] = []
    real = trace.get_tracer_provider

    def counted() -> trace.TracerProvider:
        lookups.append(object())
        return real()

    monkeypatch.setattr(trace, "get_tracer_provider", counted)
    app = in_process.service_app(
        "character", settings.model_copy(update={"opentelemetry": enabled}), engine, gateway_transport
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        for _ in range(3):
            assert (await client.get("/v2/characters/999999")).status_code == 404
    assert (len(lookups) >= 3) is enabled
