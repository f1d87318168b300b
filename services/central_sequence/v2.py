"""Central Sequence /v2: elements numbered within scopes, with ETags, moves, deletes, reorders and
versions, pages and Idempotency-Key; the numbering rules are store.py's."""

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
    ElementBatch,
    ElementCreate,
    ElementList,
    ElementMove,
    ElementPage,
    Reorder,
    ScopePage,
    ScopeSummary,
    Version,
    VersionCreate,
    VersionPage,
)
from .store import ElementKey


def _element(scope: str, row: RowMapping) -> Element:
    return Element(
        scope=scope,
        elementType=row["element_type"],
        elementId=row["element_id"],
        sequenceNumber=row["sequence_number"],
        version=row["version"],
        createdAt=row["created_at"],
        updatedAt=row["updated_at"],
    )


def _version(scope: str, key: ElementKey, row: RowMapping) -> Version:
    return Version(
        scope=scope,
        elementType=key.element_type,
        elementId=key.element_id,
        version=row["version"],
        data=row["data"],
        createdAt=row["created_at"],
    )


def _element_url(scope: str, key: ElementKey) -> str:
    return f"/v2/scopes/{scope}/elements/{key.element_type}/{key.element_id}"


class CentralSequenceV2(Operations):
    # --- scopes ------------------------------------------------------------------------------------
    async def list_scopes(self, conn: AsyncConnection, *, limit: int, offset: int) -> ScopePage:
        page = await fetch_page(conn, store.scopes_query(), limit=limit, offset=offset)
        items = [ScopeSummary(scope=r["scope"], elements=r["elements"]) for r in page.rows]
        return ScopePage(items=items, total=page.total, limit=limit, offset=offset)

    async def delete_scope(self, conn: AsyncConnection, *, scope: str) -> None:
        await store.delete_scope(conn, scope)

    # --- elements ----------------------------------------------------------------------------------
    async def create_element(self, conn: AsyncConnection, *, scope: str, body: ElementCreate) -> Reply[Element]:
        key = ElementKey(body.elementType, body.elementId)
        row = await store.insert_element(conn, scope, key, body.sequenceNumber)
        return Reply(_element(scope, row), location=_element_url(scope, key), etag=etag(row))

    async def append_elements(self, conn: AsyncConnection, *, scope: str, body: ElementBatch) -> Reply[ElementList]:
        keys = [ElementKey(e.elementType, e.elementId) for e in body.elements]
        rows = await store.append_elements(conn, scope, keys)
        return Reply(ElementList(items=[_element(scope, r) for r in rows]))

    async def list_elements(
        self,
        conn: AsyncConnection,
        *,
        scope: str,
        element_type: Optional[str],
        from_sequence: Optional[int],
        to_sequence: Optional[int],
        limit: int,
        offset: int,
    ) -> ElementPage:
        if from_sequence is not None and to_sequence is not None and from_sequence > to_sequence:
            raise invalid(f"fromSequence {from_sequence} is greater than toSequence {to_sequence}.")
        query = store.list_query(scope, element_type, from_sequence, to_sequence)
        page = await fetch_page(conn, query, limit=limit, offset=offset)
        items = [_element(scope, r) for r in page.rows]
        return ElementPage(items=items, total=page.total, limit=limit, offset=offset)

    async def get_element(
        self, conn: AsyncConnection, *, scope: str, element_type: str, element_id: int
    ) -> Reply[Element]:
        row = await store.get(conn, scope, ElementKey(element_type, element_id))
        return Reply(_element(scope, row), etag=etag(row))

    async def delete_element(
        self, conn: AsyncConnection, *, scope: str, element_type: str, element_id: int, if_match: Optional[str]
    ) -> None:
        await store.delete_element(conn, scope, ElementKey(element_type, element_id), if_match)

    async def move_element(
        self,
        conn: AsyncConnection,
        *,
        scope: str,
        element_type: str,
        element_id: int,
        if_match: Optional[str],
        body: ElementMove,
    ) -> Reply[Element]:
        key = ElementKey(element_type, element_id)
        row = await store.move_element(conn, scope, key, body.sequenceNumber, if_match)
        return Reply(_element(scope, row), etag=etag(row))

    async def apply_reorder(self, conn: AsyncConnection, *, scope: str, body: Reorder) -> ElementList:
        pairs = ((ElementKey(e.elementType, e.elementId), e.sequenceNumber) for e in body.elements)
        rows = await store.reorder(conn, scope, store.assignments(pairs))
        return ElementList(items=[_element(scope, r) for r in rows])

    # --- versions ----------------------------------------------------------------------------------
    async def list_element_versions(
        self, conn: AsyncConnection, *, scope: str, element_type: str, element_id: int, limit: int, offset: int
    ) -> VersionPage:
        key = ElementKey(element_type, element_id)
        element = await store.get(conn, scope, key)
        page = await store.list_versions(conn, element, limit=limit, offset=offset)
        items = [_version(scope, key, r) for r in page.rows]
        return VersionPage(items=items, total=page.total, limit=limit, offset=offset)

    async def create_element_version(
        self,
        conn: AsyncConnection,
        *,
        scope: str,
        element_type: str,
        element_id: int,
        if_match: Optional[str],
        body: VersionCreate,
    ) -> Reply[Version]:
        key = ElementKey(element_type, element_id)
        element, version = await store.append_version(conn, scope, key, body.data, if_match)
        location = f"{_element_url(scope, key)}/versions/{version['version']}"
        return Reply(_version(scope, key, version), location=location, etag=etag(element))

    async def get_element_version(
        self, conn: AsyncConnection, *, scope: str, element_type: str, element_id: int, version: int
    ) -> Version:
        key = ElementKey(element_type, element_id)
        element = await store.get(conn, scope, key)
        return _version(scope, key, await store.get_version(conn, element, version))
