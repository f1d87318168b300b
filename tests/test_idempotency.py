"""Idempotency keys (fountain_common/idempotency.py) on their own table in the test database: what
makes two requests the same, a claim that replays, refuses or lets the operation run, and expiry."""

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import BaseModel
from sqlalchemy import MetaData, Table, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.idempotency import claim, fingerprint, idempotency_table, record
from fountain_common.problems import Problem

SCHEMA = "idempotency_test"


class Body(BaseModel):
    title: str
    count: int = 1


class Dated(BaseModel):
    at: datetime
    data: dict[str, str] = {}


def test_a_fingerprint_covers_method_path_body_and_precondition() -> None:
    base = fingerprint("POST", "/v2/scripts", Body(title="Hamlet"), '"1"')
    assert len(base) == 64 and int(base, 16) >= 0  # a SHA-256 in hex
    assert fingerprint("POST", "/v2/scripts", Body(title="Hamlet"), '"1"') == base
    others = [
        fingerprint("PUT", "/v2/scripts", Body(title="Hamlet"), '"1"'),
        fingerprint("POST", "/v2/scripts/1", Body(title="Hamlet"), '"1"'),
        fingerprint("POST", "/v2/scripts", Body(title="Macbeth"), '"1"'),
        fingerprint("POST", "/v2/scripts", Body(title="Hamlet", count=2), '"1"'),
        fingerprint("POST", "/v2/scripts", Body(title="Hamlet"), '"2"'),
        fingerprint("POST", "/v2/scripts", Body(title="Hamlet")),
        fingerprint("POST", "/v2/scripts", None, '"1"'),
    ]
    assert len({base, *others}) == 1 + len(others)
    assert fingerprint("POST", "/x", None) == fingerprint("POST", "/x", None, None)


class Note(BaseModel):
    title: str
    note: str | None = None
    inner: "Note | None" = None


def test_a_field_sent_as_null_is_another_request_than_one_left_out() -> None:
    """A POST whose null the operation refuses must not replay the answer to the same body without it."""
    left_out = fingerprint("POST", "/x", Note.model_validate({"title": "a"}))
    as_null = fingerprint("POST", "/x", Note.model_validate({"title": "a", "note": None}))
    nested = fingerprint("POST", "/x", Note.model_validate({"title": "a", "inner": {"title": "b", "note": None}}))
    nested_left_out = fingerprint("POST", "/x", Note.model_validate({"title": "a", "inner": {"title": "b"}}))
    in_a_list = fingerprint("POST", "/x", [Note.model_validate({"title": "a", "note": None})])
    assert len({left_out, as_null, nested, nested_left_out, in_a_list}) == 5
    assert left_out == fingerprint("POST", "/x", Note(title="a"))


def test_a_fingerprint_keeps_its_canonical_form() -> None:
    """Stored keys outlive a deploy: the same request must keep its fingerprint from one release to the next."""
    canonical = '["POST","/v2/scripts",{"count":1,"title":"Hamlet"},"\\"1\\""]'
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert fingerprint("POST", "/v2/scripts", Body(title="Hamlet"), '"1"') == expected


def test_a_body_is_compared_as_json_whatever_its_types_and_key_order() -> None:
    at = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    one = fingerprint("POST", "/x", Dated(at=at, data={"mood": "calm", "place": "hall"}))
    assert fingerprint("POST", "/x", Dated(at=at, data={"place": "hall", "mood": "calm"})) == one
    assert fingerprint("POST", "/x", Dated(at=at, data={"place": "hall"})) != one


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    keys = idempotency_table(MetaData(schema=SCHEMA))
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(keys.metadata.create_all)
    yield keys
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))


