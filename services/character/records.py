"""Character Management's rows as the records of its spec.

A list page and a single read are serialized straight from their rows: a model per row costs more
CPU than the rest of reading the hundreds of records a story asks for at once, or one by its id.
The typed dicts below mirror the records field for field (tests compare the two byte for byte); the
rows already keep every constraint the models check. Writes answer through the models.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter
from typing_extensions import TypedDict

from fountain_common.database import Row

from .generated.models import ActionRecord, CharacterRecord, ParaphraseRecord, SpokenWordRecord
from .store import Parent


class CharacterJson(TypedDict):
    characterId: int
    name: str
    description: str
    revision: int
    createdAt: datetime
    updatedAt: datetime


class ActionJson(TypedDict):
    actionId: int
    description: str
    revision: int
    createdAt: datetime
    updatedAt: datetime


class SpokenWordJson(TypedDict):
    spokenWordId: int
    text: str
    revision: int
    createdAt: datetime
    updatedAt: datetime


J = TypeVar("J", CharacterJson, ActionJson, SpokenWordJson)


class PageJson(TypedDict, Generic[J]):
    items: list[J]
    total: int
    limit: int
    offset: int


CHARACTER_JSON = TypeAdapter(CharacterJson)
ACTION_JSON = TypeAdapter(ActionJson)
SPOKEN_WORD_JSON = TypeAdapter(SpokenWordJson)
CHARACTER_PAGE_JSON = TypeAdapter(PageJson[CharacterJson])
ACTION_PAGE_JSON = TypeAdapter(PageJson[ActionJson])
SPOKEN_WORD_PAGE_JSON = TypeAdapter(PageJson[SpokenWordJson])


def character_fields(row: Row) -> CharacterJson:
    return {
        "characterId": row["id"],
        "name": row["name"],
        "description": row["description"],
        "revision": row["revision"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def action_fields(row: Row) -> ActionJson:
    return {
        "actionId": row["id"],
        "description": row["description"],
        "revision": row["revision"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def spoken_word_fields(row: Row) -> SpokenWordJson:
    return {
        "spokenWordId": row["id"],
        "text": row["text"],
        "revision": row["revision"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }


def tracking(row: Row) -> dict[str, Any]:
    return {"revision": row["revision"], "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def character_record(row: Row) -> CharacterRecord:
    return CharacterRecord.model_validate(character_fields(row))


def action_record(row: Row) -> ActionRecord:
    return ActionRecord.model_validate(action_fields(row))


def spoken_word_record(row: Row) -> SpokenWordRecord:
    return SpokenWordRecord.model_validate(spoken_word_fields(row))


def page_json(
    adapter: TypeAdapter[PageJson[J]], fields: Callable[[Row], J], rows: list[Row], total: int, limit: int, offset: int
) -> bytes:
    return adapter.dump_json({"items": [fields(row) for row in rows], "total": total, "limit": limit, "offset": offset})


def paraphrase_record(parent: Parent, row: Row) -> ParaphraseRecord:
    return ParaphraseRecord(
        paraphraseId=row["id"],
        originalType=parent.original_type,
        originalId=row[parent.paraphrase_column.name],
        text=row["text"],
        commentary=row["commentary"],
        **tracking(row),
    )
