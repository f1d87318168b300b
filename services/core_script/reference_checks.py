"""The ids a story line (a screenplay element) names, checked with the services that own them.

As its kind takes them, a line names a character, an action and a spoken word (Character Management)
and a context (Session and Context); they are checked to exist whenever a line is written, and a
context to belong to the line's character.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel

from fountain_common.problems import invalid
from fountain_common.upstream import UpstreamRefused, Upstreams, upstream_service

from .generated.clients.character import CharacterClient
from .generated.clients.session_context import SessionContextClient
from .generated.clients.session_context_models import Context

Read = Callable[[Upstreams, int], Awaitable[BaseModel]]
# Where each id a line names lives: the service that owns it, and how to read it there.
LINE_REFERENCES: dict[str, tuple[str, Read]] = {
    "characterId": ("character", lambda upstreams, id_: CharacterClient(upstreams).get_character(character_id=id_)),
    "actionId": ("character", lambda upstreams, id_: CharacterClient(upstreams).get_action(action_id=id_)),
    "spokenWordId": (
        "character",
        lambda upstreams, id_: CharacterClient(upstreams).get_spoken_word(spoken_word_id=id_),
    ),
    "contextId": (
        "session_context",
        lambda upstreams, id_: SessionContextClient(upstreams).get_context(context_id=id_),
    ),
}


# The owners' bounds on ids per request: ids are asked for by list, a kind and a chunk at a time.
CHARACTER_IDS_PER_REQUEST = 500
CONTEXT_IDS_PER_REQUEST = 100


async def _existing(
    ids: set[int], per_request: int, read: Callable[[list[int]], Awaitable[dict[int, int]]]
) -> dict[int, int]:
    """Of `ids`, those the owner has (id -> its character, for contexts), every chunk asked at once."""
    ordered = sorted(ids)
    chunks = [ordered[start : start + per_request] for start in range(0, len(ordered), per_request)]
    found: dict[int, int] = {}
    for part in await asyncio.gather(*(read(chunk) for chunk in chunks)):
        found.update(part)
    return found


async def check_many_references(upstreams: Upstreams, lines: list[tuple[str, Mapping[str, Any]]]) -> None:
    """Every id the lines (location, fields) name must exist with its owner, and a context must belong
    to its line's character: one request per kind and chunk of ids, all at once. 422 names the first
    few lines at fault."""
    character = CharacterClient(upstreams)
    session_context = SessionContextClient(upstreams)

    async def characters(ids: list[int]) -> dict[int, int]:
        page = await character.search_characters(ids=ids, limit=CHARACTER_IDS_PER_REQUEST)
        return {item.characterId: 0 for item in page.items}

    async def actions(ids: list[int]) -> dict[int, int]:
        page = await character.search_actions(ids=ids, limit=CHARACTER_IDS_PER_REQUEST)
        return {item.actionId: 0 for item in page.items}

    async def spoken_words(ids: list[int]) -> dict[int, int]:
        page = await character.search_spoken_words(ids=ids, limit=CHARACTER_IDS_PER_REQUEST)
        return {item.spokenWordId: 0 for item in page.items}

    async def contexts(ids: list[int]) -> dict[int, int]:
        page = await session_context.list_contexts(context_id=ids, limit=CONTEXT_IDS_PER_REQUEST)
        return {item.contextId: item.characterId for item in page.items}

    readers = {
        "characterId": (characters, CHARACTER_IDS_PER_REQUEST),
        "actionId": (actions, CHARACTER_IDS_PER_REQUEST),
        "spokenWordId": (spoken_words, CHARACTER_IDS_PER_REQUEST),
        "contextId": (contexts, CONTEXT_IDS_PER_REQUEST),
    }
    wanted = {name: {fields[name] for _, fields in lines if fields.get(name) is not None} for name in readers}
    names = [name for name in readers if wanted[name]]
    found = dict(
        zip(
            names,
            await asyncio.gather(*(_existing(wanted[name], readers[name][1], readers[name][0]) for name in names)),
            strict=True,
        )
    )
    errors: list[dict[str, str]] = []
    for location, fields in lines:
        for name in names:
            value = fields.get(name)
            if value is None:
                continue
            if value not in found[name]:
                title = upstream_service(LINE_REFERENCES[name][0]).title
                errors.append(
                    {"location": f"{location}.{name}", "message": f"{name} {value} does not exist in {title}."}
                )
            elif name == "contextId" and found[name][value] != fields.get("characterId"):
                errors.append(
                    {
                        "location": f"{location}.contextId",
                        "message": f"Context {value} belongs to character {found[name][value]}, "
                        f"not {fields.get('characterId')}.",
                    }
                )
    if errors:
        more = f" ({len(errors) - 10} more)" if len(errors) > 10 else ""
        raise invalid(" ".join(e["message"] for e in errors[:10]) + more, errors[:100])


async def _read(upstreams: Upstreams, name: str, value: int) -> BaseModel | None:
    """What `name` = `value` names, from the service that owns it; None when it has no such id."""
    try:
        return await LINE_REFERENCES[name][1](upstreams, value)
    except UpstreamRefused as refused:
        if refused.upstream_status != 404:
            raise
        return None


async def check_references(upstreams: Upstreams, values: Mapping[str, int], character_id: int) -> None:
    """Each id in `values` must exist in the service that owns it, and a context must belong to
    `character_id`; all are asked for at once. 422 names every field at fault."""
    names = list(values)
    found = await asyncio.gather(*(_read(upstreams, name, values[name]) for name in names))
    errors: list[dict[str, str]] = []
    for name, record in zip(names, found, strict=True):
        if record is None:
            title = upstream_service(LINE_REFERENCES[name][0]).title
            errors.append({"location": f"body.{name}", "message": f"{name} {values[name]} does not exist in {title}."})
        elif isinstance(record, Context) and record.characterId != character_id:
            errors.append(
                {
                    "location": "body.contextId",
                    "message": f"Context {values[name]} belongs to character {record.characterId}, not {character_id}.",
                }
            )
    if errors:
        raise invalid(" ".join(e["message"] for e in errors), errors)
