"""A Core Script process killed in the middle of creating a script, with the services in separate
processes: the retry with the same Idempotency-Key makes the script the first attempt numbered, and a
create that is never retried has what it left in the Central Sequence Service swept away."""

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.service_processes import NO_AUTH, free_port, serve, serve_processes

pytestmark = pytest.mark.slow

SCOPE_OPENED = re.compile(r"^/v2/scopes/script-(\d+)/elements$")


class KillingProxy:
    """Forwards every call to the Central Sequence Service; once armed, kills `victim` right after
    the Central Sequence Service opened a script's scope (the create's last call before its commit),
    so the caller never hears the answer."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.victim: subprocess.Popen[bytes] | None = None
        self.killed_in: list[int] = []  # the script ids whose creates were killed
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def running(self) -> Iterator["KillingProxy"]:
        proxy = self

        class Forward(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = httpx.request(self.command, proxy.target + self.path, content=body, headers=headers)
                scope = SCOPE_OPENED.match(self.path)
                if self.command == "POST" and scope and proxy.victim is not None and answer.status_code < 300:
                    proxy.victim.send_signal(signal.SIGKILL)
                    proxy.victim.wait()
                    proxy.victim = None
                    proxy.killed_in.append(int(scope.group(1)))
                    return
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Forward)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def central_sequence(database_url: str) -> Iterator[str]:
    with serve(["central_sequence"], database_url) as (url,):
        yield url


def scripts_numbered(central_sequence: str) -> int:
    """How many scripts the Central Sequence Service holds numbers for in its catalogue."""
    page = httpx.get(f"{central_sequence}/v2/scopes/default/elements", params={"elementType": "script", "limit": 1})
    total: int = page.json()["total"]
    return total


def scope_of(central_sequence: str, script_id: int) -> list[tuple[str, int, int]]:
    page = httpx.get(f"{central_sequence}/v2/scopes/script-{script_id}/elements")
    if page.status_code == 404:
        return []
    return [(e["elementType"], e["elementId"], e["sequenceNumber"]) for e in page.json()["items"]]


def create_killed(database_url: str, proxy: KillingProxy, body: dict[str, str], key: str | None) -> None:
    """POST /v2/scripts to a Core Script process that is killed before it commits."""
    env = {"FOUNTAIN_CENTRAL_SEQUENCE_URL": proxy.url}
    with serve_processes(["core_script", *NO_AUTH], database_url, env=env) as [(url, process)]:
        proxy.victim = process
        headers = {"Idempotency-Key": key} if key else {}
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{url}/v2/scripts", json=body, headers=headers, timeout=60)
        assert process.wait(timeout=30) == -signal.SIGKILL


def test_a_create_killed_before_its_commit_and_retried_takes_one_number(
    database_url: str, central_sequence: str
) -> None:
    body = {"title": "Killed once", "author": "A"}
    before = scripts_numbered(central_sequence)
    with KillingProxy(central_sequence).running() as proxy:
        create_killed(database_url, proxy, body, key="create-killed-1")
        [first_id] = proxy.killed_in
        env = {"FOUNTAIN_CENTRAL_SEQUENCE_URL": proxy.url}
        with serve_processes(["core_script", *NO_AUTH], database_url, env=env) as [(url, _)]:
            retried = httpx.post(f"{url}/v2/scripts", json=body, headers={"Idempotency-Key": "create-killed-1"})
            assert retried.status_code == 201, retried.text
            script = retried.json()
            assert script["scriptId"] == first_id  # the id the killed attempt numbered
            again = httpx.post(f"{url}/v2/scripts", json=body, headers={"Idempotency-Key": "create-killed-1"})
            assert again.json() == script
    assert scripts_numbered(central_sequence) == before + 1
    numbered = httpx.get(f"{central_sequence}/v2/scopes/default/elements/script/{first_id}").json()
    assert numbered["sequenceNumber"] == script["sequenceNumber"]
    assert scope_of(central_sequence, first_id) == [("script", first_id, 1)]


async def test_a_killed_create_never_retried_is_swept_after_the_idempotency_ttl(
    database_url: str, central_sequence: str, engine: AsyncEngine
) -> None:
    with KillingProxy(central_sequence).running() as proxy:
        create_killed(database_url, proxy, {"title": "Killed for good", "author": "A"}, key=None)
        [abandoned] = proxy.killed_in
    assert scope_of(central_sequence, abandoned) == [("script", abandoned, 1)]
    env = {**os.environ, "FOUNTAIN_DATABASE_URL": database_url, "FOUNTAIN_CENTRAL_SEQUENCE_URL": central_sequence}
    sweep = [sys.executable, "-m", "fountain_cli.main", "sweep", "core_script"]

    young = subprocess.run(sweep, env=env, capture_output=True, text=True, timeout=120)
    assert young.returncode == 0, young.stderr
    assert scope_of(central_sequence, abandoned) == [("script", abandoned, 1)]  # may still be retried

    async with engine.begin() as conn:  # as it stands a day later
        await conn.execute(
            text("UPDATE core_script.script_reservations SET attempted_at = now() - interval '25 hours'")
        )
    swept = subprocess.run(sweep, env=env, capture_output=True, text=True, timeout=120)
    assert swept.returncode == 0, swept.stderr
    assert f"script {abandoned}" in swept.stdout
    assert scope_of(central_sequence, abandoned) == []
    async with engine.connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM core_script.script_reservations"))).scalar_one()
    assert left == 0
