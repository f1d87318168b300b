"""Central Sequence /v2: elements with ETags, moves, reorders and versions, pages and
Idempotency-Key; the numbering rules are store.py's."""

from typing import Optional

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.etags import etag
from fountain_common.pagination import fetch_page
from fountain_common.problems import invalid
from fountain_common.routes import Reply

from . import store
from .generated.api import Operations
from .generated.models import (
    Element,
    ElementCreate,
    ElementList,
    ElementMove,
    ElementPage,
    Reorder,
    Version,
    VersionCreate,
    VersionPage,
)
from .store import ElementKey


def _element(row: RowMapping) -> Element:
    return Element(
        elementType=row["element_type"],
        elementId=row["element_id"],
        sequenceNumber=row["sequence_number"],
        version=row["version"],
        createdAt=row["created_at"],
        updatedAt=row["updated_at"],
    )


def _version(key: ElementKey, row: RowMapping) -> Version:
    return Version(
        elementType=key.element_type,
        elementId=key.element_id,
        version=row["version"],
        data=row["data"],
        createdAt=row["created_at"],
    )


def _element_url(key: ElementKey) -> str:
    return f"/v2/elements/{key.element_type}/{key.element_id}"


class CentralSequenceV2(Operations):
    async def create_element(self, conn: AsyncConnection, *, body: ElementCreate) -> Reply[Element]:
        key = ElementKey(body.elementType, body.elementId)
        row = await store.insert_element(conn, key, body.sequenceNumber)
        return Reply(_element(row), location=_element_url(key), etag=etag(row))

    async def list_elements(
        self,
        conn: AsyncConnection,
        *,
        element_type: Optional[str],
        from_sequence: Optional[int],
        to_sequence: Optional[int],
        limit: int,
        offset: int,
    ) -> ElementPage:
        if from_sequence is not None and to_sequence is not None and from_sequence > to_sequence:
            raise invalid(f"fromSequence {from_sequence} is greater than toSequence {to_sequence}.")
        query = store.list_query(element_type, from_sequence, to_sequence)
        page = await fetch_page(conn, query, limit=limit, offset=offset)
        return ElementPage(items=[_element(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_element(self, conn: AsyncConnection, *, element_type: str, element_id: int) -> Reply[Element]:
        row = await store.get(conn, ElementKey(element_type, element_id))
        return Reply(_element(row), etag=etag(row))

    async def move_element(
        self,
        conn: AsyncConnection,
        *,
        element_type: str,
        element_id: int,
        if_match: Optional[str],
        body: ElementMove,
    ) -> Reply[Element]:
        row = await store.move_element(conn, ElementKey(element_type, element_id), body.sequenceNumber, if_match)
        return Reply(_element(row), etag=etag(row))

    async def list_element_versions(
        self, conn: AsyncConnection, *, element_type: str, element_id: int, limit: int, offset: int
    ) -> VersionPage:
        key = ElementKey(element_type, element_id)
        element = await store.get(conn, key)
        page = await store.list_versions(conn, element, limit=limit, offset=offset)
        return VersionPage(items=[_version(key, r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def create_element_version(
        self,
        conn: AsyncConnection,
        *,
        element_type: str,
        element_id: int,
        if_match: Optional[str],
        body: VersionCreate,
    ) -> Reply[Version]:
        key = ElementKey(element_type, element_id)
        element, version = await store.append_version(conn, key, body.data, if_match)
        location = f"{_element_url(key)}/versions/{version['version']}"
        return Reply(_version(key, version), location=location, etag=etag(element))

    async def get_element_version(
        self, conn: AsyncConnection, *, element_type: str, element_id: int, version: int
    ) -> Version:
        key = ElementKey(element_type, element_id)
        element = await store.get(conn, key)
        return _version(key, await store.get_version(conn, element, version))

    async def apply_reorder(self, conn: AsyncConnection, *, body: Reorder) -> ElementList:
        pairs = ((ElementKey(e.elementType, e.elementId), e.sequenceNumber) for e in body.elements)
        rows = await store.reorder(conn, store.assignments(pairs))
        return ElementList(items=[_element(r) for r in rows])
