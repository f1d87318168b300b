"""`fountain serve` and `make run` as an operator meets them: a busy port is reported before anything
starts, with how to pick another; logs are console lines on a terminal and JSON otherwise;
`fountain --version`."""

import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fountain_cli import accounts
from fountain_cli.main import app
from fountain_cli.ports import busy_port_message
from fountain_common.service import REPO_ROOT
from tests.service_processes import free_port


@contextmanager
def port_taken() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def _environment_without_database(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FOUNTAIN_DATABASE_URL", "GATEWAY_CONSUMERS", "FOUNTAIN_GATEWAY_SECRET")
    }
    return {**env, "FOUNTAIN_DATA_DIR": str(data_dir), "FOUNTAIN_ACCOUNTS_FILE": str(data_dir.parent / "accounts.json")}


def _serve(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fountain_cli.main", "serve", *args],
        env=_environment_without_database(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_refuses_to_start_when_no_key_could_call_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "embedded-postgres"
    result = _serve("--port", str(free_port()), data_dir=data_dir)
    assert result.returncode == 2
    assert "No account has an active API key" in result.stderr
    assert "fountain accounts add NAME --role writer" in result.stderr and "--no-auth" in result.stderr
    assert not data_dir.exists(), "the embedded PostgreSQL was started for a server that cannot be called"


def test_serve_refuses_to_start_with_a_broken_token_signing_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "embedded-postgres"
    (tmp_path / "token-signing-key.pem").write_text("-----BEGIN PRIVATE KEY-----\nbroken\n")
    accounts.add_account(tmp_path / "accounts.json", "alice", "writer")
    result = _serve("--port", str(free_port()), data_dir=data_dir)
    assert result.returncode == 2
    assert "token-signing-key.pem is not an unencrypted PEM private key" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data_dir.exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_no_auth_is_refused_off_loopback(tmp_path: Path, host: str) -> None:
    data_dir = tmp_path / "embedded-postgres"
    result = _serve("--no-auth", "--host", host, "--port", str(free_port()), data_dir=data_dir)
    assert result.returncode == 2
    assert f"only on this machine: --host 127.0.0.1, ::1 or localhost, not {host}" in result.stderr
    assert not data_dir.exists()


def test_behind_the_gateway_needs_the_gateways_secret(tmp_path: Path) -> None:
    data_dir = tmp_path / "embedded-postgres"
    result = _serve("central_sequence", "--behind-gateway", "--port", str(free_port()), data_dir=data_dir)
    assert result.returncode == 2
    assert "FOUNTAIN_GATEWAY_SECRET" in result.stderr and "fountain gateway new-key" in result.stderr
    assert not data_dir.exists()


def test_a_malformed_gateway_consumers_is_reported(tmp_path: Path) -> None:
    data_dir = tmp_path / "embedded-postgres"
    result = subprocess.run(
        [sys.executable, "-m", "fountain_cli.main", "serve", "--port", str(free_port())],
        env={**_environment_without_database(data_dir), "GATEWAY_CONSUMERS": "ci:owner:" + "k" * 43},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "role 'owner' must be one of reader, writer, admin" in result.stderr


def test_a_key_for_calls_between_services_that_nobody_has_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "embedded-postgres"
    env = {
        **_environment_without_database(data_dir),
        "GATEWAY_CONSUMERS": "ci:writer:" + "k" * 43,
        "FOUNTAIN_GATEWAY_API_KEY": "u" * 43,
    }
    result = subprocess.run(
        [sys.executable, "-m", "fountain_cli.main", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert (
        "FOUNTAIN_GATEWAY_API_KEY" in result.stderr and "no account or GATEWAY_CONSUMERS entry has it" in result.stderr
    )
    assert not data_dir.exists()


def test_busy_port_is_reported_before_the_database_starts(tmp_path: Path) -> None:
    data_dir = tmp_path / "embedded-postgres"
    with port_taken() as port:
        result = subprocess.run(
            [sys.executable, "-m", "fountain_cli.main", "serve", "--no-auth", "--port", str(port)],
            env=_environment_without_database(data_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    suggested = re.search(r"make run PORT=(\d+)  or  fountain serve --port (\d+)", result.stderr)
    assert suggested and suggested[1] == suggested[2] and int(suggested[1]) != port
    assert not data_dir.exists(), "the embedded PostgreSQL was started for a server that cannot listen"


def test_make_run_passes_PORT_to_fountain_serve(tmp_path: Path) -> None:
    with port_taken() as port:
        result = subprocess.run(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=REPO_ROOT,
            env=_environment_without_database(tmp_path / "embedded-postgres"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr


def test_one_service_on_a_busy_port_names_its_own_command() -> None:
    with port_taken() as port:
        message = busy_port_message("127.0.0.1", port, "character")
    assert message is not None and "fountain serve character --port " in message
    with port_taken() as port:
        pass
    assert busy_port_message("127.0.0.1", port) is None


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert (result.exit_code, result.output) == (0, f"fountain {version('fountainai')}\n")


@contextmanager
def _one_service(database_url: str, stderr: int) -> Iterator[str]:
    """Central Sequence alone, its logs written to `stderr`; yields its URL once it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "FOUNTAIN_LOG_FORMAT"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fountain_cli.main",
            "serve",
            "central_sequence",
            "--no-auth",
            "--port",
            str(port),
            "--no-migrate",
        ],
        env={**env, "FOUNTAIN_DATABASE_URL": database_url, "FOUNTAIN_LOG_LEVEL": "INFO"},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                httpx.get(url + "/ready", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert process.poll() is None, "the service did not start"
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _read_until(fd: int, marker: bytes) -> bytes:
    seen = b""
    deadline = time.monotonic() + 30
    while marker not in seen and time.monotonic() < deadline:
        if select.select([fd], [], [], 1)[0]:
            seen += os.read(fd, 65536)
    return seen


def test_logs_are_console_lines_on_a_terminal_and_json_otherwise(database_url: str, tmp_path: Path) -> None:
    terminal, terminal_end = pty.openpty()
    try:
        with _one_service(database_url, stderr=terminal_end) as url:
            os.close(terminal_end)
            httpx.get(url + "/health", headers={"X-Request-ID": "on-a-terminal"})
            shown = _read_until(terminal, b"on-a-terminal").decode(errors="replace")
    finally:
        os.close(terminal)
    line = re.sub(r"\x1b\[[0-9;]*m", "", next(line for line in shown.splitlines() if "on-a-terminal" in line))
    assert "request" in line and "path=/health" in line
    assert not line.lstrip().startswith("{")

    log_file = tmp_path / "service.log"
    with log_file.open("wb") as written, _one_service(database_url, stderr=written.fileno()) as url:
        httpx.get(url + "/health", headers={"X-Request-ID": "to-a-file"})
        deadline = time.monotonic() + 30
        while b"to-a-file" not in log_file.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
    records = [json.loads(line) for line in log_file.read_text().splitlines() if "to-a-file" in line]
    assert records and records[0]["event"] == "request" and records[0]["path"] == "/health"
