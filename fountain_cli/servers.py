"""ASGI apps for `fountain serve`: each service alone, or all of them behind one Host dispatcher."""

import gc
import os
from enum import Enum
from typing import cast

from fastapi import FastAPI
from starlette.middleware import Middleware

from fountain_cli import accounts, gateway, registry, tokens
from fountain_cli.host_dispatch import HostDispatcher
from fountain_cli.key_check import KeyCheckMiddleware, Keyring
from fountain_common.app import create_service_app
from fountain_common.observability import RequestContextMiddleware
from fountain_common.settings import Settings, get_settings

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


class Auth(Enum):
    """Who checks API keys for `fountain serve`."""

    KEYS = "keys"  # the server itself: accounts file and GATEWAY_CONSUMERS
    NONE = "none"  # nobody (--no-auth, loopback only); identity headers from clients are still dropped
    GATEWAY = "gateway"  # Kong in front (--behind-gateway): its identity headers are passed on


def keyring_from_environment(settings: Settings | None = None) -> Keyring:
    """The keys of the accounts file and of GATEWAY_CONSUMERS; raises AccountError or ConsumerError."""
    consumers_text = os.environ.get(gateway.CONSUMERS_VARIABLE, "")
    consumers = gateway.parse_consumers(consumers_text) if consumers_text.strip() else []
    return Keyring(accounts.accounts_path(settings), consumers, tokens.key_path(settings))


def with_key_check(app: FastAPI, keyring: Keyring | None) -> FastAPI:
    """`app` refusing requests its keys do not allow (`keyring` None: checking none, as --no-auth).
    Just inside the request context, so a refusal is logged and carries a request id like any answer."""
    position = next(
        (
            i + 1
            for i, middleware in enumerate(app.user_middleware)
            if cast(object, middleware.cls) is RequestContextMiddleware
        ),
        0,
    )
    # With FOUNTAIN_GATEWAY_SECRET, the check proves to the services that it named the caller.
    secret = app.state.settings.gateway_secret
    options = {"secret": secret} if secret else {}
    app.user_middleware.insert(position, Middleware(KeyCheckMiddleware, keyring=keyring, **options))
    return app


def announcement(auth: Auth) -> tuple[str, bool]:
    """What `fountain serve` says about key checks when it starts, and whether it is a warning."""
    if auth is Auth.NONE:
        return "--no-auth: NO API KEY IS CHECKED. Anyone on this machine may read, change and delete everything.", True
    if auth is Auth.GATEWAY:
        return (
            "--behind-gateway: the gateway in front checks keys; its X-Consumer-* headers are trusted with the "
            "proof of FOUNTAIN_GATEWAY_SECRET in X-Fountain-Gateway.",
            False,
        )
    return (
        "API keys and tokens are checked: send a key in the `apikey` header (fountain accounts add NAME --role "
        "writer) or a token in `Authorization: Bearer` (fountain accounts token NAME).",
        False,
    )


def _guarded(app: FastAPI, auth: Auth, keyring: Keyring | None) -> FastAPI:
    if auth is Auth.GATEWAY:
        return app
    return with_key_check(app, keyring if auth is Auth.KEYS else None)


def all_services_app(auth: Auth = Auth.KEYS, keyring: Keyring | None = None) -> HostDispatcher:
    if auth is Auth.KEYS and keyring is None:
        keyring = keyring_from_environment()
    app = HostDispatcher(
        {
            svc.host: _guarded(create_service_app(svc, pool_size=ALL_IN_ONE_POOL_SIZE), auth, keyring)
            for svc in registry.all_services()
        }
    )
    settle_garbage_collector()
    return app


def one_service_app(name: str, auth: Auth = Auth.KEYS) -> FastAPI:
    keyring = keyring_from_environment(get_settings()) if auth is Auth.KEYS else None
    app = _guarded(create_service_app(registry.load_service(name)), auth, keyring)
    settle_garbage_collector()
    return app


def one_service_app_factory(name: str, auth: Auth = Auth.KEYS) -> str:
    """The name of a zero-argument factory uvicorn can import (workers re-import it by name)."""
    return f"app_for_{name}" if auth is Auth.KEYS else f"{auth.value}_app_for_{name}"


def __getattr__(attribute: str) -> object:
    # uvicorn --factory imports `fountain_cli.servers:app_for_<service>` in each worker process.
    for auth in Auth:
        prefix = "app_for_" if auth is Auth.KEYS else f"{auth.value}_app_for_"
        if attribute.startswith(prefix):
            name = attribute.removeprefix(prefix)
            return lambda: one_service_app(name, auth)  # noqa: B023 - returned at once
    raise AttributeError(attribute)
