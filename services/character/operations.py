"""The Character Management Service's operations: HTTP models in, store.py queries out.

Characters, actions and spoken words behave alike, and so do their paraphrases; each operation
below names its kind (a `store.Parent`) and its models, and shares the rest.
"""

from collections.abc import Awaitable, Callable
from typing import Any, Optional, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.database import run_in_transaction
from fountain_common.etags import etag
from fountain_common.operations import RequestScope
from fountain_common.pagination import fetch_page
from fountain_common.problems import invalid

from . import store
from .generated.api import Operations
from .generated.models import (
    Action,
    ActionCreate,
    ActionCreateRequest,
    ActionPage,
    ActionRecord,
    ActionUpdate,
    Character,
    CharacterCreate,
    CharacterCreateRequest,
    CharacterPage,
    CharacterRecord,
    CharacterUpdate,
    Paraphrase,
    ParaphraseCreate,
    ParaphraseCreateRequest,
    ParaphrasePage,
    ParaphraseRecord,
    ParaphraseUpdate,
    SpokenWord,
    SpokenWordCreate,
    SpokenWordCreateRequest,
    SpokenWordPage,
    SpokenWordRecord,
    SpokenWordUpdate,
)
from .store import ACTION, CHARACTER, SPOKEN_WORD, Parent

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)

V2_PATHS = {"character": "/v2/characters", "action": "/v2/actions", "spokenWord": "/v2/spokenWords"}


# --- rows to models ------------------------------------------------------------------------------
def _character(row: RowMapping) -> Character:
    return Character(characterId=row["id"], name=row["name"], description=row["description"])


def _action(row: RowMapping) -> Action:
    return Action(actionId=row["id"], description=row["description"])


def _spoken_word(row: RowMapping) -> SpokenWord:
    return SpokenWord(dialogueId=row["id"], text=row["text"])


def _tracking(row: RowMapping) -> dict[str, Any]:
    return {"revision": row["revision"], "createdAt": row["created_at"], "updatedAt": row["updated_at"]}


def _character_record(row: RowMapping) -> CharacterRecord:
    return CharacterRecord(characterId=row["id"], name=row["name"], description=row["description"], **_tracking(row))


def _action_record(row: RowMapping) -> ActionRecord:
    return ActionRecord(actionId=row["id"], description=row["description"], **_tracking(row))


def _spoken_word_record(row: RowMapping) -> SpokenWordRecord:
    return SpokenWordRecord(spokenWordId=row["id"], text=row["text"], **_tracking(row))


def _paraphrase(parent: Parent, row: RowMapping) -> Paraphrase:
    return Paraphrase(
        paraphraseId=row["id"],
        originalId=row[parent.paraphrase_column.name],
        text=row["text"],
        commentary=row["commentary"],
    )


def _paraphrase_record(parent: Parent, row: RowMapping) -> ParaphraseRecord:
    return ParaphraseRecord(
        paraphraseId=row["id"],
        originalType=parent.original_type,
        originalId=row[parent.paraphrase_column.name],
        text=row["text"],
        commentary=row["commentary"],
        **_tracking(row),
    )


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


