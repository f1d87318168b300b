"""Core Script Management /v2's answers built from rows: the models a script, a section heading and a
story line are answered as, a script's whole content serialized straight from its rows, and the URLs
of each resource (Location headers)."""

from typing import Optional

from pydantic import TypeAdapter
from sqlalchemy.engine import RowMapping
from typing_extensions import TypedDict

from .elements import joined_extensions
from .generated.models import Orchestration, ScriptAccess, ScriptRecord, Section, StoryLine, TitlePage, TitlePageEntry


def script_record(row: RowMapping, access: str) -> ScriptRecord:
    """The /v2 script of a row, with what the caller may do with it (access.py)."""
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
        owner=row["owner"],
        access=ScriptAccess(access),
    )


def section_record(row: RowMapping) -> Section:
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
class ParentheticalJson(TypedDict):
    beforeLine: int
    text: str


class LineJson(TypedDict):
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
    parentheticals: list[ParentheticalJson]
    text: Optional[str]
    dual: bool
    depth: Optional[int]
    revision: int


class SectionContentJson(TypedDict):
    headingId: int
    scriptId: int
    title: str
    sceneNumber: Optional[str]
    sequenceNumber: int
    revision: int
    lines: list[LineJson]


class ScriptContentJson(TypedDict):
    script: ScriptRecord
    sections: list[SectionContentJson]


SCRIPT_CONTENT_JSON = TypeAdapter(ScriptContentJson)


def line_fields(row: RowMapping) -> LineJson:
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


def line_record(row: RowMapping) -> StoryLine:
    return StoryLine.model_validate(line_fields(row))


def script_url(script_id: int) -> str:
    return f"/v2/scripts/{script_id}"


def section_url(row: RowMapping) -> str:
    return f"{script_url(row['script_id'])}/sections/{row['id']}"


def line_url(row: RowMapping) -> str:
    return f"{script_url(row['script_id'])}/sections/{row['heading_id']}/lines/{row['id']}"