async def described(engine: AsyncEngine, schema: str) -> dict[str, object]:
    """The idempotency_keys table of `schema` as PostgreSQL holds it."""

    def read(sync: object) -> dict[str, object]:
        found = inspect(sync)
        return {
            "columns": [
                (c["name"], repr(c["type"]), c["nullable"], c["default"])
                for c in found.get_columns("idempotency_keys", schema=schema)
            ],
            "primary key": found.get_pk_constraint("idempotency_keys", schema=schema)["constrained_columns"],
            "indexes": [(i["name"], i["column_names"]) for i in found.get_indexes("idempotency_keys", schema=schema)],
            "comment": found.get_table_comment("idempotency_keys", schema=schema)["text"],
        }

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def test_the_declared_table_is_the_one_the_services_migrations_create(engine: AsyncEngine, table: Table) -> None:
    declared = await described(engine, SCHEMA)
    for service in ("central_sequence", "character", "core_script", "session_context", "story_factory"):
        assert await described(engine, service) == declared, service
    assert declared["primary key"] == ["key"]

    def differences(sync: Any) -> list[Any]:  # what `alembic check` would report between the two
        context = MigrationContext.configure(
            sync,
            opts={
                "include_schemas": True,
                "include_name": lambda name, kind, _: kind != "schema" or name == SCHEMA,
                "compare_server_default": True,
            },
        )
        return list(compare_metadata(context, table.metadata))

    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []
    assert ("created_at", "TIMESTAMP(timezone=True)", False, "now()") in declared["columns"]  # type: ignore[operator]


async def keys_held(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(f"SELECT key FROM {SCHEMA}.idempotency_keys ORDER BY key"))).scalars())


async def age(engine: AsyncEngine, minutes: int, *keys: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {SCHEMA}.idempotency_keys SET created_at = now() - make_interval(mins => :minutes) "
                 "WHERE key = ANY(:keys)"),
            {"minutes": minutes, "keys": list(keys)},
        )  # fmt: skip


async def test_a_new_key_is_claimed_and_its_reply_replayed(engine: AsyncEngine, table: Table) -> None:
    async with engine.begin() as conn:
        assert await claim(conn, table, key="k1", request_fingerprint="f1") is None
        await record(conn, table, "k1", 201, {"id": 7}, {"ETag": '"1"'})
    async with engine.begin() as conn:
        assert await claim(conn, table, key="k1", request_fingerprint="f1") == (201, {"id": 7}, {"ETag": '"1"'})
    async with engine.begin() as conn:  # another key is new, and recording it leaves k1's reply alone
        assert await claim(conn, table, key="k2", request_fingerprint="f1") is None
        await record(conn, table, "k2", 200, {"id": 8}, {})
    async with engine.begin() as conn:
        assert await claim(conn, table, key="k1", request_fingerprint="f1") == (201, {"id": 7}, {"ETag": '"1"'})
    assert await keys_held(engine) == ["k1", "k2"]


async def test_a_key_used_by_another_request_is_422(engine: AsyncEngine, table: Table) -> None:
    async with engine.begin() as conn:
        await claim(conn, table, key="k1", request_fingerprint="f1")
        await record(conn, table, "k1", 201, {}, {})
    async with engine.begin() as conn:
        with pytest.raises(Problem) as refused:
            await claim(conn, table, key="k1", request_fingerprint="f2")
    assert (refused.value.status, refused.value.kind) == (422, "idempotency-key-reused")
    assert refused.value.title == "Idempotency-Key reused"
    assert refused.value.detail == "This Idempotency-Key was already used with a different request."


async def test_a_key_whose_operation_rolled_back_can_be_used_again(engine: AsyncEngine, table: Table) -> None:
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            assert await claim(conn, table, key="k1", request_fingerprint="f1") is None
            raise RuntimeError("the operation failed")
    assert await keys_held(engine) == []
    async with engine.begin() as conn:
        assert await claim(conn, table, key="k1", request_fingerprint="f2") is None


