"""Core Script Management /v1: the upstream contract's scripts and section headings, numbered by the
Central Sequence Service (script_calls.py, section_calls.py), over the same tables as /v2 (store.py),
with the same rules of who may reach a script (access.py), checked before the body: /v1 answers every
input fault 400, which would otherwise tell a caller no 404 about a script it may not reach."""

from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.problems import invalid, not_found

from . import store
from .access import script_access
from .bodies import refuse_nulls, script_fields
from .generated.api import Operations
from .generated.models import (
    ReorderRequest,
    Script,
    ScriptRequest,
    ScriptResponse,
    ScriptUpdateRequest,
    SectionHeadingRequest,
    SectionHeadingResponse,
    SectionHeadingUpdateRequest,
    SuccessResponse,
)
from .script_calls import insert_script
from .section_calls import insert_heading, lock_headings, renumber_headings


def _preview(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (", ..." if len(numbers) > 10 else "")


class CoreScriptV1(Operations):
    async def list_scripts(self, conn: AsyncConnection) -> list[Script]:
        rows = (await conn.execute(store.scripts_query())).mappings().all()
        return [
            Script(
                scriptId=r["id"],
                title=r["title"],
                author=r["author"],
                description=r["description"],
                sequenceNumber=r["sequence_number"],
            )
            for r in rows
        ]

    async def create_script(self, conn: AsyncConnection, *, body: ScriptRequest) -> ScriptResponse:
        row = await insert_script(conn, self.upstreams, script_fields(body))
        return ScriptResponse(scriptId=row["id"], sequenceNumber=row["sequence_number"])

    async def update_script(
        self, conn: AsyncConnection, *, script_id: int, body: ScriptUpdateRequest
    ) -> ScriptResponse:
        await script_access(conn, script_id, write=True)
        row = await store.update_script(conn, script_id, script_fields(body))
        return ScriptResponse(scriptId=row["id"], sequenceNumber=row["sequence_number"])

    async def add_section_heading(
        self, conn: AsyncConnection, *, script_id: int, body: SectionHeadingRequest
    ) -> SectionHeadingResponse:
        access = await script_access(conn, script_id, write=True)
        refuse_nulls(body)
        with access.acting():
            row = await insert_heading(conn, self.upstreams, script_id, body.title)
        return SectionHeadingResponse(
            headingId=row["id"], scriptId=row["script_id"], sequenceNumber=row["sequence_number"]
        )

    async def update_section_heading(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, body: SectionHeadingUpdateRequest
    ) -> SectionHeadingResponse:
        await script_access(conn, script_id, write=True)
        refuse_nulls(body)
        row = await store.rename_heading(conn, script_id, heading_id, body.title)
        return SectionHeadingResponse(
            headingId=row["id"], scriptId=row["script_id"], sequenceNumber=row["sequence_number"]
        )

    async def reorder_section_headings(
        self, conn: AsyncConnection, *, script_id: int, body: ReorderRequest
    ) -> SuccessResponse:
        access = await script_access(conn, script_id, write=True)
        wanted: dict[int, int] = {}
        for item in body.elements:
            if item.headingId in wanted:
                raise invalid(f"Section heading {item.headingId} is listed more than once.")
            wanted[item.headingId] = item.newSequence
        with access.acting():
            held = {
                int(h["id"]): int(h["sequence_number"]) for h in await lock_headings(conn, self.upstreams, script_id)
            }
            if missing := [hid for hid in wanted if hid not in held]:
                raise not_found(f"Script {script_id} has no section heading {', '.join(map(str, missing[:10]))}.")
            if sorted(held[hid] for hid in wanted) != sorted(wanted.values()):
                raise invalid(
                    "The new numbers must be a permutation of the numbers the listed section headings hold now "
                    f"({_preview(sorted(held[hid] for hid in wanted))}); got {_preview(sorted(wanted.values()))}."
                )
            changes = {hid: number for hid, number in wanted.items() if held[hid] != number}
            await renumber_headings(conn, self.upstreams, script_id, changes, {hid: held[hid] for hid in changes})
        return SuccessResponse(message="Reorder successful.")
