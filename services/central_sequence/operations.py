"""The Central Sequence Service's operations: HTTP models in, numbering rules (sequencing.py) out."""

from typing import Optional

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.database import run_in_transaction
from fountain_common.etags import etag
from fountain_common.operations import RequestScope
from fountain_common.pagination import fetch_page
from fountain_common.problems import invalid

from . import sequencing
from .batching import numberer_for
from .generated.api import Operations
from .generated.models import (
    Element,
    ElementCreate,
    ElementList,
    ElementMove,
    ElementPage,
    Reorder,
    ReorderRequest,
    SequenceRequest,
    SequenceResponse,
    SuccessResponse,
    Version,
    VersionCreate,
    VersionPage,
    VersionRequest,
    VersionResponse,
)
from .sequencing import ElementKey


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


class CentralSequenceOperations(RequestScope, Operations):
    # --- v1 -------------------------------------------------------------------------------------
    async def generate_sequence_number(self, *, body: SequenceRequest) -> SequenceResponse:
        number, created = await numberer_for(self.engine).number(ElementKey(body.elementType, body.elementId))
        self.response.status_code = 201 if created else 200
        return SequenceResponse(sequenceNumber=number)

    async def reorder_elements(self, *, body: ReorderRequest) -> SuccessResponse:
        assignments = _assignments(
            [(ElementKey(body.elementType, item.elementId), item.newSequence) for item in body.elements]
        )
        await run_in_transaction(self.engine, lambda conn: sequencing.reorder(conn, assignments))
        return SuccessResponse(message="Reorder successful.")

    async def create_version(self, *, body: VersionRequest) -> VersionResponse:
        key = ElementKey(body.elementType, body.elementId)
        _, version = await run_in_transaction(
            self.engine, lambda conn: sequencing.append_version(conn, key, body.newVersionData)
        )
        self.response.status_code = 201
        return VersionResponse(versionNumber=version["version"])

    # --- v2 -------------------------------------------------------------------------------------
    async def create_element(self, *, idempotency_key: Optional[str], body: ElementCreate) -> Element:
        key = ElementKey(body.elementType, body.elementId)

        async def work(conn: AsyncConnection) -> Element:
            async def insert() -> Element:
                row = await sequencing.insert_element(conn, key, body.sequenceNumber)
                self.created(_element_url(key))
                self.response.headers["ETag"] = etag(row)
                return _element(row)

            return await self.idempotent(conn, idempotency_key, body, Element, insert)

        return await run_in_transaction(self.engine, work)

    async def list_elements(
        self,
        *,
        element_type: Optional[str],
        from_sequence: Optional[int],
        to_sequence: Optional[int],
        limit: int,
        offset: int,
    ) -> ElementPage:
        if from_sequence is not None and to_sequence is not None and from_sequence > to_sequence:
            raise invalid(f"fromSequence {from_sequence} is greater than toSequence {to_sequence}.")
        query = sequencing.list_query(element_type, from_sequence, to_sequence)
        async with self.engine.connect() as conn:
            page = await fetch_page(conn, query, limit=limit, offset=offset)
        return ElementPage(items=[_element(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_element(self, *, element_type: str, element_id: int) -> Element:
        async with self.engine.connect() as conn:
            row = await sequencing.get(conn, ElementKey(element_type, element_id))
        self.response.headers["ETag"] = etag(row)
        return _element(row)

    async def move_element(
        self,
        *,
        element_type: str,
        element_id: int,
        if_match: Optional[str],
        idempotency_key: Optional[str],
        body: ElementMove,
    ) -> Element:
        key = ElementKey(element_type, element_id)

        async def work(conn: AsyncConnection) -> Element:
            async def move() -> Element:
                row = await sequencing.move_element(conn, key, body.sequenceNumber, if_match)
                self.response.status_code = 200
                self.response.headers["ETag"] = etag(row)
                return _element(row)

            return await self.idempotent(conn, idempotency_key, body, Element, move)

        return await run_in_transaction(self.engine, work)

    async def list_element_versions(
        self, *, element_type: str, element_id: int, limit: int, offset: int
    ) -> VersionPage:
        key = ElementKey(element_type, element_id)
        async with self.engine.connect() as conn:
            element = await sequencing.get(conn, key)
            page = await sequencing.list_versions(conn, element, limit=limit, offset=offset)
        return VersionPage(items=[_version(key, r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def create_element_version(
        self,
        *,
        element_type: str,
        element_id: int,
        if_match: Optional[str],
        idempotency_key: Optional[str],
        body: VersionCreate,
    ) -> Version:
        key = ElementKey(element_type, element_id)

        async def work(conn: AsyncConnection) -> Version:
            async def append() -> Version:
                element, version = await sequencing.append_version(conn, key, body.data, if_match)
                self.created(f"{_element_url(key)}/versions/{version['version']}")
                self.response.headers["ETag"] = etag(element)
                return _version(key, version)

            return await self.idempotent(conn, idempotency_key, body, Version, append)

        return await run_in_transaction(self.engine, work)

    async def get_element_version(self, *, element_type: str, element_id: int, version: int) -> Version:
        key = ElementKey(element_type, element_id)
        async with self.engine.connect() as conn:
            element = await sequencing.get(conn, key)
            row = await sequencing.get_version(conn, element, version)
        return _version(key, row)

    async def apply_reorder(self, *, idempotency_key: Optional[str], body: Reorder) -> ElementList:
        assignments = _assignments([(ElementKey(e.elementType, e.elementId), e.sequenceNumber) for e in body.elements])

        async def work(conn: AsyncConnection) -> ElementList:
            async def reorder() -> ElementList:
                rows = await sequencing.reorder(conn, assignments)
                self.response.status_code = 200
                return ElementList(items=[_element(r) for r in rows])

            return await self.idempotent(conn, idempotency_key, body, ElementList, reorder)

        return await run_in_transaction(self.engine, work)


def _assignments(pairs: list[tuple[ElementKey, int]]) -> dict[ElementKey, int]:
    assignments: dict[ElementKey, int] = {}
    for key, number in pairs:
        if key in assignments:
            raise invalid(f"Element {key} is listed more than once.")
        assignments[key] = number
    return assignments
