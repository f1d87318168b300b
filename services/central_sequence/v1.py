"""Central Sequence /v1: the upstream contract's numbering, reordering and versions, over the same
rows and rules as /v2 (store.py). The contract knows no scopes: /v1 numbers in the scope named
`default` (each account its own), which /v2 reads as /v2/scopes/default/elements."""

from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.routes import Reply

from . import store
from .batching import numberer_for
from .generated.api import Operations
from .generated.models import (
    ReorderRequest,
    SequenceRequest,
    SequenceResponse,
    SuccessResponse,
    VersionRequest,
    VersionResponse,
)
from .store import ElementKey
from .tables import DEFAULT_SCOPE


class CentralSequenceV1(Operations):
    async def generate_sequence_number(self, *, body: SequenceRequest) -> Reply[SequenceResponse]:
        # No connection of the request's own (x-fountain-connection: none): the numberer of this
        # engine numbers concurrent requests together, each batch in one autocommitted statement.
        number, created = await numberer_for(self.engine, store.namespace(), DEFAULT_SCOPE).number(
            ElementKey(body.elementType, body.elementId)
        )
        return Reply(SequenceResponse(sequenceNumber=number), status=201 if created else 200)

    async def reorder_elements(self, conn: AsyncConnection, *, body: ReorderRequest) -> SuccessResponse:
        pairs = ((ElementKey(body.elementType, item.elementId), item.newSequence) for item in body.elements)
        await store.reorder(conn, DEFAULT_SCOPE, store.assignments(pairs))
        return SuccessResponse(message="Reorder successful.")

    async def create_version(self, conn: AsyncConnection, *, body: VersionRequest) -> VersionResponse:
        key = ElementKey(body.elementType, body.elementId)
        _, version = await store.append_version(conn, DEFAULT_SCOPE, key, body.newVersionData)
        return VersionResponse(versionNumber=version["version"])
