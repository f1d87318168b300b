"""What every service's contract tests share: the service's spec served in-process by the real app on
the test database, and stateful runs through the spec's OpenAPI links that start from a clean state.

A service's test_contract.py declares the fixture and the parametrized test (schemathesis collects
them per module) and passes its own reset, which knows what "empty" means for its tables.
"""

import asyncio
import re
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from fountain_cli import gateway, registry
from fountain_cli.key_check import Keyring
from fountain_cli.servers import with_key_check
from fountain_common.app import create_service_app
from fountain_common.settings import Settings
from tests import in_process

Reset = Callable[[AsyncEngine], Awaitable[None]]
QUIET = list(HealthCheck)  # in-process calls to a database are slow for hypothesis' taste, and fine


# The key schemathesis sends (the spec's apiKey scheme), an admin's: every operation admits it.
CONTRACT_KEY = gateway.new_api_key()


def served_schema(service_name: str, database_url: str, spec: dict[str, Any] | None = None) -> schemathesis.BaseSchema:
    """The service's spec (or `spec`, a trimmed copy of it), answered by the service's app as a client
    reaches it: behind the key check of `fountain serve`, which names the caller to the service with
    the proof of FOUNTAIN_GATEWAY_SECRET, so the service checks the caller's role too. Every request
    carries an admin's key; schemathesis also tries each operation without it and with a wrong one.
    Its calls to other services reach the real ones, in-process, acting for the same caller."""
    service = registry.load_service(service_name)
    loaded = schemathesis.openapi.from_dict(spec) if spec else schemathesis.openapi.from_path(str(service.spec_path))
    settings = Settings(database_url=database_url, gateway_secret=gateway.new_api_key())
    # The app creates its own engine at startup, on the event loop schemathesis serves it from; the
    # services it calls share one that opens a connection per use, so any event loop can use it.
    upstreams = in_process.gateway(settings, create_async_engine(database_url, poolclass=NullPool))
    keyring = Keyring(Path("/nonexistent/accounts.json"), [gateway.Consumer("contract", gateway.ADMIN, CONTRACT_KEY)])
    loaded.app = with_key_check(create_service_app(service, settings=settings, upstream_transport=upstreams), keyring)

    @loaded.auth()
    class ApiKey:
        def get(self, case: schemathesis.Case, context: Any) -> str:
            return CONTRACT_KEY

        def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), gateway.API_KEY_HEADER: data}

    return loaded


def run_stateful(
    schema: schemathesis.BaseSchema, database_url: str, reset: Reset, *, steps: int = 6, runs: int | None = None
) -> None:
    """Run schemathesis' state machine over the links of `schema`, every run from a `reset` database,
    so a replayed run meets the same state. `runs` caps the profile's number of runs."""
    limits = {} if runs is None else {"max_examples": runs}

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            asyncio.run(_reset(database_url, reset))

    run_state_machine_as_test(
        Workflow,
        settings=settings(stateful_step_count=steps, deadline=None, suppress_health_check=QUIET, **limits),
    )


def only_operations(spec: dict[str, Any], operation_ids: set[str]) -> dict[str, Any]:
    """`spec` cut down to `operation_ids` and the links between them (mutated in place, returned)."""
    for path, item in list(spec["paths"].items()):
        for method in [m for m in item if m != "parameters"]:
            if item[method]["operationId"] not in operation_ids:
                del item[method]
                continue
            for response in item[method]["responses"].values():
                links = response.get("links", {})
                for name in [n for n, link in links.items() if link["operationId"] not in operation_ids]:
                    del links[name]
        if set(item) <= {"parameters"}:
            del spec["paths"][path]
    return spec


def bounded_lists(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` (mutated in place, returned) with the comma-separated list query parameters (orderBy,
    select, embed) capped by a count of items as well as by their maxLength, the count chosen so no
    match reaches maxLength - 1. schemathesis' coverage phase asks each such pattern for a match of
    exactly maxLength and maxLength - 1 characters, and drawing at random never lands on one: each
    costs seconds for no case at all, minutes for a service of a few tables. With the count it sees
    at once that there is none. Every match of the capped pattern is one of the served pattern, so
    the service must still accept it; a service's test of its rows sends the over-long lists."""
    for item in spec["paths"].values():
        for operation in [item.get(method) for method in ("get", "put", "post", "patch", "delete")]:
            for parameter in (operation or {}).get("parameters", []):
                schema = parameter.get("schema", {})
                pattern, max_length = schema.get("pattern"), schema.get("maxLength")
                if parameter.get("in") == "query" and max_length and str(pattern).endswith(")*$"):
                    schema["pattern"] = _with_item_count(pattern, max_length - 2)
    return spec


_REPEATED_GROUP = re.compile(r"(?<!\\)\)\*")


def _with_item_count(pattern: str, longest: int) -> str:
    """`pattern` with every repeated group repeated at most n times, n the largest that keeps every
    match at most `longest` characters long."""

    def capped(count: int) -> str:
        return _REPEATED_GROUP.sub(f"){{0,{count}}}", pattern)

    def widest(count: int) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # sre_parse is where re keeps the width
            import sre_parse

            return int(sre_parse.parse(capped(count)).getwidth()[1])

    low, high = 0, longest
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if widest(middle) <= longest else (low, middle - 1)
    return capped(low)


async def _reset(database_url: str, reset: Reset) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        await reset(engine)
    finally:
        await engine.dispose()
