"""Character Management /v1: the upstream contract's characters, actions, spoken words and
paraphrases, over the same tables as /v2 (store.py)."""

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.database import Row
from fountain_common.problems import invalid

from . import store
from .generated.api import Operations
from .generated.models import (
    Action,
    ActionCreateRequest,
    Character,
    CharacterCreateRequest,
    Paraphrase,
    ParaphraseCreateRequest,
    SpokenWord,
    SpokenWordCreateRequest,
)
from .store import ACTION, CHARACTER, SPOKEN_WORD, Parent

M = TypeVar("M", bound=BaseModel)


def _character(row: Row) -> Character:
    return Character(characterId=row["id"], name=row["name"], description=row["description"])


def _action(row: Row) -> Action:
    return Action(actionId=row["id"], description=row["description"])


def _spoken_word(row: Row) -> SpokenWord:
    return SpokenWord(dialogueId=row["id"], text=row["text"])


def _paraphrase(parent: Parent, row: Row) -> Paraphrase:
    return Paraphrase(
        paraphraseId=row["id"],
        originalId=row[parent.paraphrase_column.name],
        text=row["text"],
        commentary=row["commentary"],
    )


async def _list_all(conn: AsyncConnection, parent: Parent, model: Callable[[Row], M]) -> list[M]:
    return [model(row) for row in (await conn.execute(store.list_query(parent))).mappings()]


async def _paraphrases(conn: AsyncConnection, parent: Parent, parent_id: int) -> list[Paraphrase]:
    await store.get(conn, parent, parent_id)
    rows = (await conn.execute(store.paraphrase_query(parent, parent_id))).mappings()
    return [_paraphrase(parent, row) for row in rows]


async def _add_paraphrase(
    conn: AsyncConnection, parent: Parent, parent_id: int, body: ParaphraseCreateRequest
) -> Paraphrase:
    if body.originalId != parent_id:
        raise invalid(
            f"originalId {body.originalId} does not match the {parent.label.lower()} in the path ({parent_id}); "
            "the path names the original.",
            [{"location": "body.originalId", "message": f"must equal the path's id, {parent_id}"}],
        )
    row = await store.insert_paraphrase(conn, parent, parent_id, text=body.text, commentary=body.commentary)
    return _paraphrase(parent, row)


class CharacterV1(Operations):
    async def list_characters(self, conn: AsyncConnection) -> list[Character]:
        return await _list_all(conn, CHARACTER, _character)

    async def create_character(self, conn: AsyncConnection, *, body: CharacterCreateRequest) -> Character:
        return _character(await store.insert(conn, CHARACTER, {"name": body.name, "description": body.description}))

    async def list_actions(self, conn: AsyncConnection) -> list[Action]:
        return await _list_all(conn, ACTION, _action)

    async def create_action(self, conn: AsyncConnection, *, body: ActionCreateRequest) -> Action:
        return _action(await store.insert(conn, ACTION, {"description": body.description}))

    async def list_spoken_words(self, conn: AsyncConnection) -> list[SpokenWord]:
        return await _list_all(conn, SPOKEN_WORD, _spoken_word)

    async def create_spoken_word(self, conn: AsyncConnection, *, body: SpokenWordCreateRequest) -> SpokenWord:
        return _spoken_word(await store.insert(conn, SPOKEN_WORD, {"text": body.text}))

    async def list_character_paraphrases(self, conn: AsyncConnection, *, character_id: int) -> list[Paraphrase]:
        return await _paraphrases(conn, CHARACTER, character_id)

    async def create_character_paraphrase(
        self, conn: AsyncConnection, *, character_id: int, body: ParaphraseCreateRequest
    ) -> Paraphrase:
        return await _add_paraphrase(conn, CHARACTER, character_id, body)

    async def list_action_paraphrases(self, conn: AsyncConnection, *, action_id: int) -> list[Paraphrase]:
        return await _paraphrases(conn, ACTION, action_id)

    async def create_action_paraphrase(
        self, conn: AsyncConnection, *, action_id: int, body: ParaphraseCreateRequest
    ) -> Paraphrase:
        return await _add_paraphrase(conn, ACTION, action_id, body)

    async def list_spoken_word_paraphrases(self, conn: AsyncConnection, *, spoken_word_id: int) -> list[Paraphrase]:
        return await _paraphrases(conn, SPOKEN_WORD, spoken_word_id)

    async def create_spoken_word_paraphrase(
        self, conn: AsyncConnection, *, spoken_word_id: int, body: ParaphraseCreateRequest
    ) -> Paraphrase:
        return await _add_paraphrase(conn, SPOKEN_WORD, spoken_word_id, body)
