"""Core Script Management /v2: scripts, section headings and story lines as resources with ETags,
pages and Idempotency-Key, over the same tables as /v1 (store.py, line_store.py). Numbers and their order
come from the Central Sequence Service (script_calls.py, section_calls.py), and the ids a line names are
checked with their owners (reference_checks.py). Every operation on a script first checks the caller
may reach it (access.py), and works in other services for the script's owner."""

from typing import Any, Optional

from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.etags import check_etag, etag
from fountain_common.pagination import fetch_page
from fountain_common.problems import Problem, invalid, not_found
from fountain_common.routes import Reply

from . import dual_dialogue, line_store, store
from .access import OWNER, access_level, script_access
from .bodies import refuse_nulls, script_fields
from .elements import ELEMENT_COLUMNS, REFERENCE_FIELDS, check_element, element_fields, stored
from .generated.api import Operations
from .generated.models import (
    LineCreate,
    LineMove,
    LinePatch,
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
    Share,
    SharePage,
    ShareUpdate,
    StoryLine,
    StoryLinePage,
)
from .reference_checks import check_many_references, check_references
from .script_calls import delete_script, insert_script
from .section_calls import append_headings, delete_heading, insert_heading, lock_headings, renumber_headings
from .v2_records import (
    SCRIPT_CONTENT_JSON,
    LineJson,
    ScriptContentJson,
    line_fields,
    line_record,
    line_url,
    script_record,
    script_url,
    section_record,
    section_url,
)

# What only a script's owner and admins may do, as the 403 of an account it is shared with says.
SHARING = "see and change its shares"


