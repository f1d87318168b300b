from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.settings import Settings
from tests.in_process import service_app
from tests.story_factory.stub_upstreams import StubUpstreams, romeo_and_juliet

StoryClient = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def story_client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[StoryClient]:
    """story_client(stub, settings=None) -> a client of Story Factory (real app and database) whose
    calls to the services it reads from are answered by `stub`."""
    clients: list[httpx.AsyncClient] = []

    def make(stub: StubUpstreams, custom: Settings | None = None) -> httpx.AsyncClient:
        app = service_app("story_factory", custom or settings, engine, upstream_transport=stub.transport())
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def stub() -> StubUpstreams:
    return StubUpstreams(romeo_and_juliet())


@pytest.fixture
def client(story_client: StoryClient, stub: StubUpstreams) -> httpx.AsyncClient:
    """A client of Story Factory reading the Romeo and Juliet story of the spec's example."""
    return story_client(stub)
