"""The least a Python service can do to answer `GET /v2/characters/{id}`: FastAPI, one asyncpg pool,
one prepared SELECT, a JSON body and an ETag. bench/read_path.py measures Character Management
against it, so the gap between the two is what the service's own layers cost.

It reads the same table (character.characters) of the same database and answers the same fields in
the same JSON form (characterId, name, description, revision, createdAt, updatedAt; timestamps in
ISO 8601 with `Z` for UTC, as pydantic writes them) and the same strong ETag, the row's revision.
A missing row is a 404 with a one-line problem+json. One round trip to PostgreSQL per request, as
the service makes: the pool does not send asyncpg's reset query when a connection is released.

Configuration, from the environment (bench/read_path.py sets it):
  MINIMAL_DATABASE_URL  postgresql://... (asyncpg's DSN; a `+asyncpg` driver suffix is dropped)
  MINIMAL_POOL_SIZE     connections in the pool, opened at start-up (default 20, the service's default)

Run: MINIMAL_DATABASE_URL=... python bench/minimal_read_app.py --port 8199
It runs under uvicorn with the settings `fountain serve <service>` uses: one worker, no access log,
no logging configuration, uvicorn's default loop and HTTP implementation.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse

# The columns and table the service reads; `character` is quoted because it is a keyword.
SELECT = 'SELECT id, name, description, revision, created_at, updated_at FROM "character".characters WHERE id = $1'


def database_url() -> str:
    url = os.environ["MINIMAL_DATABASE_URL"]
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def timestamp(value: datetime) -> str:
    # asyncpg answers timestamptz in UTC; pydantic writes UTC as `Z`.
    return value.isoformat().replace("+00:00", "Z")


async def keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to reset: this app changes no session state. asyncpg's default reset sends
    `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release, a second
    round trip per request that the service (SQLAlchemy, an autocommit connection, nothing to roll
    back) does not make. asyncpg still rolls back a transaction left open before this is called."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    size = int(os.environ.get("MINIMAL_POOL_SIZE", "20"))
    pool = await asyncpg.create_pool(database_url(), min_size=size, max_size=size, reset=keep_session)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/v2/characters/{character_id}")
async def get_character(character_id: int) -> JSONResponse:
    pool: asyncpg.Pool = app.state.pool
    async with pool.acquire() as conn:
        # asyncpg prepares the statement on each connection's first use and keeps it in that
        # connection's statement cache: every later call runs the prepared statement.
        row = await conn.fetchrow(SELECT, character_id)
    if row is None:
        return JSONResponse(
            {"title": "Not Found", "status": 404, "detail": f"Character {character_id} not found."},
            status_code=404,
            media_type="application/problem+json",
        )
    body = {
        "characterId": row["id"],
        "name": row["name"],
        "description": row["description"],
        "revision": row["revision"],
        "createdAt": timestamp(row["created_at"]),
        "updatedAt": timestamp(row["updated_at"]),
    }
    return JSONResponse(body, headers={"etag": f'"{row["revision"]}"'})


@app.get("/ready")
async def ready() -> dict[str, str]:
    async with app.state.pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return {"status": "ready"}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Minimal FastAPI + asyncpg reader of one character.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8199)
    args = parser.parse_args()
    # The same uvicorn settings as `fountain serve <service>` (fountain_cli/main.py).
    uvicorn.run(app, host=args.host, port=args.port, workers=1, access_log=False, log_config=None)


if __name__ == "__main__":
    main()
