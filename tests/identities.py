"""Callers for tests of services that check identities: the headers the gateway sends for a consumer,
and clients of the in-process services with FOUNTAIN_GATEWAY_SECRET set (real services, one database,
calls between them through the same in-process gateway)."""

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli import gateway
from fountain_common.identity import PROOF_HEADER
from fountain_common.settings import Settings
from tests.in_process import Clients, service_app
from tests.in_process import gateway as in_process_gateway

SECRET = gateway.new_api_key()
ClientFor = Callable[[str], httpx.AsyncClient]


def caller(name: str, role: str, proof: str | None = SECRET) -> dict[str, str]:
    """The headers the gateway sends for consumer `name` holding `role`."""
    headers = {
        "X-Consumer-ID": f"id-of-{name}",
        "X-Consumer-Username": name,
        "X-Credential-Identifier": f"key-of-{name}",
        "X-Consumer-Groups": role,
    }
    if proof is not None:
        headers[PROOF_HEADER] = proof
    return headers


class Recorder(httpx.AsyncBaseTransport):
    """The in-process services, with the headers of every call between them kept."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@pytest.fixture(scope="module")
def secured(database_url: str) -> Settings:
    return Settings(database_url=database_url, gateway_secret=SECRET)


@pytest.fixture
def between_services(secured: Settings, engine: AsyncEngine) -> Recorder:
    return Recorder(in_process_gateway(secured, engine))


@pytest.fixture
async def secured_client(
    secured: Settings, engine: AsyncEngine, between_services: Recorder
) -> AsyncIterator[ClientFor]:
    """`secured_client("character")`: a client of that service, which trusts only the gateway's proof."""
    clients = Clients()
    yield lambda name: clients.of(service_app(name, secured, engine, between_services))
    await clients.aclose()