async def test_expired_keys_count_as_new_and_are_purged(engine: AsyncEngine, table: Table) -> None:
    async with engine.begin() as conn:
        for key in ("old", "older", "fresh"):
            await claim(conn, table, key=key, request_fingerprint="f1")
            await record(conn, table, key, 201, {"key": key}, {})
    await age(engine, 24 * 60 + 30, "old", "older")  # kept 24 hours unless told otherwise
    await age(engine, 23 * 60 + 30, "fresh")
    async with engine.begin() as conn:  # expired: the same key with another request is new, not 422
        assert await claim(conn, table, key="old", request_fingerprint="f2") is None
    assert await keys_held(engine) == ["fresh", "old"]  # and the other expired key was purged
    async with engine.begin() as conn:  # within the time to live, replayed
        assert await claim(conn, table, key="fresh", request_fingerprint="f1") == (201, {"key": "fresh"}, {})


async def test_the_time_to_live_is_the_callers(engine: AsyncEngine, table: Table) -> None:
    async with engine.begin() as conn:
        for key in ("a", "b"):
            await claim(conn, table, key=key, request_fingerprint="f1")
    await age(engine, 3 * 60, "a")
    await age(engine, 60, "b")
    async with engine.begin() as conn:
        assert await claim(conn, table, key="a", request_fingerprint="f2", ttl_hours=2) is None
    assert await keys_held(engine) == ["a", "b"]  # b is younger than 2 hours: kept


async def test_a_purge_takes_at_most_100_expired_keys_at_once(engine: AsyncEngine, table: Table) -> None:
    await insert_expired(engine, 150)
    async with engine.begin() as conn:
        await claim(conn, table, key="new", request_fingerprint="f1")
    assert len(await keys_held(engine)) == 150 - 100 + 1


async def insert_expired(engine: AsyncEngine, count: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(f"INSERT INTO {SCHEMA}.idempotency_keys (key, request_fingerprint, response_status, "
                 "response_body, response_headers, created_at) SELECT 'x' || i, 'f', 201, '{}', '{}', "
                 "now() - interval '2 days' FROM generate_series(1, :count) AS i"),
            {"count": count},
        )  # fmt: skip


async def test_an_expired_key_is_new_even_among_more_expired_keys_than_one_purge_takes(
    engine: AsyncEngine, table: Table
) -> None:
    await insert_expired(engine, 300)  # 200 of them still there after the next claim's purge
    async with engine.begin() as conn:
        await claim(conn, table, key="mine", request_fingerprint="f1")
        await record(conn, table, "mine", 201, {}, {})
    await age(engine, 25 * 60, "mine")  # the most recently expired: the last a purge would pick
    async with engine.begin() as conn:
        assert await claim(conn, table, key="mine", request_fingerprint="f2") is None


async def test_a_purge_skips_expired_keys_another_transaction_holds(engine: AsyncEngine, table: Table) -> None:
    await insert_expired(engine, 3)
    async with engine.connect() as holder, holder.begin():
        await holder.execute(text(f"SELECT key FROM {SCHEMA}.idempotency_keys WHERE key = 'x2' FOR UPDATE"))
        async with engine.begin() as conn:
            # Waiting on the held key would fail this claim at once instead of passing it by.
            await conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
            assert await claim(conn, table, key="new", request_fingerprint="f1") is None
    assert await keys_held(engine) == ["new", "x2"]


async def test_a_retry_that_adds_a_null_is_not_replayed(client_for: Callable[[str], httpx.AsyncClient]) -> None:
    """The same key with a field now sent as null is another request (422), not the first one's 201:
    the null it carries would be refused."""
    scripts = client_for("core_script")
    key = {"Idempotency-Key": f"null-retry-{uuid.uuid4().hex}"}
    first = await scripts.post("/v2/scripts", json={"title": "Kept"}, headers=key)
    assert first.status_code == 201, first.text
    again = await scripts.post("/v2/scripts", json={"title": "Kept", "titlePage": None}, headers=key)
    assert again.status_code == 422, again.text
    assert again.json()["type"].endswith("idempotency-key-reused")
