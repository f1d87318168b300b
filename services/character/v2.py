"""Character Management /v2: characters, actions and spoken words with filters, sorting, pages,
ETags and Idempotency-Key, and the paraphrases of each. The three kinds behave alike: each operation
names its kind (a `store.Parent`) and its record model, and shares the rest."""

from collections.abc import Callable, Collection
from typing import Any, Optional, TypeVar

from pydantic import BaseModel, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.database import Row
from fountain_common.etags import etag
from fountain_common.pagination import fetch_page
from fountain_common.problems import invalid
from fountain_common.routes import Reply

from . import store
from .generated.api import Operations
from .generated.models import (
    ActionCreate,
    ActionPage,
    ActionRecord,
    ActionUpdate,
    BatchCreate,
    BatchCreated,
    BatchDelete,
    CharacterCreate,
    CharacterPage,
    CharacterRecord,
    CharacterUpdate,
    ParaphraseCreate,
    ParaphrasePage,
    ParaphraseRecord,
    ParaphraseUpdate,
    SpokenWordCreate,
    SpokenWordPage,
    SpokenWordRecord,
    SpokenWordUpdate,
)
from .records import (
    ACTION_JSON,
    ACTION_PAGE_JSON,
    CHARACTER_JSON,
    CHARACTER_PAGE_JSON,
    SPOKEN_WORD_JSON,
    SPOKEN_WORD_PAGE_JSON,
    J,
    action_fields,
    action_record,
    character_fields,
    character_record,
    page_json,
    paraphrase_record,
    spoken_word_fields,
    spoken_word_record,
)
from .store import ACTION, CHARACTER, SPOKEN_WORD, Parent

M = TypeVar("M", bound=BaseModel)
Record = Callable[[Row], M]

PATHS = {"character": "/v2/characters", "action": "/v2/actions", "spokenWord": "/v2/spokenWords"}


def _changes(body: BaseModel) -> dict[str, Any]:
    """The fields a PATCH body sets. Leaving a field out keeps it; null is not a value any field takes."""
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise invalid("Give at least one field to change.")
    if nulls := sorted(name for name, value in changes.items() if value is None):
        raise invalid(
            f"body.{nulls[0]}: may not be null; leave the field out to keep its value.",
            [{"location": f"body.{name}", "message": "may not be null"} for name in nulls],
        )
    return changes


# --- the same for every kind -----------------------------------------------------------------------
async def _page(
    conn: AsyncConnection,
    parent: Parent,
    ids: Optional[Collection[int]],
    contains: Optional[str],
    sort: str,
    limit: int,
    offset: int,
) -> tuple[list[Row], int]:
    page = await fetch_page(
        conn, store.list_query(parent, ids=ids, contains=contains, sort=sort), limit=limit, offset=offset
    )
    return page.rows, page.total


async def _add(conn: AsyncConnection, parent: Parent, values: dict[str, Any], record: Record[M]) -> Reply[M]:
    row = await store.insert(conn, parent, values)
    return Reply(record(row), location=f"{PATHS[parent.original_type]}/{row['id']}", etag=etag(row))


async def _get(
    conn: AsyncConnection, parent: Parent, item_id: int, adapter: TypeAdapter[J], fields: Callable[[Row], J]
) -> Reply[Any]:
    """One record, serialized straight from its row as list pages are (a model costs more than the read)."""
    row = await store.get(conn, parent, item_id)
    return Reply(json=adapter.dump_json(fields(row)), etag=etag(row))


async def _change(
    conn: AsyncConnection, parent: Parent, item_id: int, if_match: Optional[str], body: BaseModel, record: Record[M]
) -> Reply[M]:
    row = await store.change(conn, parent, item_id, _changes(body), if_match)
    return Reply(record(row), etag=etag(row))


async def _search_paraphrases(
    conn: AsyncConnection,
    parent: Parent,
    parent_id: int,
    ids: Optional[Collection[int]],
    text_contains: Optional[str],
    sort: str,
    limit: int,
    offset: int,
) -> ParaphrasePage:
    await store.get(conn, parent, parent_id)
    query = store.paraphrase_query(parent, parent_id, ids=ids, contains=text_contains, sort=sort)
    page = await fetch_page(conn, query, limit=limit, offset=offset)
    items = [paraphrase_record(parent, r) for r in page.rows]
    return ParaphrasePage(items=items, total=page.total, limit=limit, offset=offset)


async def _add_paraphrase(
    conn: AsyncConnection, parent: Parent, parent_id: int, body: ParaphraseCreate
) -> Reply[ParaphraseRecord]:
    row = await store.insert_paraphrase(conn, parent, parent_id, text=body.text, commentary=body.commentary)
    location = f"{PATHS[parent.original_type]}/{parent_id}/paraphrases/{row['id']}"
    return Reply(paraphrase_record(parent, row), location=location, etag=etag(row))


async def _get_paraphrase(
    conn: AsyncConnection, parent: Parent, parent_id: int, paraphrase_id: int
) -> Reply[ParaphraseRecord]:
    row = await store.get_paraphrase(conn, parent, parent_id, paraphrase_id)
    return Reply(paraphrase_record(parent, row), etag=etag(row))


