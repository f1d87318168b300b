"""Core Script Management /v2: scripts, section headings and story lines as resources with ETags,
pages and Idempotency-Key, over the same tables as /v1 (store.py). Numbers and their order come from
the Central Sequence Service, and the ids a line names are checked with their owners (upstream_calls.py)."""

from typing import Any, Optional

from pydantic import TypeAdapter
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from typing_extensions import TypedDict

from fountain_common.etags import check_etag, etag
from fountain_common.pagination import fetch_page
from fountain_common.problems import Problem, invalid
from fountain_common.routes import Reply

from . import store
from .bodies import refuse_nulls, script_fields
from .elements import ELEMENT_COLUMNS, REFERENCE_FIELDS, check_element, element_fields, joined_extensions, stored
from .generated.api import Operations
from .generated.models import (
    LineCreate,
    LineMove,
    LinePatch,
    Orchestration,
    ScriptContent,
    ScriptCreate,
    ScriptPage,
    ScriptPatch,
    ScriptRecord,
    Section,
    SectionBatch,
    SectionBatchResult,
    SectionCreate,
    SectionMove,
    SectionPage,
    SectionPatch,
    StoryLine,
    StoryLinePage,
    TitlePage,
    TitlePageEntry,
)
from .upstream_calls import (
    append_headings,
    check_many_references,
    check_references,
    delete_heading,
    delete_script,
    insert_heading,
    insert_script,
    lock_headings,
    renumber_headings,
)


# --- rows to models --------------------------------------------------------------------------------
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
        titlePage=TitlePage(root=[TitlePageEntry(**entry) for entry in row["title_page"]]),
        sequenceNumber=row["sequence_number"],
        revision=row["revision"],
    )


def _section(row: RowMapping) -> Section:
    return Section(
        headingId=row["id"],
        scriptId=row["script_id"],
        title=row["title"],
        sceneNumber=row["scene_number"],
        sequenceNumber=row["sequence_number"],
        revision=row["revision"],
    )


# A script's whole content is serialized straight from its rows: a StoryLine model per line costs
# more CPU than the rest of reading a feature-length script. These mirror ScriptContent field for
# field (tests compare the two); the rows already keep every constraint the models check.
class _ParentheticalJson(TypedDict):
    beforeLine: int
    text: str


class _LineJson(TypedDict):
    lineId: int
    scriptId: int
    headingId: int
    position: int
    kind: str
    characterId: Optional[int]
    spokenWordId: Optional[int]
    actionId: Optional[int]
    contextId: Optional[int]
    extension: Optional[str]
    extensions: list[str]
    parentheticals: list[_ParentheticalJson]
    text: Optional[str]
    dual: bool
    depth: Optional[int]
    revision: int


class _SectionContentJson(TypedDict):
    headingId: int
    scriptId: int
    title: str
    sceneNumber: Optional[str]
    sequenceNumber: int
    revision: int
    lines: list[_LineJson]


class _ScriptContentJson(TypedDict):
    script: ScriptRecord
    sections: list[_SectionContentJson]


_SCRIPT_CONTENT_JSON = TypeAdapter(_ScriptContentJson)


def _line_fields(row: RowMapping) -> _LineJson:
    """A line's fields as StoryLine names them (the parentheticals as their column holds them)."""
    return {
        "lineId": row["id"],
        "scriptId": row["script_id"],
        "headingId": row["heading_id"],
        "position": row["position"],
        "kind": row["kind"],
        "characterId": row["character_id"],
        "spokenWordId": row["spoken_word_id"],
        "actionId": row["action_id"],
        "contextId": row["context_id"],
        "extension": joined_extensions(row["extensions"]),
        "extensions": row["extensions"],
        "parentheticals": row["parentheticals"],
        "text": row["text"],
        "dual": row["dual"],
        "depth": row["depth"],
        "revision": row["revision"],
    }


def _line(row: RowMapping) -> StoryLine:
    return StoryLine.model_validate(_line_fields(row))


