"""Idempotency-Key for POST (IETF httpapi idempotency-key draft).

The key is claimed in the same transaction as the operation it guards, so a response is recorded
if and only if the operation committed. A concurrent retry with the same key waits on the claim and
then replays; the same key with a different request is 422; a key whose first attempt failed may be
used again. Keys are kept for `idempotency_ttl_hours`; each new key purges up to 100 expired ones.
Each caller has keys of its own (`caller_key`): the same key sent by two accounts is two requests,
and nobody is answered what another account's request got.
"""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, func, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.identity import current_caller
from fountain_common.problems import Problem


def idempotency_table(metadata: MetaData) -> Table:
    """The table a service needs for idempotency keys; each service's migrations create it in its schema."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("key", String(255), primary_key=True),
        Column("request_fingerprint", String(64), nullable=False),
        Column("response_status", Integer, nullable=False),
        Column("response_body", JSONB, nullable=False),
        Column("response_headers", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("idempotency_keys_created_at_idx", "created_at"),
        comment="Responses of POST requests sent with an Idempotency-Key, replayed to retries.",
    )


def fingerprint(
    method: str, path: str, body: BaseModel | Sequence[BaseModel] | str | None, precondition: str | None = None
) -> str:
    """What makes two requests the same request: method, path, body (a model, a list of them, or a
    text) and If-Match. A field sent as null and one left out differ (a null the operation refuses
    must not replay the answer to the body without it). A text body (decoded strictly from UTF-8, so
    one text is one byte string) counts by the hash of its raw bytes."""
    payload: Any = None
    nulls: list[str] = []
    if isinstance(body, str):
        payload = {"text/plain": hashlib.sha256(body.encode()).hexdigest()}
    elif isinstance(body, BaseModel):
        payload = body.model_dump(mode="json")
        nulls = _sent_as_null(body)
    elif body is not None:
        payload = [item.model_dump(mode="json") for item in body]
        nulls = [f"{index}.{path}" for index, item in enumerate(body) for path in _sent_as_null(item)]
    if nulls:
        # Only then: every other request keeps the fingerprint it had (stored keys outlive a deploy).
        payload = {"body": payload, "sent as null": nulls}
    canonical = json.dumps([method, path, payload, precondition], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _sent_as_null(model: BaseModel, prefix: str = "") -> list[str]:
    """The fields of `model` (nested ones by their path) the client sent as null: a model holds None
    for those and for the ones left out alike."""
    found = []
    for name in sorted(model.model_fields_set):
        value = getattr(model, name)
        if value is None:
            found.append(prefix + name)
        elif isinstance(value, BaseModel):
            found.extend(_sent_as_null(value, f"{prefix}{name}."))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found.extend(_sent_as_null(item, f"{prefix}{name}.{index}."))
    return found


def caller_key(key: str) -> str:
    """The stored form of a client's key: the key itself when no identity is checked, else a digest of
    the caller's name and the key (of a fixed length, so a key of any allowed length fits)."""
    caller = current_caller()
    if caller is None:
        return key
    return "caller:" + hashlib.sha256(f"{caller.username}\0{key}".encode()).hexdigest()


def _purge_expired(table: Table, key: str, ttl_hours: int) -> Any:
    """Delete `key` if it expired (so it counts as new), and up to 100 other expired keys, skipping
    any another transaction holds, so purging never waits and the table does not grow unbounded."""
    expired = table.c.created_at < func.now() - text(f"interval '{int(ttl_hours)} hours'")
    others = select(table.c.key).where(expired).limit(100).with_for_update(skip_locked=True)
    return table.delete().where(expired, or_(table.c.key == key, table.c.key.in_(others.scalar_subquery())))


async def claim(
    conn: AsyncConnection, table: Table, *, key: str, request_fingerprint: str, ttl_hours: int = 24
) -> tuple[int, Any, dict[str, str]] | None:
    """Claim `key` inside the transaction that does the work: None when it is new (the caller runs the
    operation, then `record`s its reply); the stored (status, body, headers) when it was used before
    by the same request; 422 when it was used by a different one."""
    await conn.execute(_purge_expired(table, key, ttl_hours))
    claimed = (
        await conn.execute(
            insert(table)
            .values(
                key=key,
                request_fingerprint=request_fingerprint,
                response_status=0,
                response_body={},
                response_headers={},
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(table.c.key)
        )
    ).first()
    if claimed is not None:
        return None
    stored = (await conn.execute(table.select().where(table.c.key == key))).mappings().one()
    if stored["request_fingerprint"] != request_fingerprint:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused",
            "This Idempotency-Key was already used with a different request.",
        )
    return stored["response_status"], stored["response_body"], dict(stored["response_headers"])


async def record(
    conn: AsyncConnection, table: Table, key: str, status: int, body: Any, headers: dict[str, str]
) -> None:
    """Store the reply to the request that claimed `key`, in the same transaction."""
    await conn.execute(
        table.update()
        .where(table.c.key == key)
        .values(response_status=status, response_body=body, response_headers=headers)
    )