class CharacterOperations(RequestScope, Operations):
    # --- v1: characters, actions, spoken words ---------------------------------------------------
    async def list_characters(self) -> list[Character]:
        return await self._list_all(CHARACTER, _character)

    async def create_character(self, *, body: CharacterCreateRequest) -> Character:
        return _character(await self._create(CHARACTER, {"name": body.name, "description": body.description}))

    async def list_actions(self) -> list[Action]:
        return await self._list_all(ACTION, _action)

    async def create_action(self, *, body: ActionCreateRequest) -> Action:
        return _action(await self._create(ACTION, {"description": body.description}))

    async def list_spoken_words(self) -> list[SpokenWord]:
        return await self._list_all(SPOKEN_WORD, _spoken_word)

    async def create_spoken_word(self, *, body: SpokenWordCreateRequest) -> SpokenWord:
        return _spoken_word(await self._create(SPOKEN_WORD, {"text": body.text}))

    # --- v1: paraphrases -------------------------------------------------------------------------
    async def list_character_paraphrases(self, *, character_id: int) -> list[Paraphrase]:
        return await self._list_paraphrases(CHARACTER, character_id)

    async def create_character_paraphrase(self, *, character_id: int, body: ParaphraseCreateRequest) -> Paraphrase:
        return await self._create_paraphrase(CHARACTER, character_id, body)

    async def list_action_paraphrases(self, *, action_id: int) -> list[Paraphrase]:
        return await self._list_paraphrases(ACTION, action_id)

    async def create_action_paraphrase(self, *, action_id: int, body: ParaphraseCreateRequest) -> Paraphrase:
        return await self._create_paraphrase(ACTION, action_id, body)

    async def list_spoken_word_paraphrases(self, *, spoken_word_id: int) -> list[Paraphrase]:
        return await self._list_paraphrases(SPOKEN_WORD, spoken_word_id)

    async def create_spoken_word_paraphrase(self, *, spoken_word_id: int, body: ParaphraseCreateRequest) -> Paraphrase:
        return await self._create_paraphrase(SPOKEN_WORD, spoken_word_id, body)

    # --- v2: characters ----------------------------------------------------------------------------
    async def search_characters(
        self, *, ids: Optional[str], name_contains: Optional[str], sort: str, limit: int, offset: int
    ) -> CharacterPage:
        query = store.list_query(
            CHARACTER, ids=self.id_filter("ids", max_ids=store.IDS_MAX), contains=name_contains, sort=sort
        )
        rows, total = await self._page(query, limit, offset)
        return CharacterPage(items=[_character_record(r) for r in rows], total=total, limit=limit, offset=offset)

    async def add_character(self, *, idempotency_key: Optional[str], body: CharacterCreate) -> CharacterRecord:
        return await self._add(CHARACTER, idempotency_key, body, body.model_dump(), CharacterRecord, _character_record)

    async def get_character(self, *, character_id: int) -> CharacterRecord:
        return _character_record(await self._get(CHARACTER, character_id))

    async def update_character(
        self, *, character_id: int, if_match: Optional[str], body: CharacterUpdate
    ) -> CharacterRecord:
        return _character_record(await self._change(CHARACTER, character_id, if_match, body))

    async def delete_character(self, *, character_id: int, if_match: Optional[str]) -> None:
        await self._remove(CHARACTER, character_id, if_match)

    # --- v2: actions -------------------------------------------------------------------------------
    async def search_actions(
        self, *, ids: Optional[str], description_contains: Optional[str], sort: str, limit: int, offset: int
    ) -> ActionPage:
        query = store.list_query(
            ACTION, ids=self.id_filter("ids", max_ids=store.IDS_MAX), contains=description_contains, sort=sort
        )
        rows, total = await self._page(query, limit, offset)
        return ActionPage(items=[_action_record(r) for r in rows], total=total, limit=limit, offset=offset)

    async def add_action(self, *, idempotency_key: Optional[str], body: ActionCreate) -> ActionRecord:
        return await self._add(ACTION, idempotency_key, body, body.model_dump(), ActionRecord, _action_record)

    async def get_action(self, *, action_id: int) -> ActionRecord:
        return _action_record(await self._get(ACTION, action_id))

    async def update_action(self, *, action_id: int, if_match: Optional[str], body: ActionUpdate) -> ActionRecord:
        return _action_record(await self._change(ACTION, action_id, if_match, body))

    async def delete_action(self, *, action_id: int, if_match: Optional[str]) -> None:
        await self._remove(ACTION, action_id, if_match)

    # --- v2: spoken words --------------------------------------------------------------------------
    async def search_spoken_words(
        self, *, ids: Optional[str], text_contains: Optional[str], sort: str, limit: int, offset: int
    ) -> SpokenWordPage:
        query = store.list_query(
            SPOKEN_WORD, ids=self.id_filter("ids", max_ids=store.IDS_MAX), contains=text_contains, sort=sort
        )
        rows, total = await self._page(query, limit, offset)
        return SpokenWordPage(items=[_spoken_word_record(r) for r in rows], total=total, limit=limit, offset=offset)

    async def add_spoken_word(self, *, idempotency_key: Optional[str], body: SpokenWordCreate) -> SpokenWordRecord:
        return await self._add(
            SPOKEN_WORD, idempotency_key, body, body.model_dump(), SpokenWordRecord, _spoken_word_record
        )

    async def get_spoken_word(self, *, spoken_word_id: int) -> SpokenWordRecord:
        return _spoken_word_record(await self._get(SPOKEN_WORD, spoken_word_id))

    async def update_spoken_word(
        self, *, spoken_word_id: int, if_match: Optional[str], body: SpokenWordUpdate
    ) -> SpokenWordRecord:
        return _spoken_word_record(await self._change(SPOKEN_WORD, spoken_word_id, if_match, body))

    async def delete_spoken_word(self, *, spoken_word_id: int, if_match: Optional[str]) -> None:
        await self._remove(SPOKEN_WORD, spoken_word_id, if_match)

    # --- v2: paraphrases of each kind --------------------------------------------------------------
    async def search_character_paraphrases(
        self,
        *,
        character_id: int,
        ids: Optional[str],
        text_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> ParaphrasePage:
        return await self._search_paraphrases(CHARACTER, character_id, ids, text_contains, sort, limit, offset)

    async def add_character_paraphrase(
        self, *, character_id: int, idempotency_key: Optional[str], body: ParaphraseCreate
    ) -> ParaphraseRecord:
        return await self._add_paraphrase(CHARACTER, character_id, idempotency_key, body)

    async def get_character_paraphrase(self, *, character_id: int, paraphrase_id: int) -> ParaphraseRecord:
        return await self._get_paraphrase(CHARACTER, character_id, paraphrase_id)

    async def update_character_paraphrase(
        self, *, character_id: int, paraphrase_id: int, if_match: Optional[str], body: ParaphraseUpdate
    ) -> ParaphraseRecord:
        return await self._change_paraphrase(CHARACTER, character_id, paraphrase_id, if_match, body)

    async def delete_character_paraphrase(
        self, *, character_id: int, paraphrase_id: int, if_match: Optional[str]
    ) -> None:
        await self._remove_paraphrase(CHARACTER, character_id, paraphrase_id, if_match)

    async def search_action_paraphrases(
        self,
        *,
        action_id: int,
        ids: Optional[str],
        text_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> ParaphrasePage:
        return await self._search_paraphrases(ACTION, action_id, ids, text_contains, sort, limit, offset)

    async def add_action_paraphrase(
        self, *, action_id: int, idempotency_key: Optional[str], body: ParaphraseCreate
    ) -> ParaphraseRecord:
        return await self._add_paraphrase(ACTION, action_id, idempotency_key, body)

    async def get_action_paraphrase(self, *, action_id: int, paraphrase_id: int) -> ParaphraseRecord:
        return await self._get_paraphrase(ACTION, action_id, paraphrase_id)

    async def update_action_paraphrase(
        self, *, action_id: int, paraphrase_id: int, if_match: Optional[str], body: ParaphraseUpdate
    ) -> ParaphraseRecord:
        return await self._change_paraphrase(ACTION, action_id, paraphrase_id, if_match, body)

    async def delete_action_paraphrase(self, *, action_id: int, paraphrase_id: int, if_match: Optional[str]) -> None:
        await self._remove_paraphrase(ACTION, action_id, paraphrase_id, if_match)

    async def search_spoken_word_paraphrases(
        self,
        *,
        spoken_word_id: int,
        ids: Optional[str],
        text_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> ParaphrasePage:
        return await self._search_paraphrases(SPOKEN_WORD, spoken_word_id, ids, text_contains, sort, limit, offset)

    async def add_spoken_word_paraphrase(
        self, *, spoken_word_id: int, idempotency_key: Optional[str], body: ParaphraseCreate
    ) -> ParaphraseRecord:
        return await self._add_paraphrase(SPOKEN_WORD, spoken_word_id, idempotency_key, body)

    async def get_spoken_word_paraphrase(self, *, spoken_word_id: int, paraphrase_id: int) -> ParaphraseRecord:
        return await self._get_paraphrase(SPOKEN_WORD, spoken_word_id, paraphrase_id)

    async def update_spoken_word_paraphrase(
        self, *, spoken_word_id: int, paraphrase_id: int, if_match: Optional[str], body: ParaphraseUpdate
    ) -> ParaphraseRecord:
        return await self._change_paraphrase(SPOKEN_WORD, spoken_word_id, paraphrase_id, if_match, body)

    async def delete_spoken_word_paraphrase(
        self, *, spoken_word_id: int, paraphrase_id: int, if_match: Optional[str]
    ) -> None:
        await self._remove_paraphrase(SPOKEN_WORD, spoken_word_id, paraphrase_id, if_match)

    # --- shared by the kinds -----------------------------------------------------------------------
    async def _list_all(self, parent: Parent, model: Callable[[RowMapping], M]) -> list[M]:
        async with self.engine.connect() as conn:
            return [model(row) for row in (await conn.execute(store.list_query(parent))).mappings()]

    async def _create(self, parent: Parent, values: dict[str, Any]) -> RowMapping:
        row = await run_in_transaction(self.engine, lambda conn: store.insert(conn, parent, values))
        self.created()
        return row

    async def _list_paraphrases(self, parent: Parent, parent_id: int) -> list[Paraphrase]:
        async with self.engine.connect() as conn:
            await store.get(conn, parent, parent_id)
            rows = (await conn.execute(store.paraphrase_query(parent, parent_id))).mappings()
            return [_paraphrase(parent, row) for row in rows]

    async def _create_paraphrase(self, parent: Parent, parent_id: int, body: ParaphraseCreateRequest) -> Paraphrase:
        if body.originalId != parent_id:
            raise invalid(
                f"originalId {body.originalId} does not match the {parent.label.lower()} in the path ({parent_id}); "
                "the path names the original.",
                [{"location": "body.originalId", "message": f"must equal the path's id, {parent_id}"}],
            )
        row = await run_in_transaction(
            self.engine,
            lambda conn: store.insert_paraphrase(conn, parent, parent_id, text=body.text, commentary=body.commentary),
        )
        self.created()
        return _paraphrase(parent, row)

    async def _page(self, query: Select[Any], limit: int, offset: int) -> tuple[list[RowMapping], int]:
        async with self.engine.connect() as conn:
            page = await fetch_page(conn, query, limit=limit, offset=offset)
        return page.rows, page.total

    async def _idempotent_create(
        self,
        key: Optional[str],
        body: BaseModel,
        model: type[M],
        insert: Callable[[AsyncConnection], Awaitable[RowMapping]],
        answer: Callable[[RowMapping], tuple[M, str]],
    ) -> M:
        """Insert once per Idempotency-Key; answer 201 with Location and ETag (replayed on retries)."""

        async def work(conn: AsyncConnection) -> M:
            async def create() -> M:
                row = await insert(conn)
                result, location = answer(row)
                self.created(location)
                self.response.headers["ETag"] = etag(row)
                return result

            return await self.idempotent(conn, key, body, model, create)

        return await run_in_transaction(self.engine, work)

    async def _add(
        self,
        parent: Parent,
        key: Optional[str],
        body: BaseModel,
        values: dict[str, Any],
        model: type[M],
        record: Callable[[RowMapping], M],
    ) -> M:
        path = V2_PATHS[parent.original_type]
        return await self._idempotent_create(
            key,
            body,
            model,
            lambda conn: store.insert(conn, parent, values),
            lambda row: (record(row), f"{path}/{row['id']}"),
        )

    async def _get(self, parent: Parent, item_id: int) -> RowMapping:
        async with self.engine.connect() as conn:
            row = await store.get(conn, parent, item_id)
        self.response.headers["ETag"] = etag(row)
        return row

    async def _change(self, parent: Parent, item_id: int, if_match: Optional[str], body: BaseModel) -> RowMapping:
        changes = _changes(body)
        row = await run_in_transaction(self.engine, lambda conn: store.change(conn, parent, item_id, changes, if_match))
        self.response.headers["ETag"] = etag(row)
        return row

    async def _remove(self, parent: Parent, item_id: int, if_match: Optional[str]) -> None:
        await run_in_transaction(self.engine, lambda conn: store.remove(conn, parent, item_id, if_match))

    async def _search_paraphrases(
        self,
        parent: Parent,
        parent_id: int,
        ids: Optional[str],
        text_contains: Optional[str],
        sort: str,
        limit: int,
        offset: int,
    ) -> ParaphrasePage:
        query = store.paraphrase_query(
            parent, parent_id, ids=self.id_filter("ids", max_ids=store.IDS_MAX), contains=text_contains, sort=sort
        )
        async with self.engine.connect() as conn:
            await store.get(conn, parent, parent_id)
            page = await fetch_page(conn, query, limit=limit, offset=offset)
        items = [_paraphrase_record(parent, r) for r in page.rows]
        return ParaphrasePage(items=items, total=page.total, limit=limit, offset=offset)

    async def _add_paraphrase(
        self, parent: Parent, parent_id: int, key: Optional[str], body: ParaphraseCreate
    ) -> ParaphraseRecord:
        path = f"{V2_PATHS[parent.original_type]}/{parent_id}/paraphrases"
        return await self._idempotent_create(
            key,
            body,
            ParaphraseRecord,
            lambda conn: store.insert_paraphrase(conn, parent, parent_id, text=body.text, commentary=body.commentary),
            lambda row: (_paraphrase_record(parent, row), f"{path}/{row['id']}"),
        )

    async def _get_paraphrase(self, parent: Parent, parent_id: int, paraphrase_id: int) -> ParaphraseRecord:
        async with self.engine.connect() as conn:
            row = await store.get_paraphrase(conn, parent, parent_id, paraphrase_id)
        self.response.headers["ETag"] = etag(row)
        return _paraphrase_record(parent, row)

    async def _change_paraphrase(
        self, parent: Parent, parent_id: int, paraphrase_id: int, if_match: Optional[str], body: ParaphraseUpdate
    ) -> ParaphraseRecord:
        changes = _changes(body)
        row = await run_in_transaction(
            self.engine,
            lambda conn: store.change_paraphrase(conn, parent, parent_id, paraphrase_id, changes, if_match),
        )
        self.response.headers["ETag"] = etag(row)
        return _paraphrase_record(parent, row)

    async def _remove_paraphrase(
        self, parent: Parent, parent_id: int, paraphrase_id: int, if_match: Optional[str]
    ) -> None:
        await run_in_transaction(
            self.engine, lambda conn: store.remove_paraphrase(conn, parent, parent_id, paraphrase_id, if_match)
        )