def _script_url(script_id: int) -> str:
    return f"/v2/scripts/{script_id}"


def _section_url(row: RowMapping) -> str:
    return f"{_script_url(row['script_id'])}/sections/{row['id']}"


def _line_url(row: RowMapping) -> str:
    return f"{_script_url(row['script_id'])}/sections/{row['heading_id']}/lines/{row['id']}"


class CoreScriptV2(Operations):
    # --- scripts -----------------------------------------------------------------------------------
    async def add_script(self, conn: AsyncConnection, *, body: ScriptCreate) -> Reply[ScriptRecord]:
        row = await insert_script(conn, self.upstreams, script_fields(body))
        return Reply(_script_record(row), location=_script_url(row["id"]), etag=etag(row))

    async def search_scripts(
        self,
        conn: AsyncConnection,
        *,
        ids: Optional[set[int]],
        title_contains: Optional[str],
        limit: int,
        offset: int,
    ) -> ScriptPage:
        page = await fetch_page(conn, store.scripts_query(ids, title_contains), limit=limit, offset=offset)
        return ScriptPage(items=[_script_record(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_script(self, conn: AsyncConnection, *, script_id: int) -> Reply[ScriptRecord]:
        row = await store.get_script(conn, script_id)
        return Reply(_script_record(row), etag=etag(row))

    async def edit_script(
        self, conn: AsyncConnection, *, script_id: int, if_match: Optional[str], body: ScriptPatch
    ) -> Reply[ScriptRecord]:
        fields = script_fields(body)
        if not body.model_fields_set:
            raise invalid("Give at least one field to change.")
        row = await store.update_script(conn, script_id, fields, if_match)
        return Reply(_script_record(row), etag=etag(row))

    async def delete_script(self, conn: AsyncConnection, *, script_id: int, if_match: Optional[str]) -> None:
        await delete_script(conn, self.upstreams, script_id, if_match)

    async def get_script_content(self, conn: AsyncConnection, *, script_id: int) -> Reply[ScriptContent]:
        # `conn` is one snapshot (the spec says so): the three reads see the same script.
        script = await store.get_script(conn, script_id)
        headings = (await conn.execute(store.headings_query(script_id))).mappings().all()
        lines = (await conn.execute(store.script_lines_query(script_id))).mappings().all()
        by_heading: dict[int, list[_LineJson]] = {int(h["id"]): [] for h in headings}
        for line in lines:
            by_heading[int(line["heading_id"])].append(_line_fields(line))
        content: _ScriptContentJson = {
            "script": _script_record(script),
            "sections": [
                {
                    "headingId": h["id"],
                    "scriptId": h["script_id"],
                    "title": h["title"],
                    "sceneNumber": h["scene_number"],
                    "sequenceNumber": h["sequence_number"],
                    "revision": h["revision"],
                    "lines": by_heading[int(h["id"])],
                }
                for h in headings
            ],
        }
        return Reply(json=_SCRIPT_CONTENT_JSON.dump_json(content))

    async def list_script_lines(
        self, conn: AsyncConnection, *, script_id: int, limit: int, offset: int
    ) -> StoryLinePage:
        await store.get_script(conn, script_id)
        page = await fetch_page(conn, store.script_lines_query(script_id), limit=limit, offset=offset)
        return StoryLinePage(items=[_line(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    # --- section headings --------------------------------------------------------------------------
    async def add_section(self, conn: AsyncConnection, *, script_id: int, body: SectionCreate) -> Reply[Section]:
        row = await insert_heading(conn, self.upstreams, script_id, body.title, body.sceneNumber)
        return Reply(_section(row), location=_section_url(row), etag=etag(row))

    async def append_sections(
        self, conn: AsyncConnection, *, script_id: int, body: SectionBatch
    ) -> Reply[SectionBatchResult]:
        lines: list[tuple[str, dict[str, Any], str]] = []  # (location, fields, kind) in story order
        for s_index, section in enumerate(body.sections):
            before: tuple[str, bool] | None = None  # the kind of the line before in the section, and its dual
            for l_index, line in enumerate(section.lines):
                location = f"body.sections[{s_index}].lines[{l_index}]"
                if line.position is not None:
                    message = "Lines are added in the order given; leave position out."
                    raise invalid(
                        f"{location}.position: {message}", [{"location": f"{location}.position", "message": message}]
                    )
                kind = line.kind.value if line.kind is not None else "dialogue"
                try:
                    fields = element_fields(line, ELEMENT_COLUMNS)
                    check_element(kind, fields, line.model_fields_set)
                except Problem as problem:
                    errors = [
                        {**e, "location": e["location"].replace("body", location, 1)} for e in problem.errors or []
                    ]
                    raise invalid(f"{location}: {problem.detail}", errors) from None
                if fields.get("dual") and before != ("dialogue", False):
                    # As addLine: the right-hand side pairs with the dialogue just before it.
                    message = (
                        "A dual dialogue pairs with a dialogue just before it in its section that is not dual itself."
                    )
                    raise invalid(f"{location}.dual: {message}", [{"location": f"{location}.dual", "message": message}])
                before = (kind, bool(fields.get("dual")))
                lines.append((location, fields, kind))
        # Checked before the script is locked, so the calls do not hold up other writers.
        await store.get_script(conn, script_id)
        await check_many_references(self.upstreams, [(location, fields) for location, fields, _ in lines])
        headings = await append_headings(
            conn, self.upstreams, script_id, [(section.title, section.sceneNumber) for section in body.sections]
        )
        rows: list[dict[str, Any]] = []
        flat = iter(lines)
        for heading, section in zip(headings, body.sections, strict=True):
            for position, (_, fields, kind) in enumerate((next(flat) for _ in section.lines), start=1):
                columns = {column: stored(name, fields[name]) for name, column in ELEMENT_COLUMNS.items()}
                rows.append({"heading_id": heading["id"], "position": position, "kind": kind, **columns})
        count = await store.append_lines(conn, script_id, rows)
        return Reply(
            SectionBatchResult(scriptId=script_id, sections=[_section(h) for h in headings], lineCount=count),
            location=f"{_script_url(script_id)}/sections",
        )

    async def list_sections(self, conn: AsyncConnection, *, script_id: int, limit: int, offset: int) -> SectionPage:
        await store.get_script(conn, script_id)
        page = await fetch_page(conn, store.headings_query(script_id), limit=limit, offset=offset)
        return SectionPage(items=[_section(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_section(self, conn: AsyncConnection, *, script_id: int, heading_id: int) -> Reply[Section]:
        row = await store.get_heading(conn, script_id, heading_id)
        return Reply(_section(row), etag=etag(row))

    async def edit_section(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, if_match: Optional[str], body: SectionPatch
    ) -> Reply[Section]:
        refuse_nulls(body, allowed=frozenset({"sceneNumber"}))
        if not body.model_fields_set:
            raise invalid("Give at least one field to change.")
        changes = {
            "title" if name == "title" else "scene_number": getattr(body, name) for name in body.model_fields_set
        }
        row = await store.edit_heading(conn, script_id, heading_id, changes, if_match)
        return Reply(_section(row), etag=etag(row))

    async def delete_section(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, if_match: Optional[str]
    ) -> None:
        await delete_heading(conn, self.upstreams, script_id, heading_id, if_match)

    async def move_section(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, if_match: Optional[str], body: SectionMove
    ) -> Reply[Section]:
        headings = await lock_headings(conn, self.upstreams, script_id)
        row = await store.get_heading(conn, script_id, heading_id)
        check_etag(row, if_match, what=f"Section heading {heading_id}")
        changes = store.moved_numbers(headings, heading_id, body.position)
        held = {int(h["id"]): int(h["sequence_number"]) for h in headings if h["id"] in changes}
        await renumber_headings(conn, self.upstreams, script_id, changes, held)
        moved = await store.get_heading(conn, script_id, heading_id)
        return Reply(_section(moved), etag=etag(moved))

    # --- story lines -------------------------------------------------------------------------------
    async def add_line(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, body: LineCreate
    ) -> Reply[StoryLine]:
        kind = body.kind.value if body.kind is not None else "dialogue"
        fields = element_fields(body, ELEMENT_COLUMNS)
        check_element(kind, fields, body.model_fields_set)
        # Checked before the script is locked, so the calls do not hold up other writers.
        await store.get_heading(conn, script_id, heading_id)
        references = {name: fields[name] for name in REFERENCE_FIELDS if fields[name] is not None}
        if references:
            await check_references(self.upstreams, references, fields["characterId"] or 0)
        columns = {column: stored(name, fields[name]) for name, column in ELEMENT_COLUMNS.items()}
        row = await store.insert_line(conn, script_id, heading_id, body.position, {"kind": kind, **columns})
        return Reply(_line(row), location=_line_url(row), etag=etag(row))

    async def list_lines(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, limit: int, offset: int
    ) -> StoryLinePage:
        await store.get_heading(conn, script_id, heading_id)
        page = await fetch_page(conn, store.lines_query(heading_id), limit=limit, offset=offset)
        return StoryLinePage(items=[_line(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_line(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, line_id: int
    ) -> Reply[StoryLine]:
        row = await store.get_line(conn, script_id, heading_id, line_id)
        return Reply(_line(row), etag=etag(row))

    async def edit_line(
        self,
        conn: AsyncConnection,
        *,
        script_id: int,
        heading_id: int,
        line_id: int,
        if_match: Optional[str],
        body: LinePatch,
    ) -> Reply[StoryLine]:
        # Null clears an optional field; the fields a kind needs are refused as null by check_element.
        given: dict[str, Any] = {
            name: stored(name, value) for name, value in element_fields(body, body.model_fields_set).items()
        }
        if not given:
            raise invalid("Give at least one field to change.")
        if given.get("dual"):
            # Pairing depends on the lines around it: run one at a time with moves, inserts and deletes.
            await store.get_script(conn, script_id, lock=True)
        line = await store.get_line(conn, script_id, heading_id, line_id, lock=True)
        check_etag(line, if_match, what=f"Line {line_id}")
        current = {name: line[column] for name, column in ELEMENT_COLUMNS.items()}
        after = current | given
        check_element(line["kind"], after, body.model_fields_set)
        references = {
            name: value
            for name, value in given.items()
            if name in REFERENCE_FIELDS and value is not None and value != current[name]
        }
        # A context must belong to the line's character, also when only the character changes.
        if after["contextId"] is not None and after["characterId"] != current["characterId"]:
            references["contextId"] = after["contextId"]
        if references:
            await check_references(self.upstreams, references, after["characterId"] or 0)
        if after["dual"] and not current["dual"]:
            await store.check_dual_partner(conn, heading_id, int(line["position"]))
        row = await store.update_line(conn, line, {ELEMENT_COLUMNS[name]: value for name, value in given.items()})
        if after["dual"] and not current["dual"]:
            # A dual dialogue just after it would now follow a dual dialogue.
            await store.check_dual_pairs(conn, [heading_id], f"Making line {line_id} dual")
        return Reply(_line(row), etag=etag(row))

    async def delete_line(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, line_id: int, if_match: Optional[str]
    ) -> None:
        await store.delete_line(conn, script_id, heading_id, line_id, if_match)

    async def move_line(
        self,
        conn: AsyncConnection,
        *,
        script_id: int,
        heading_id: int,
        line_id: int,
        if_match: Optional[str],
        body: LineMove,
    ) -> Reply[StoryLine]:
        refuse_nulls(body)
        row = await store.move_line(conn, script_id, heading_id, line_id, body.position, body.headingId, if_match)
        return Reply(_line(row), etag=etag(row))
