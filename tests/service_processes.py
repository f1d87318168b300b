"""Real service processes for tests that need them: `fountain serve` on free local ports.

They check no API key (--no-auth, on loopback) unless a test passes `auth=[]` and gives keys in `env`:
tests/test_serve.py checks the keys of `fountain serve` itself."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

NO_AUTH = ["--no-auth"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    args: list[str],
    database_url: str,
    *,
    count: int = 1,
    ready_path: str = "/ready",
    host_header: str | None = None,
    auth: list[str] = NO_AUTH,
    env: dict[str, str] | None = None,
) -> Iterator[list[str]]:
    """Start `count` processes of `fountain serve ARGS --port P`; yields their base URLs."""
    with serve_processes(
        [*args, *auth], database_url, count=count, ready_path=ready_path, host_header=host_header, env=env
    ) as started:
        yield [url for url, _ in started]


@contextmanager
def serve_processes(
    args: list[str],
    database_url: str,
    *,
    count: int = 1,
    ready_path: str = "/ready",
    host_header: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """As `serve` (ARGS as given: add --no-auth or keys), with more environment (`env`); yields each
    process with its base URL, for a test that kills one."""
    env = {**os.environ, "FOUNTAIN_DATABASE_URL": database_url, "FOUNTAIN_LOG_LEVEL": "WARNING", **(env or {})}
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "fountain_cli.main", "serve", *args, "--port", str(port), "--no-migrate"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        headers = {"Host": host_header} if host_header else {}
        for url, process in zip(urls, processes, strict=True):
            _wait_ready(url + ready_path, process, headers)
        yield list(zip(urls, processes, strict=True))
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(url: str, process: subprocess.Popen[bytes], headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"service process exited with {process.returncode}:\n{error}")
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become ready within 60 s")


@contextmanager
def serve_each(
    each_args: list[list[str]],
    database_url: str,
    *,
    ready_path: str = "/ready",
    env_for: Callable[[list[str]], dict[str, str]] = lambda urls: {},
) -> Iterator[list[str]]:
    """Start one process of `fountain serve ARGS --port P` for each ARGS, all at once; `env_for` gets
    every process's URL (in that order) and answers more environment for all of them (where the
    others are). Yields their base URLs once every one is ready."""
    ports = [free_port() for _ in each_args]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    env = {**os.environ, "FOUNTAIN_DATABASE_URL": database_url, "FOUNTAIN_LOG_LEVEL": "WARNING", **env_for(urls)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "fountain_cli.main", "serve", *args, *NO_AUTH, "--port", str(port), "--no-migrate"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for args, port in zip(each_args, ports, strict=True)
    ]
    try:
        for url, process in zip(urls, processes, strict=True):
            _wait_ready(url + ready_path, process, {})
        yield urls
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
