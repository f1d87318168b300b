"""Services served in-process, as `fountain serve` runs them, for tests."""

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_cli import registry
from fountain_cli.host_dispatch import HostDispatcher
from fountain_common.app import create_service_app
from fountain_common.settings import Settings


def service_app(
    name: str, settings: Settings, engine: AsyncEngine, upstream_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    return create_service_app(
        registry.load_service(name), settings=settings, engine=engine, upstream_transport=upstream_transport
    )


def gateway(settings: Settings, engine: AsyncEngine) -> httpx.ASGITransport:
    """Every service behind one Host router, as `fountain serve` runs them: a transport for the calls
    services make to each other (by public host, see fountain_common/upstream.py). The routed apps
    run no lifespan, so `engine` is theirs for as long as the transport is used."""
    dispatcher = HostDispatcher({})
    transport = httpx.ASGITransport(app=dispatcher)
    for service in registry.all_services():
        dispatcher.apps[service.host] = service_app(service.name, settings, engine, transport)
    return transport


class Clients:
    """HTTP clients of in-process apps, made as a test asks for them and closed together after it."""

    def __init__(self) -> None:
        self._open: list[httpx.AsyncClient] = []

    def of(self, app: FastAPI) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        self._open.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._open:
            await client.aclose()
