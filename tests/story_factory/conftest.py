import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.settings import Settings
from tests.core_script.conftest import reset_scripts
from tests.in_process import Clients, service_app
from tests.story_factory.authoring import Author, ClientFor
from tests.story_factory.stub_upstreams import StubUpstreams, romeo_and_juliet

StoryClient = Callable[..., httpx.AsyncClient]


class Recorder(httpx.AsyncBaseTransport):
    """The in-process services, with every call Story Factory makes to them recorded on the way.
    With `gather_at` set, each call for parts waits (up to `gather_timeout` s) until that many are
    in flight at once, which only a concurrent fan-out reaches."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gather_at: int | None = None
        self.gather_timeout = 5.0
        self.gather_gave_up = 0
        self._crowd = asyncio.Event()

    def calls(self, path_prefix: str = "/") -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith(path_prefix)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gather_at is not None and not request.url.path.startswith("/v2/scripts/"):
                if self.in_flight >= self.gather_at:
                    self._crowd.set()
                try:
                    await asyncio.wait_for(self._crowd.wait(), self.gather_timeout)
                except TimeoutError:  # answer anyway, so a sequential client fails its test instead of hanging
                    self.gather_gave_up += 1
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def author(client_for: ClientFor, engine: AsyncEngine) -> Author:
    """Writes stories through the public APIs of the real services (in-process), starting from no
    scripts and no numbers: tests of the numbering service restart its counter, which would otherwise
    hand out numbers that sections written earlier still hold."""
    await reset_scripts(engine)
    return Author(client_for)


@pytest.fixture
def recorder(gateway_transport: httpx.ASGITransport) -> Recorder:
    return Recorder(gateway_transport)


@pytest.fixture
async def stories(settings: Settings, engine: AsyncEngine, recorder: Recorder) -> AsyncIterator[httpx.AsyncClient]:
    """A client of Story Factory that reads from the real services in-process; `recorder` sees its calls."""
    app = service_app("story_factory", settings, engine, upstream_transport=recorder)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def story_client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[StoryClient]:
    """story_client(stub, settings=None) -> a client of Story Factory (real app and database) whose
    calls to the services it reads from are answered by `stub`."""
    clients = Clients()

    def make(stub: StubUpstreams, custom: Settings | None = None) -> httpx.AsyncClient:
        return clients.of(service_app("story_factory", custom or settings, engine, upstream_transport=stub.transport()))

    yield make
    await clients.aclose()


@pytest.fixture
def stub() -> StubUpstreams:
    """Stubbed sources, for the failures a test injects (a source down, slow, or breaking its contract)."""
    return StubUpstreams(romeo_and_juliet())


@pytest.fixture
def client(story_client: StoryClient, stub: StubUpstreams) -> httpx.AsyncClient:
    """A client of Story Factory reading the Romeo and Juliet story of the spec's example."""
    return story_client(stub)
