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
    """Run `query` (already ordered) for one page, and count all its rows."""
    total = (await conn.execute(select(func.count()).select_from(query.order_by(None).subquery()))).scalar_one()
    rows = list((await conn.execute(query.limit(limit).offset(offset))).mappings())
    return Page(rows=rows, total=total, limit=limit, offset=offset)
