"""Offset pagination with totals, the shape of every /v2 list: {items, total, limit, offset}."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    total: int
    limit: int
    offset: int


async def fetch_page(conn: AsyncConnection, query: Select[Any], *, limit: int, offset: int) -> Page:
    """Run `query` (already ordered) for one page, and count all its rows: by a second query only when
    the page does not tell. A page with rows but fewer than `limit` is the last one, so the total is
    `offset` plus its rows (a list read whole, as an id list usually is, costs one query)."""
    rows = list((await conn.execute(query.limit(limit).offset(offset))).mappings())
    if 0 < len(rows) < limit or (offset == 0 and not rows and limit > 0):
        return Page(rows=rows, total=offset + len(rows), limit=limit, offset=offset)
    total = (await conn.execute(select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one()
    return Page(rows=rows, total=total, limit=limit, offset=offset)