async def _change_paraphrase(
    conn: AsyncConnection,
    parent: Parent,
    parent_id: int,
    paraphrase_id: int,
    if_match: Optional[str],
    body: ParaphraseUpdate,
) -> Reply[ParaphraseRecord]:
    row = await store.change_paraphrase(conn, parent, parent_id, paraphrase_id, _changes(body), if_match)
    return Reply(paraphrase_record(parent, row), etag=etag(row))


class CharacterV2(Operations):
    # --- many at once ------------------------------------------------------------------------------
    async def add_batch(self, conn: AsyncConnection, *, body: BatchCreate) -> BatchCreated:
        # A name given twice is one character: the first entry's description wins.
        first_of_name: dict[str, dict[str, Any]] = {}
        for character in body.characters:
            first_of_name.setdefault(character.name, character.model_dump())
        characters = await store.insert_many(conn, CHARACTER, list(first_of_name.values()))
        by_name = {row["name"]: character_record(row) for row in characters}
        actions = await store.insert_many(conn, ACTION, [action.model_dump() for action in body.actions])
        spoken_words = await store.insert_many(conn, SPOKEN_WORD, [words.model_dump() for words in body.spokenWords])
        return BatchCreated(
            characters=[by_name[character.name] for character in body.characters],
            actions=[action_record(row) for row in actions],
            spokenWords=[spoken_word_record(row) for row in spoken_words],
        )

    async def delete_batch(self, conn: AsyncConnection, *, body: BatchDelete) -> None:
        await store.delete_many(conn, CHARACTER, {item.root for item in body.characterIds})
        await store.delete_many(conn, ACTION, {item.root for item in body.actionIds})
        await store.delete_many(conn, SPOKEN_WORD, {item.root for item in body.spokenWordIds})

    # --- characters --------------------------------------------------------------------------------
    async def search_characters(
        self,
        conn: AsyncConnection,
        *,
        ids: Optional[set[int]],
        name_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> Reply[CharacterPage]:
        rows, total = await _page(conn, CHARACTER, ids, name_contains, sort, limit, offset)
        return Reply(json=page_json(CHARACTER_PAGE_JSON, character_fields, rows, total, limit, offset))

    async def add_character(self, conn: AsyncConnection, *, body: CharacterCreate) -> Reply[CharacterRecord]:
        return await _add(conn, CHARACTER, body.model_dump(), character_record)

    async def get_character(self, conn: AsyncConnection, *, character_id: int) -> Reply[CharacterRecord]:
        return await _get(conn, CHARACTER, character_id, CHARACTER_JSON, character_fields)

    async def update_character(
        self, conn: AsyncConnection, *, character_id: int, if_match: Optional[str], body: CharacterUpdate
    ) -> Reply[CharacterRecord]:
        return await _change(conn, CHARACTER, character_id, if_match, body, character_record)

    async def delete_character(self, conn: AsyncConnection, *, character_id: int, if_match: Optional[str]) -> None:
        await store.remove(conn, CHARACTER, character_id, if_match)

    # --- actions -----------------------------------------------------------------------------------
    async def search_actions(
        self,
        conn: AsyncConnection,
        *,
        ids: Optional[set[int]],
        description_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> Reply[ActionPage]:
        rows, total = await _page(conn, ACTION, ids, description_contains, sort, limit, offset)
        return Reply(json=page_json(ACTION_PAGE_JSON, action_fields, rows, total, limit, offset))

    async def add_action(self, conn: AsyncConnection, *, body: ActionCreate) -> Reply[ActionRecord]:
        return await _add(conn, ACTION, body.model_dump(), action_record)

    async def get_action(self, conn: AsyncConnection, *, action_id: int) -> Reply[ActionRecord]:
        return await _get(conn, ACTION, action_id, ACTION_JSON, action_fields)

    async def update_action(
        self, conn: AsyncConnection, *, action_id: int, if_match: Optional[str], body: ActionUpdate
    ) -> Reply[ActionRecord]:
        return await _change(conn, ACTION, action_id, if_match, body, action_record)

    async def delete_action(self, conn: AsyncConnection, *, action_id: int, if_match: Optional[str]) -> None:
        await store.remove(conn, ACTION, action_id, if_match)

    # --- spoken words ------------------------------------------------------------------------------
    async def search_spoken_words(
        self,
        conn: AsyncConnection,
        *,
        ids: Optional[set[int]],
        text_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> Reply[SpokenWordPage]:
        rows, total = await _page(conn, SPOKEN_WORD, ids, text_contains, sort, limit, offset)
        return Reply(json=page_json(SPOKEN_WORD_PAGE_JSON, spoken_word_fields, rows, total, limit, offset))

    async def add_spoken_word(self, conn: AsyncConnection, *, body: SpokenWordCreate) -> Reply[SpokenWordRecord]:
        return await _add(conn, SPOKEN_WORD, body.model_dump(), spoken_word_record)

    async def get_spoken_word(self, conn: AsyncConnection, *, spoken_word_id: int) -> Reply[SpokenWordRecord]:
        return await _get(conn, SPOKEN_WORD, spoken_word_id, SPOKEN_WORD_JSON, spoken_word_fields)

    async def update_spoken_word(
        self, conn: AsyncConnection, *, spoken_word_id: int, if_match: Optional[str], body: SpokenWordUpdate
    ) -> Reply[SpokenWordRecord]:
        return await _change(conn, SPOKEN_WORD, spoken_word_id, if_match, body, spoken_word_record)

    async def delete_spoken_word(self, conn: AsyncConnection, *, spoken_word_id: int, if_match: Optional[str]) -> None:
        await store.remove(conn, SPOKEN_WORD, spoken_word_id, if_match)

    # --- paraphrases of each kind ------------------------------------------------------------------
    async def search_character_paraphrases(
        self,
        conn: AsyncConnection,
        *,
        character_id: int,
        ids: Optional[set[int]],
        text_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> ParaphrasePage:
        return await _search_paraphrases(conn, CHARACTER, character_id, ids, text_contains, sort, limit, offset)

    async def add_character_paraphrase(
        self, conn: AsyncConnection, *, character_id: int, body: ParaphraseCreate
    ) -> Reply[ParaphraseRecord]:
        return await _add_paraphrase(conn, CHARACTER, character_id, body)

    async def get_character_paraphrase(
        self, conn: AsyncConnection, *, character_id: int, paraphrase_id: int
    ) -> Reply[ParaphraseRecord]:
        return await _get_paraphrase(conn, CHARACTER, character_id, paraphrase_id)

    async def update_character_paraphrase(
        self,
        conn: AsyncConnection,
        *,
        character_id: int,
        paraphrase_id: int,
        if_match: Optional[str],
        body: ParaphraseUpdate,
    ) -> Reply[ParaphraseRecord]:
        return await _change_paraphrase(conn, CHARACTER, character_id, paraphrase_id, if_match, body)

    async def delete_character_paraphrase(
        self, conn: AsyncConnection, *, character_id: int, paraphrase_id: int, if_match: Optional[str]
    ) -> None:
        await store.remove_paraphrase(conn, CHARACTER, character_id, paraphrase_id, if_match)

    async def search_action_paraphrases(
        self,
        conn: AsyncConnection,
        *,
        action_id: int,
        ids: Optional[set[int]],
        text_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> ParaphrasePage:
        return await _search_paraphrases(conn, ACTION, action_id, ids, text_contains, sort, limit, offset)

    async def add_action_paraphrase(
        self, conn: AsyncConnection, *, action_id: int, body: ParaphraseCreate
    ) -> Reply[ParaphraseRecord]:
        return await _add_paraphrase(conn, ACTION, action_id, body)

    async def get_action_paraphrase(
        self, conn: AsyncConnection, *, action_id: int, paraphrase_id: int
    ) -> Reply[ParaphraseRecord]:
        return await _get_paraphrase(conn, ACTION, action_id, paraphrase_id)

    async def update_action_paraphrase(
        self,
        conn: AsyncConnection,
        *,
        action_id: int,
        paraphrase_id: int,
        if_match: Optional[str],
        body: ParaphraseUpdate,
    ) -> Reply[ParaphraseRecord]:
        return await _change_paraphrase(conn, ACTION, action_id, paraphrase_id, if_match, body)

    async def delete_action_paraphrase(
        self, conn: AsyncConnection, *, action_id: int, paraphrase_id: int, if_match: Optional[str]
    ) -> None:
        await store.remove_paraphrase(conn, ACTION, action_id, paraphrase_id, if_match)

    async def search_spoken_word_paraphrases(
        self,
        conn: AsyncConnection,
        *,
        spoken_word_id: int,
        ids: Optional[set[int]],
        text_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> ParaphrasePage:
        return await _search_paraphrases(conn, SPOKEN_WORD, spoken_word_id, ids, text_contains, sort, limit, offset)

    async def add_spoken_word_paraphrase(
        self, conn: AsyncConnection, *, spoken_word_id: int, body: ParaphraseCreate
    ) -> Reply[ParaphraseRecord]:
        return await _add_paraphrase(conn, SPOKEN_WORD, spoken_word_id, body)

    async def get_spoken_word_paraphrase(
        self, conn: AsyncConnection, *, spoken_word_id: int, paraphrase_id: int
    ) -> Reply[ParaphraseRecord]:
        return await _get_paraphrase(conn, SPOKEN_WORD, spoken_word_id, paraphrase_id)

    async def update_spoken_word_paraphrase(
        self,
        conn: AsyncConnection,
        *,
        spoken_word_id: int,
        paraphrase_id: int,
        if_match: Optional[str],
        body: ParaphraseUpdate,
    ) -> Reply[ParaphraseRecord]:
        return await _change_paraphrase(conn, SPOKEN_WORD, spoken_word_id, paraphrase_id, if_match, body)

    async def delete_spoken_word_paraphrase(
        self, conn: AsyncConnection, *, spoken_word_id: int, paraphrase_id: int, if_match: Optional[str]
    ) -> None:
        await store.remove_paraphrase(conn, SPOKEN_WORD, spoken_word_id, paraphrase_id, if_match)
