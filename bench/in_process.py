"""CPU per request of Character Management's app itself: no HTTP server, no load generator, no other
process measured. It calls the ASGI app in this process, one request after another, and counts this
process's CPU time (`time.process_time`), which other work on the machine hardly moves. So it compares
two versions of the code well (run it in each checkout), where req/s from wrk would mostly show the
machine's load. It does not say how fast the service is over HTTP: `make bench-read` and
`make bench-crud` do.

One run:
  1. starts an embedded PostgreSQL in a new temporary folder, migrates Character Management and starts
     its app in this process (logs at WARNING, as the other benchmarks serve);
  2. creates `--seed` characters through POST /v2/characters;
  3. `--rounds` rounds; in each, `--requests` requests of each kind, in turn: a create
     (POST /v2/characters with its own Idempotency-Key), a list page of 50 (GET /v2/characters) and a
     read by id (GET /v2/characters/{id} of a random seeded id);
  4. prints each kind's median CPU per request over the rounds, in µs.

With --as-account every request comes as the gateway names a writer (X-Consumer-* headers with the
proof of FOUNTAIN_GATEWAY_SECRET, which the app then has): the path of a deployment checking keys,
where each route checks the caller and each row's owner (docs/accounts.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

Scope = dict[str, Any]
GATEWAY_SECRET = "bench-secret"
# Set by --as-account: the gateway's headers naming the caller, sent with every request.
IDENTITY: tuple[tuple[bytes, bytes], ...] = ()


def request_scope(
    path: str, method: str = "GET", query: bytes = b"", headers: tuple[tuple[bytes, bytes], ...] = ()
) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", b"character.fountain.coach"), (b"accept", b"*/*"), *IDENTITY, *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
    }


async def call(app: Any, scope: Scope, body: bytes = b"") -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[1].get("body", b"")


async def start(app: Any) -> asyncio.Task[None]:
    """Run the app's lifespan startup; the task holds the app until the process ends."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await incoming.put({"type": "lifespan.startup"})
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, incoming.get, outgoing.put)
    )
    started = await outgoing.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")
    return task


def create() -> tuple[Scope, bytes]:
    body = json.dumps({"name": f"Character {uuid.uuid4().hex[:12]}", "description": "Measured."}).encode()
    headers = (
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"idempotency-key", uuid.uuid4().hex.encode()),
    )
    return request_scope("/v2/characters", "POST", headers=headers), body


def prepare_database() -> None:
    """A new embedded PostgreSQL with Character Management migrated (before the event loop starts:
    Alembic runs its own)."""
    from alembic import command

    from fountain_cli import registry
    from fountain_common.embedded_postgres import embedded_url
    from fountain_common.migrations import alembic_config

    url = embedded_url(Path(tempfile.mkdtemp(prefix="fountain-in-process-")), "bench")
    command.upgrade(alembic_config(registry.load_service("character"), url), "head")
    os.environ["FOUNTAIN_DATABASE_URL"] = url


async def measure(rounds: int, requests: int, seed: int) -> dict[str, list[float]]:
    from fountain_cli import registry
    from fountain_common.app import create_service_app
    from fountain_common.observability import configure_logging
    from fountain_common.settings import get_settings

    configure_logging("WARNING", "console")
    app = create_service_app(registry.load_service("character"), settings=get_settings())
    lifespan = await start(app)
    ids = []
    for _ in range(seed):
        status, body = await call(app, *create())
        if status != 201:
            raise RuntimeError(f"seeding failed: {status} {body[:200]!r}")
        ids.append(json.loads(body)["characterId"])
    kinds: dict[str, Callable[[], tuple[Scope, bytes]]] = {
        "create (POST, Idempotency-Key)": create,
        "list page of 50 (GET)": lambda: (request_scope("/v2/characters", query=b"limit=50&offset=100"), b""),
        "read by id (GET)": lambda: (request_scope(f"/v2/characters/{random.choice(ids)}"), b""),
    }
    cpu: dict[str, list[float]] = {kind: [] for kind in kinds}
    for number in range(1, rounds + 1):
        for kind, make in kinds.items():
            prepared = [make() for _ in range(requests)]
            began = time.process_time()
            for scope, body in prepared:
                status, answer = await call(app, scope, body)
                if status not in (200, 201):
                    raise RuntimeError(f"{kind}: {status} {answer[:200]!r}")
            cpu[kind].append((time.process_time() - began) / requests * 1e6)
        print(f"[round {number}/{rounds}] " + ", ".join(f"{k}: {v[-1]:.0f} µs" for k, v in cpu.items()), flush=True)
    lifespan.cancel()
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description="CPU per request of Character Management's app in one process (no HTTP): for comparing versions.",
        epilog="example: .venv/bin/python bench/in_process.py --rounds 7  (run it in each checkout to compare)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind (default: 5)")
    parser.add_argument("--requests", type=int, default=300, help="requests of each kind per round (default: 300)")
    parser.add_argument("--seed", type=int, default=300, help="characters created first (default: 300)")
    parser.add_argument(
        "--as-account",
        action="store_true",
        help="requests come from a writer account, as through the gateway (identity and ownership checked)",
    )
    args = parser.parse_args()
    if args.as_account:
        global IDENTITY
        os.environ["FOUNTAIN_GATEWAY_SECRET"] = GATEWAY_SECRET
        IDENTITY = (
            (b"x-fountain-gateway", GATEWAY_SECRET.encode()),
            (b"x-consumer-id", b"id-of-bench"),
            (b"x-consumer-username", b"bench"),
            (b"x-credential-identifier", b"key-of-bench"),
            (b"x-consumer-groups", b"writer"),
        )
    prepare_database()
    cpu = asyncio.run(measure(args.rounds, args.requests, args.seed))
    print("\nCPU per request of this process, median of the rounds:")
    for kind, values in cpu.items():
        print(f"  {kind:32s} {statistics.median(values):8.1f} µs   (rounds: {min(values):.0f} to {max(values):.0f})")
    # The embedded PostgreSQL stops with this process (pgserver's cleanup at exit).
    os._exit(0)


if __name__ == "__main__":
    main()
