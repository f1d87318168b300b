"""The Core Script Management Service's operations: HTTP models in, store.py out, and the calls to the
services that own what a script refers to.

- Scripts and section headings are numbered by the Central Sequence Service. The number is asked for
  inside the transaction that stores the row, so a Central Sequence failure (502/504) stores nothing;
  asking again for the same element answers the same number, so the call is safe to retry.
- Heading numbers change (v1 reorder, v2 move) locally first, then in the Central Sequence Service,
  still inside the transaction: if it refuses, nothing changed; if the local commit fails after it
  accepted, it is sent the old order back.
- A story line names a character, an action and a spoken word (Character Management) and optionally a
  context (Session and Context); they are checked to exist whenever a line is written.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Optional, TypeVar

import structlog
from pydantic import BaseModel
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.database import run_in_transaction
from fountain_common.etags import check_etag, etag
from fountain_common.operations import RequestScope
from fountain_common.pagination import fetch_page
from fountain_common.problems import invalid, not_found
from fountain_common.upstream import upstream_service

from . import store
from .generated.api import Operations
from .generated.models import (
    LineCreate,
    LineMove,
    LinePatch,
    Orchestration,
    OrchestrationPatch,
    ReorderRequest,
    Script,
    ScriptContent,
    ScriptCreate,
    ScriptPage,
    ScriptPatch,
    ScriptRecord,
    ScriptRequest,
    ScriptResponse,
    ScriptUpdateRequest,
    Section,
    SectionContent,
    SectionCreate,
    SectionHeadingRequest,
    SectionHeadingResponse,
    SectionHeadingUpdateRequest,
    SectionMove,
    SectionPage,
    SectionPatch,
    StoryLine,
    StoryLinePage,
    SuccessResponse,
)

log = structlog.get_logger("fountain.core_script")
T = TypeVar("T")

CENTRAL_SEQUENCE = "central_sequence"
# Column of each orchestration path, by its field name.
ORCHESTRATION_COLUMNS = {
    "csoundFilePath": "csound_file_path",
    "lilyPondFilePath": "lilypond_file_path",
    "midiFilePath": "midi_file_path",
}
# Where each id a line names lives: (service, path of the /v2 resource).
LINE_REFERENCES = {
    "characterId": ("character", "/v2/characters/{}"),
    "actionId": ("character", "/v2/actions/{}"),
    "spokenWordId": ("character", "/v2/spokenWords/{}"),
    "contextId": ("session_context", "/v2/contexts/{}"),
}
LINE_COLUMNS = {
    "characterId": "character_id",
    "actionId": "action_id",
    "spokenWordId": "spoken_word_id",
    "contextId": "context_id",
}


# --- rows to models ------------------------------------------------------------------------------
def _script_record(row: RowMapping) -> ScriptRecord:
    return ScriptRecord(
        scriptId=row["id"],
        title=row["title"],
        author=row["author"],
        description=row["description"],
        orchestration=Orchestration(
            csoundFilePath=row["csound_file_path"],
            lilyPondFilePath=row["lilypond_file_path"],
            midiFilePath=row["midi_file_path"],
        ),
        sequenceNumber=row["sequence_number"],
        revision=row["revision"],
    )


def _section(row: RowMapping) -> Section:
    return Section(
        headingId=row["id"],
        scriptId=row["script_id"],
        title=row["title"],
        sequenceNumber=row["sequence_number"],
        revision=row["revision"],
    )


def _line(row: RowMapping) -> StoryLine:
    return StoryLine(
        lineId=row["id"],
        scriptId=row["script_id"],
        headingId=row["heading_id"],
        position=row["position"],
        characterId=row["character_id"],
        actionId=row["action_id"],
        spokenWordId=row["spoken_word_id"],
        contextId=row["context_id"],
        revision=row["revision"],
    )


def _script_url(script_id: int) -> str:
    return f"/v2/scripts/{script_id}"


def _section_url(row: RowMapping) -> str:
    return f"{_script_url(row['script_id'])}/sections/{row['id']}"


def _line_url(row: RowMapping) -> str:
    return f"{_script_url(row['script_id'])}/sections/{row['heading_id']}/lines/{row['id']}"


# --- request bodies ------------------------------------------------------------------------------
def _refuse_nulls(body: BaseModel, prefix: str = "body", allowed: frozenset[str] = frozenset()) -> None:
    """A field may be left out, but null is not a value the spec allows (except where `allowed`)."""
    nulls = sorted(name for name in body.model_fields_set if getattr(body, name) is None and name not in allowed)
    if nulls:
        errors = [{"location": f"{prefix}.{name}", "message": "may not be null"} for name in nulls]
        raise invalid(f"{prefix}.{nulls[0]}: may not be null; leave the field out to keep its value.", errors)


def _script_fields(body: BaseModel) -> dict[str, str]:
    """Columns of the fields a script body sets (title, author, description, orchestration paths)."""
    _refuse_nulls(body)
    fields: dict[str, str] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if isinstance(value, OrchestrationPatch):
            _refuse_nulls(value, "body.orchestration")
            fields.update({ORCHESTRATION_COLUMNS[path]: getattr(value, path) for path in value.model_fields_set})
        else:
            fields[name] = value
    return fields


class CoreScriptOperations(RequestScope, Operations):
    # --- calls to the Central Sequence Service ---------------------------------------------------
    async def _number(self, element_type: str, element_id: int) -> int:
        """The element's number; asking again for the same element answers the same one."""
        response = await self.call_upstream(
            CENTRAL_SEQUENCE,
            "POST",
            "/v1/sequence",
            json={"elementType": element_type, "elementId": element_id},
            idempotent=True,
        )
        if response.status_code not in (200, 201):
            raise self.upstreams.unexpected(CENTRAL_SEQUENCE, response)
        try:
            return int(response.json()["sequenceNumber"])
        except (ValueError, KeyError, TypeError):
            raise self.upstreams.unexpected(CENTRAL_SEQUENCE, response) from None

    async def _send_order(self, numbers: dict[int, int]) -> None:
        """Give the headings (id -> number) their numbers in the Central Sequence Service (v1 reorder:
        the numbers must permute those the headings hold there, as they do here)."""
        response = await self.call_upstream(
            CENTRAL_SEQUENCE,
            "POST",
            "/v1/sequence/reorder",
            json={
                "elementType": "section",
                "elements": [{"elementId": hid, "newSequence": number} for hid, number in numbers.items()],
            },
            idempotent=True,  # the same target order again is no change
        )
        if response.status_code != 200:
            raise self.upstreams.unexpected(CENTRAL_SEQUENCE, response)

    async def _renumber(
        self, script_id: int, work: Callable[[AsyncConnection], Awaitable[tuple[T, dict[int, int], dict[int, int]]]]
    ) -> T:
        """Run `work` in one transaction that then tells the Central Sequence Service the new numbers.
        `work` renumbers headings locally and answers (result, new numbers, old numbers) of the headings
        it changed. If the transaction fails once the new order was sent, the old one is sent back (best
        effort: logged when that fails too), so both services keep the order the database holds."""
        sent_back: dict[int, int] = {}  # the numbers as the Central Sequence Service held them at first

        async def transaction(conn: AsyncConnection) -> T:
            result, numbers, old_numbers = await work(conn)
            if numbers:
                for hid, number in old_numbers.items():
                    sent_back.setdefault(hid, number)
                await self._send_order(numbers)
            return result

        try:
            return await run_in_transaction(self.engine, transaction)
        except Exception:
            if sent_back:
                await self._restore_order(script_id, sent_back)
            raise

    async def _restore_order(self, script_id: int, numbers: dict[int, int]) -> None:
        try:
            await self._send_order(numbers)
            log.warning("section_order_restored", script_id=script_id, headings=len(numbers))
        except Exception as error:  # the original error is what the client gets
            log.error("section_order_restore_failed", script_id=script_id, numbers=numbers, error=repr(error))

    # --- checks of the ids a line names ------------------------------------------------------------
    async def _check_references(self, values: dict[str, int], character_id: int) -> None:
        """Each id in `values` must exist in the service that owns it, and a context must belong to
        `character_id`; all are asked for at once. 422 names every field at fault."""
        names = list(values)
        responses = await asyncio.gather(
            *(
                self.call_upstream(LINE_REFERENCES[name][0], "GET", LINE_REFERENCES[name][1].format(values[name]))
                for name in names
            )
        )
        errors: list[dict[str, str]] = []
        for name, response in zip(names, responses, strict=True):
            service_name = LINE_REFERENCES[name][0]
            if response.status_code == 404:
                title = upstream_service(service_name).title
                errors.append(
                    {"location": f"body.{name}", "message": f"{name} {values[name]} does not exist in {title}."}
                )
            elif response.status_code != 200:
                raise self.upstreams.unexpected(service_name, response)
            elif name == "contextId":
                try:
                    owner = response.json()["characterId"]
                except (ValueError, KeyError, TypeError):
                    raise self.upstreams.unexpected(service_name, response) from None
                if owner != character_id:
                    errors.append(
                        {
                            "location": "body.contextId",
                            "message": f"Context {values[name]} belongs to character {owner}, not {character_id}.",
                        }
                    )
        if errors:
            raise invalid(" ".join(e["message"] for e in errors), errors)

    # --- v1 --------------------------------------------------------------------------------------
    async def list_scripts(self) -> list[Script]:
        async with self.engine.connect() as conn:
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

    async def create_script(self, *, body: ScriptRequest) -> ScriptResponse:
        fields = _script_fields(body)
        row = await run_in_transaction(self.engine, lambda conn: self._insert_script(conn, fields))
        self.response.status_code = 201
        return ScriptResponse(scriptId=row["id"], sequenceNumber=row["sequence_number"])

    async def update_script(self, *, script_id: int, body: ScriptUpdateRequest) -> ScriptResponse:
        fields = _script_fields(body)
        row = await run_in_transaction(self.engine, lambda conn: store.update_script(conn, script_id, fields))
        return ScriptResponse(scriptId=row["id"], sequenceNumber=row["sequence_number"])

    async def add_section_heading(self, *, script_id: int, body: SectionHeadingRequest) -> SectionHeadingResponse:
        _refuse_nulls(body)
        row = await run_in_transaction(self.engine, lambda conn: self._insert_heading(conn, script_id, body.title))
        self.response.status_code = 201
        return SectionHeadingResponse(
            headingId=row["id"], scriptId=row["script_id"], sequenceNumber=row["sequence_number"]
        )

    async def update_section_heading(
        self, *, script_id: int, heading_id: int, body: SectionHeadingUpdateRequest
    ) -> SectionHeadingResponse:
        _refuse_nulls(body)
        row = await run_in_transaction(
            self.engine, lambda conn: store.rename_heading(conn, script_id, heading_id, body.title)
        )
        return SectionHeadingResponse(
            headingId=row["id"], scriptId=row["script_id"], sequenceNumber=row["sequence_number"]
        )

    async def reorder_section_headings(self, *, script_id: int, body: ReorderRequest) -> SuccessResponse:
        wanted: dict[int, int] = {}
        for item in body.elements:
            if item.headingId in wanted:
                raise invalid(f"Section heading {item.headingId} is listed more than once.")
            wanted[item.headingId] = item.newSequence

        async def work(conn: AsyncConnection) -> tuple[None, dict[int, int], dict[int, int]]:
            held = {int(h["id"]): int(h["sequence_number"]) for h in await store.lock_headings(conn, script_id)}
            if missing := [hid for hid in wanted if hid not in held]:
                raise not_found(f"Script {script_id} has no section heading {', '.join(map(str, missing[:10]))}.")
            if sorted(held[hid] for hid in wanted) != sorted(wanted.values()):
                raise invalid(
                    "The new numbers must be a permutation of the numbers the listed section headings hold now "
                    f"({_preview(sorted(held[hid] for hid in wanted))}); got {_preview(sorted(wanted.values()))}."
                )
            changes = {hid: number for hid, number in wanted.items() if held[hid] != number}
            await store.renumber_headings(conn, changes)
            return None, changes, {hid: held[hid] for hid in changes}

        await self._renumber(script_id, work)
        return SuccessResponse(message="Reorder successful.")

    async def _insert_script(self, conn: AsyncConnection, fields: dict[str, str]) -> RowMapping:
        script_id = await store.next_script_id(conn)
        number = await self._number("script", script_id)
        return await store.insert_script(conn, script_id, fields, number)

    async def _insert_heading(self, conn: AsyncConnection, script_id: int, title: str) -> RowMapping:
        # The script lock keeps the script from being deleted before the heading is stored.
        await store.get_script(conn, script_id, lock=True)
        heading_id = await store.next_heading_id(conn)
        number = await self._number("section", heading_id)
        return await store.insert_heading(conn, heading_id, script_id, title, number)

    # --- v2: scripts -------------------------------------------------------------------------------
    async def add_script(self, *, idempotency_key: Optional[str], body: ScriptCreate) -> ScriptRecord:
        fields = _script_fields(body)

        async def work(conn: AsyncConnection) -> ScriptRecord:
            async def insert() -> ScriptRecord:
                row = await self._insert_script(conn, fields)
                self.created(_script_url(row["id"]))
                self.response.headers["ETag"] = etag(row)
                return _script_record(row)

            return await self.idempotent(conn, idempotency_key, body, ScriptRecord, insert)

        return await run_in_transaction(self.engine, work)

    async def search_scripts(
        self, *, ids: Optional[str], title_contains: Optional[str], limit: int, offset: int
    ) -> ScriptPage:
        query = store.scripts_query(self.id_filter("ids", max_ids=store.IDS_MAX), title_contains)
        async with self.engine.connect() as conn:
            page = await fetch_page(conn, query, limit=limit, offset=offset)
        return ScriptPage(items=[_script_record(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_script(self, *, script_id: int) -> ScriptRecord:
        async with self.engine.connect() as conn:
            row = await store.get_script(conn, script_id)
        self.response.headers["ETag"] = etag(row)
        return _script_record(row)

    async def edit_script(self, *, script_id: int, if_match: Optional[str], body: ScriptPatch) -> ScriptRecord:
        fields = _script_fields(body)
        if not body.model_fields_set:
            raise invalid("Give at least one field to change.")
        row = await run_in_transaction(self.engine, lambda conn: store.update_script(conn, script_id, fields, if_match))
        self.response.headers["ETag"] = etag(row)
        return _script_record(row)

    async def delete_script(self, *, script_id: int, if_match: Optional[str]) -> None:
        await run_in_transaction(self.engine, lambda conn: store.delete_script(conn, script_id, if_match))
        self.response.status_code = 204

    async def get_script_content(self, *, script_id: int) -> ScriptContent:
        # One snapshot: every statement of a REPEATABLE READ transaction sees the same data.
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                script = await store.get_script(conn, script_id)
                headings = (await conn.execute(store.headings_query(script_id))).mappings().all()
                lines = (await conn.execute(store.script_lines_query(script_id))).mappings().all()
        by_heading: dict[int, list[StoryLine]] = {int(h["id"]): [] for h in headings}
        for line in lines:
            by_heading[int(line["heading_id"])].append(_line(line))
        return ScriptContent(
            script=_script_record(script),
            sections=[
                SectionContent(
                    headingId=h["id"],
                    scriptId=h["script_id"],
                    title=h["title"],
                    sequenceNumber=h["sequence_number"],
                    revision=h["revision"],
                    lines=by_heading[int(h["id"])],
                )
                for h in headings
            ],
        )

    async def list_script_lines(self, *, script_id: int, limit: int, offset: int) -> StoryLinePage:
        async with self.engine.connect() as conn:
            await store.get_script(conn, script_id)
            page = await fetch_page(conn, store.script_lines_query(script_id), limit=limit, offset=offset)
        return StoryLinePage(items=[_line(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    # --- v2: section headings ----------------------------------------------------------------------
    async def add_section(self, *, script_id: int, idempotency_key: Optional[str], body: SectionCreate) -> Section:
        async def work(conn: AsyncConnection) -> Section:
            async def insert() -> Section:
                row = await self._insert_heading(conn, script_id, body.title)
                self.created(_section_url(row))
                self.response.headers["ETag"] = etag(row)
                return _section(row)

            return await self.idempotent(conn, idempotency_key, body, Section, insert)

        return await run_in_transaction(self.engine, work)

    async def list_sections(self, *, script_id: int, limit: int, offset: int) -> SectionPage:
        async with self.engine.connect() as conn:
            await store.get_script(conn, script_id)
            page = await fetch_page(conn, store.headings_query(script_id), limit=limit, offset=offset)
        return SectionPage(items=[_section(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_section(self, *, script_id: int, heading_id: int) -> Section:
        async with self.engine.connect() as conn:
            row = await store.get_heading(conn, script_id, heading_id)
        self.response.headers["ETag"] = etag(row)
        return _section(row)

    async def edit_section(
        self, *, script_id: int, heading_id: int, if_match: Optional[str], body: SectionPatch
    ) -> Section:
        _refuse_nulls(body)
        row = await run_in_transaction(
            self.engine, lambda conn: store.rename_heading(conn, script_id, heading_id, body.title, if_match)
        )
        self.response.headers["ETag"] = etag(row)
        return _section(row)

    async def delete_section(self, *, script_id: int, heading_id: int, if_match: Optional[str]) -> None:
        await run_in_transaction(self.engine, lambda conn: store.delete_heading(conn, script_id, heading_id, if_match))
        self.response.status_code = 204

    async def move_section(
        self,
        *,
        script_id: int,
        heading_id: int,
        if_match: Optional[str],
        idempotency_key: Optional[str],
        body: SectionMove,
    ) -> Section:
        async def work(conn: AsyncConnection) -> tuple[Section, dict[int, int], dict[int, int]]:
            changes: dict[int, int] = {}
            old_numbers: dict[int, int] = {}

            async def move() -> Section:
                headings = await store.lock_headings(conn, script_id)
                row = await store.get_heading(conn, script_id, heading_id)
                check_etag(row, if_match, what=f"Section heading {heading_id}")
                changes.update(store.moved_numbers(headings, heading_id, body.position))
                old_numbers.update({int(h["id"]): int(h["sequence_number"]) for h in headings if h["id"] in changes})
                await store.renumber_headings(conn, changes)
                moved = await store.get_heading(conn, script_id, heading_id)
                self.response.status_code = 200
                self.response.headers["ETag"] = etag(moved)
                return _section(moved)

            section = await self.idempotent(conn, idempotency_key, body, Section, move)
            return section, changes, old_numbers

        return await self._renumber(script_id, work)

    # --- v2: story lines ---------------------------------------------------------------------------
    async def add_line(
        self, *, script_id: int, heading_id: int, idempotency_key: Optional[str], body: LineCreate
    ) -> StoryLine:
        _refuse_nulls(body, allowed=frozenset({"contextId"}))
        ids: dict[str, int | None] = {
            "character_id": body.characterId,
            "action_id": body.actionId,
            "spoken_word_id": body.spokenWordId,
            "context_id": body.contextId,
        }

        async def work(conn: AsyncConnection) -> StoryLine:
            async def insert() -> StoryLine:
                # Checked before the script is locked, so the calls do not hold up other writers.
                await store.get_heading(conn, script_id, heading_id)
                references = {
                    "characterId": body.characterId,
                    "actionId": body.actionId,
                    "spokenWordId": body.spokenWordId,
                }
                if body.contextId is not None:
                    references["contextId"] = body.contextId
                await self._check_references(references, body.characterId)
                row = await store.insert_line(conn, script_id, heading_id, body.position, ids)
                self.created(_line_url(row))
                self.response.headers["ETag"] = etag(row)
                return _line(row)

            return await self.idempotent(conn, idempotency_key, body, StoryLine, insert)

        return await run_in_transaction(self.engine, work)

    async def list_lines(self, *, script_id: int, heading_id: int, limit: int, offset: int) -> StoryLinePage:
        async with self.engine.connect() as conn:
            await store.get_heading(conn, script_id, heading_id)
            page = await fetch_page(conn, store.lines_query(heading_id), limit=limit, offset=offset)
        return StoryLinePage(items=[_line(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_line(self, *, script_id: int, heading_id: int, line_id: int) -> StoryLine:
        async with self.engine.connect() as conn:
            row = await store.get_line(conn, script_id, heading_id, line_id)
        self.response.headers["ETag"] = etag(row)
        return _line(row)

    async def edit_line(
        self, *, script_id: int, heading_id: int, line_id: int, if_match: Optional[str], body: LinePatch
    ) -> StoryLine:
        _refuse_nulls(body, allowed=frozenset({"contextId"}))
        given: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
        if not given:
            raise invalid("Give at least one field to change.")

        async def work(conn: AsyncConnection) -> RowMapping:
            line = await store.get_line(conn, script_id, heading_id, line_id, lock=True)
            check_etag(line, if_match, what=f"Line {line_id}")
            current = {name: line[column] for name, column in LINE_COLUMNS.items()}
            after = current | given
            references = {name: value for name, value in given.items() if value is not None and value != current[name]}
            # A context must belong to the line's character, also when only the character changes.
            if after["contextId"] is not None and after["characterId"] != current["characterId"]:
                references["contextId"] = after["contextId"]
            if references:
                await self._check_references(references, after["characterId"])
            return await store.update_line(conn, line, {LINE_COLUMNS[name]: value for name, value in given.items()})

        row = await run_in_transaction(self.engine, work)
        self.response.headers["ETag"] = etag(row)
        return _line(row)

    async def delete_line(self, *, script_id: int, heading_id: int, line_id: int, if_match: Optional[str]) -> None:
        await run_in_transaction(
            self.engine, lambda conn: store.delete_line(conn, script_id, heading_id, line_id, if_match)
        )
        self.response.status_code = 204

    async def move_line(
        self,
        *,
        script_id: int,
        heading_id: int,
        line_id: int,
        if_match: Optional[str],
        idempotency_key: Optional[str],
        body: LineMove,
    ) -> StoryLine:
        _refuse_nulls(body)

        async def work(conn: AsyncConnection) -> StoryLine:
            async def move() -> StoryLine:
                row = await store.move_line(
                    conn, script_id, heading_id, line_id, body.position, body.headingId, if_match
                )
                self.response.status_code = 200
                self.response.headers["ETag"] = etag(row)
                return _line(row)

            return await self.idempotent(conn, idempotency_key, body, StoryLine, move)

        return await run_in_transaction(self.engine, work)


def _preview(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (", ..." if len(numbers) > 10 else "")
