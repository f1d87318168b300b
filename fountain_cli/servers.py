"""ASGI apps for `fountain serve`: each service alone, or all of them behind one Host dispatcher."""

import gc

from fastapi import FastAPI

from fountain_cli import registry
from fountain_cli.host_dispatch import HostDispatcher
from fountain_common.app import create_service_app

# Five engines share one database server in the all-in-one process: keep each pool modest (75
# connections at most in all, under PostgreSQL's default limit of 100).
ALL_IN_ONE_POOL_SIZE = 15


def settle_garbage_collector() -> None:
    """Move everything built at start-up (modules, apps, models) out of the collector's reach, and
    collect the young generation less often: full collections over those objects caused the
    slowest 1% of requests (tens of milliseconds) under load. Memory use is unchanged."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 20, 20)


def all_services_app() -> HostDispatcher:
    app = HostDispatcher(
        {svc.host: create_service_app(svc, pool_size=ALL_IN_ONE_POOL_SIZE) for svc in registry.all_services()}
    )
    settle_garbage_collector()
    return app


def one_service_app(name: str) -> FastAPI:
    app = create_service_app(registry.load_service(name))
    settle_garbage_collector()
    return app


def one_service_app_factory(name: str) -> str:
    """The name of a zero-argument factory uvicorn can import (workers re-import it by name)."""
    return f"app_for_{name}"


def __getattr__(attribute: str) -> object:
    # uvicorn --factory imports `fountain_cli.servers:app_for_<service>` in each worker process.
    if attribute.startswith("app_for_"):
        name = attribute.removeprefix("app_for_")
        return lambda: one_service_app(name)
    raise AttributeError(attribute)
