"""How long `fountain backup` and `fountain restore` take, on a database of some thousands of rows.

One run:
  1. starts an embedded PostgreSQL in a new temporary folder and migrates every service;
  2. seeds `--rows` characters (each with one paraphrase), user sessions and scripts (each numbered by
     the Central Sequence Service) through the services' own /v2 POSTs, served in-process as
     `fountain serve` serves them;
  3. times `fountain backup --output <tmp>` (a process of its own, as an operator runs it);
  4. times `fountain restore --input <tmp>` into a fresh database on the same server;
  5. checks that the restored database holds every row of the original (each table compared row by
     row) and prints the figures; stops the server and deletes the folder.

  .venv/bin/python bench/backup.py                 # 5,000 of each kind (about 2 minutes)
  .venv/bin/python bench/backup.py --rows 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from fountain_cli import registry
from fountain_cli.host_dispatch import HostDispatcher
from fountain_common.app import create_service_app
from fountain_common.embedded_postgres import embedded_url, stop_server
from fountain_common.migrations import alembic_config
from fountain_common.observability import configure_logging
from fountain_common.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FOUNTAIN = str(ROOT / ".venv" / "bin" / "fountain")
CONCURRENCY = 8


def gateway(settings: Settings, engine: AsyncEngine) -> httpx.AsyncClient:
    dispatcher = HostDispatcher({})
    transport = httpx.ASGITransport(app=dispatcher)
    for service in registry.all_services():
        dispatcher.apps[service.host] = create_service_app(
            service, settings=settings, engine=engine, upstream_transport=transport
        )
    return httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60)


async def seed(url: str, rows: int) -> None:
    engine = create_async_engine(url, pool_size=CONCURRENCY)
    hosts = {service.name: service.host for service in registry.all_services()}
    try:
        async with gateway(Settings(database_url=url), engine) as client:

            async def post(service: str, path: str, body: dict[str, object]) -> dict[str, object]:
                response = await client.post(path, json=body, headers={"host": hosts[service]})
                if response.status_code != 201:
                    raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")
                return dict(response.json())

            async def one(n: int) -> None:
                character = await post("character", "/v2/characters", {"name": f"C{n}", "description": f"#{n}"})
                await post(
                    "character",
                    f"/v2/characters/{character['characterId']}/paraphrases",
                    {"text": f"Paraphrase {n}", "commentary": "bench"},
                )
                await post("session_context", "/v2/sessions", {"userId": n + 1, "context": f"Session {n}"})
                await post("core_script", "/v2/scripts", {"title": f"Script {n}"})

            for start in range(0, rows, CONCURRENCY):
                await asyncio.gather(*(one(n) for n in range(start, min(rows, start + CONCURRENCY))))
                if (start // CONCURRENCY) % 100 == 0:
                    print(f"\r[setup] seeded {start + CONCURRENCY:,}/{rows:,} of each kind", end="", flush=True)
            print(flush=True)
    finally:
        await engine.dispose()


async def contents(url: str) -> dict[str, list[str]]:
    schemas = [service.schema for service in registry.all_services()]
    engine = create_async_engine(url, poolclass=NullPool)
    found: dict[str, list[str]] = {}
    try:
        async with engine.connect() as conn:
            tables = await conn.execute(
                text("SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(:s)"), {"s": schemas}
            )
            for schema, table in tables.all():
                rows = await conn.execute(text(f'SELECT to_jsonb(t)::text FROM "{schema}"."{table}" t'))
                found[f"{schema}.{table}"] = sorted(rows.scalars())
    finally:
        await engine.dispose()
    return found


def timed(*args: str, url: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [FOUNTAIN, *args], env={**os.environ, "FOUNTAIN_DATABASE_URL": url}, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    print(result.stdout, end="")
    if result.returncode != 0:
        raise RuntimeError(f"fountain {' '.join(args)} failed: {result.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5000, help="Characters, sessions and scripts to create.")
    args = parser.parse_args()
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="fountain-bench-backup-"))
    try:
        source = embedded_url(workdir, "fountain_bench")
        for service in registry.all_services():
            command.upgrade(alembic_config(service, source), "head")
        asyncio.run(seed(source, args.rows))
        original = asyncio.run(contents(source))
        total = sum(len(rows) for rows in original.values())
        folder = workdir / "backup"
        backup_s = timed("backup", "--output", str(folder), url=source)
        size = sum(path.stat().st_size for path in folder.iterdir())
        target = embedded_url(workdir, "fountain_restored")
        restore_s = timed("restore", "--input", str(folder), url=target)
        same = asyncio.run(contents(target)) == original
        print(
            f"\n{total:,} rows in {len(original)} tables; backup {size / 1e6:.1f} MB\n"
            f"fountain backup:  {backup_s:.1f} s (the whole command, process start included)\n"
            f"fountain restore: {restore_s:.1f} s into a fresh database\n"
            f"every row restored: {'yes' if same else 'NO'}"
        )
        return 0 if same else 1
    finally:
        stop_server(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
