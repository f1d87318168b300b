"""Base of every hand-written implementation: what an operation may need besides its parameters,
body and connection (which the generated route hands it).

One instance serves every request of an app (`create_service_app` makes it); it holds no request
state. What it reads — the engine, the settings, the clients of other services — is the app's.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import State

from fountain_common.health import check_ready
from fountain_common.service import ServiceDefinition
from fountain_common.settings import Settings
from fountain_common.upstream import Upstreams


class ServiceOperations:
    def __init__(self, state: State) -> None:
        self._state = state

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self._state.engine
        return engine

    @property
    def settings(self) -> Settings:
        settings: Settings = self._state.settings
        return settings

    @property
    def service(self) -> ServiceDefinition:
        service: ServiceDefinition = self._state.service
        return service

    @property
    def upstreams(self) -> Upstreams:
        """The app's connection pool to other services; a typed client per service wraps it."""
        upstreams: Upstreams = self._state.upstreams
        return upstreams

    # The probes every spec declares (getHealth, getReadiness), answered the same way by every service.
    async def get_health(self) -> Any:
        return {"status": "ok", "service": self.service.name}

    async def get_readiness(self) -> Any:
        """503 unless the database answers and this service's schema is fully migrated."""
        await check_ready(self.engine, self.service)
        return {"status": "ok", "service": self.service.name}