class CoreScriptV2(Operations):
    # --- scripts -----------------------------------------------------------------------------------
    async def add_script(self, conn: AsyncConnection, *, body: ScriptCreate) -> Reply[ScriptRecord]:
        row = await insert_script(conn, self.upstreams, script_fields(body))
        return Reply(script_record(row, OWNER), location=script_url(row["id"]), etag=etag(row))

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
        items = [script_record(r, access_level(r["owner"], r["shared_as"]) or OWNER) for r in page.rows]
        return ScriptPage(items=items, total=page.total, limit=limit, offset=offset)

    async def get_script(self, conn: AsyncConnection, *, script_id: int) -> Reply[ScriptRecord]:
        access = await script_access(conn, script_id)
        return Reply(script_record(access.script, access.level), etag=etag(access.script))

    async def edit_script(
        self, conn: AsyncConnection, *, script_id: int, if_match: Optional[str], body: ScriptPatch
    ) -> Reply[ScriptRecord]:
        fields = script_fields(body)
        if not body.model_fields_set:
            raise invalid("Give at least one field to change.")
        access = await script_access(conn, script_id, write=True)
        row = await store.update_script(conn, script_id, fields, if_match)
        return Reply(script_record(row, access.level), etag=etag(row))

    async def delete_script(self, conn: AsyncConnection, *, script_id: int, if_match: Optional[str]) -> None:
        access = await script_access(conn, script_id, write=True, owners_only="delete it")
        with access.acting():
            await delete_script(conn, self.upstreams, script_id, if_match)

    async def get_script_content(self, conn: AsyncConnection, *, script_id: int) -> Reply[ScriptContent]:
        # `conn` is one snapshot (the spec says so): the three reads see the same script.
        access = await script_access(conn, script_id)
        headings = (await conn.execute(store.headings_query(script_id))).mappings().all()
        lines = (await conn.execute(line_store.script_lines_query(script_id))).mappings().all()
        by_heading: dict[int, list[LineJson]] = {int(h["id"]): [] for h in headings}
        for line in lines:
            by_heading[int(line["heading_id"])].append(line_fields(line))
        content: ScriptContentJson = {
            "script": script_record(access.script, access.level),
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
        return Reply(json=SCRIPT_CONTENT_JSON.dump_json(content))

    async def list_script_lines(
        self, conn: AsyncConnection, *, script_id: int, limit: int, offset: int
    ) -> StoryLinePage:
        await script_access(conn, script_id)
        page = await fetch_page(conn, line_store.script_lines_query(script_id), limit=limit, offset=offset)
        return StoryLinePage(items=[line_record(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    # --- section headings --------------------------------------------------------------------------
    async def add_section(self, conn: AsyncConnection, *, script_id: int, body: SectionCreate) -> Reply[Section]:
        access = await script_access(conn, script_id, write=True)
        with access.acting():
            row = await insert_heading(conn, self.upstreams, script_id, body.title, body.sceneNumber)
        return Reply(section_record(row), location=section_url(row), etag=etag(row))

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
        access = await script_access(conn, script_id, write=True)
        with access.acting():
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
        count = await line_store.append_lines(conn, script_id, rows)
        return Reply(
            SectionBatchResult(scriptId=script_id, sections=[section_record(h) for h in headings], lineCount=count),
            location=f"{script_url(script_id)}/sections",
        )

    async def list_sections(self, conn: AsyncConnection, *, script_id: int, limit: int, offset: int) -> SectionPage:
        await script_access(conn, script_id)
        page = await fetch_page(conn, store.headings_query(script_id), limit=limit, offset=offset)
        return SectionPage(items=[section_record(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_section(self, conn: AsyncConnection, *, script_id: int, heading_id: int) -> Reply[Section]:
        await script_access(conn, script_id)
        row = await store.get_heading(conn, script_id, heading_id)
        return Reply(section_record(row), etag=etag(row))

    async def edit_section(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, if_match: Optional[str], body: SectionPatch
    ) -> Reply[Section]:
        refuse_nulls(body, allowed=frozenset({"sceneNumber"}))
        if not body.model_fields_set:
            raise invalid("Give at least one field to change.")
        changes = {
            "title" if name == "title" else "scene_number": getattr(body, name) for name in body.model_fields_set
        }
        await script_access(conn, script_id, write=True)
        row = await store.edit_heading(conn, script_id, heading_id, changes, if_match)
        return Reply(section_record(row), etag=etag(row))

    async def delete_section(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, if_match: Optional[str]
    ) -> None:
        access = await script_access(conn, script_id, write=True)
        with access.acting():
            await delete_heading(conn, self.upstreams, script_id, heading_id, if_match)

    async def move_section(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, if_match: Optional[str], body: SectionMove
    ) -> Reply[Section]:
        access = await script_access(conn, script_id, write=True)
        with access.acting():
            headings = await lock_headings(conn, self.upstreams, script_id)
            row = await store.get_heading(conn, script_id, heading_id)
            check_etag(row, if_match, what=f"Section heading {heading_id}")
            changes = store.moved_numbers(headings, heading_id, body.position)
            held = {int(h["id"]): int(h["sequence_number"]) for h in headings if h["id"] in changes}
            await renumber_headings(conn, self.upstreams, script_id, changes, held)
        moved = await store.get_heading(conn, script_id, heading_id)
        return Reply(section_record(moved), etag=etag(moved))

    # --- story lines -------------------------------------------------------------------------------
    async def add_line(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, body: LineCreate
    ) -> Reply[StoryLine]:
        kind = body.kind.value if body.kind is not None else "dialogue"
        fields = element_fields(body, ELEMENT_COLUMNS)
        check_element(kind, fields, body.model_fields_set)
        # Checked before the script is locked, so the calls do not hold up other writers.
        access = await script_access(conn, script_id, write=True)
        await store.get_heading(conn, script_id, heading_id)
        references = {name: fields[name] for name in REFERENCE_FIELDS if fields[name] is not None}
        if references:
            with access.acting():  # a line names only parts of the script's owner
                await check_references(self.upstreams, references, fields["characterId"] or 0)
        columns = {column: stored(name, fields[name]) for name, column in ELEMENT_COLUMNS.items()}
        row = await line_store.insert_line(conn, script_id, heading_id, body.position, {"kind": kind, **columns})
        return Reply(line_record(row), location=line_url(row), etag=etag(row))

    async def list_lines(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, limit: int, offset: int
    ) -> StoryLinePage:
        await script_access(conn, script_id)
        await store.get_heading(conn, script_id, heading_id)
        page = await fetch_page(conn, line_store.lines_query(heading_id), limit=limit, offset=offset)
        return StoryLinePage(items=[line_record(r) for r in page.rows], total=page.total, limit=limit, offset=offset)

    async def get_line(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, line_id: int
    ) -> Reply[StoryLine]:
        await script_access(conn, script_id)
        row = await line_store.get_line(conn, script_id, heading_id, line_id)
        return Reply(line_record(row), etag=etag(row))

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
        access = await script_access(conn, script_id, write=True)
        if given.get("dual"):
            # Pairing depends on the lines around it: run one at a time with moves, inserts and deletes.
            await store.get_script(conn, script_id, lock=True)
        line = await line_store.get_line(conn, script_id, heading_id, line_id, lock=True)
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
            with access.acting():  # a line names only parts of the script's owner
                await check_references(self.upstreams, references, after["characterId"] or 0)
        if after["dual"] and not current["dual"]:
            await dual_dialogue.check_dual_partner(conn, heading_id, int(line["position"]))
        row = await line_store.update_line(conn, line, {ELEMENT_COLUMNS[name]: value for name, value in given.items()})
        if after["dual"] and not current["dual"]:
            # A dual dialogue just after it would now follow a dual dialogue.
            await dual_dialogue.check_dual_pairs(conn, [heading_id], f"Making line {line_id} dual")
        return Reply(line_record(row), etag=etag(row))

    async def delete_line(
        self, conn: AsyncConnection, *, script_id: int, heading_id: int, line_id: int, if_match: Optional[str]
    ) -> None:
        await script_access(conn, script_id, write=True)
        await line_store.delete_line(conn, script_id, heading_id, line_id, if_match)

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
        await script_access(conn, script_id, write=True)
        row = await line_store.move_line(conn, script_id, heading_id, line_id, body.position, body.headingId, if_match)
        return Reply(line_record(row), etag=etag(row))

    # --- shares ------------------------------------------------------------------------------------
    async def list_shares(self, conn: AsyncConnection, *, script_id: int, limit: int, offset: int) -> SharePage:
        await script_access(conn, script_id, owners_only=SHARING)
        page = await fetch_page(conn, store.shares_query(script_id), limit=limit, offset=offset)
        items = [Share(account=r["account"], role=r["role"]) for r in page.rows]
        return SharePage(items=items, total=page.total, limit=limit, offset=offset)

    async def share_script(
        self, conn: AsyncConnection, *, script_id: int, account: str, body: ShareUpdate
    ) -> Reply[Share]:
        access = await script_access(conn, script_id, owners_only=SHARING)
        if account == access.owner:
            message = f"{account} owns script {script_id}; a script is shared with other accounts."
            raise invalid(message, [{"location": "path.account", "message": message}])
        created = await store.put_share(conn, script_id, account, body.role.value)
        share = Share(account=account, role=body.role)
        if created:
            return Reply(share, status=201, location=f"{script_url(script_id)}/shares/{account}")
        return Reply(share)

    async def unshare_script(self, conn: AsyncConnection, *, script_id: int, account: str) -> None:
        await script_access(conn, script_id, owners_only=SHARING)
        if not await store.delete_share(conn, script_id, account):
            raise not_found(f"Script {script_id} is not shared with {account}.")
