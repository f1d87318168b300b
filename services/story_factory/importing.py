"""Importing a Fountain screenplay as a new story, in the services that own its parts.

Three requests from Story Factory to other services, whatever the screenplay's length:
1. Character Management `POST /v2/batches`: every character (one per name used in the screenplay),
   action and spoken words, in one transaction.
2. Core Script `POST /v2/scripts`: the script with its title page.
3. Core Script `POST /v2/scripts/{scriptId}/batches`: every scene heading with its lines, in one
   transaction (Core Script numbers the headings in one call to the Central Sequence Service and checks
   the ids the lines name a kind at a time).
On a failure part-way, what was created is deleted again (the script, which takes its sections, lines
and numbering scope with it; the characters, actions and spoken words in one request) and the answer
names the step that failed. Each request carries an Idempotency-Key of its own, so a retried request
(a lost answer) creates nothing twice.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import structlog

from fountain_common.problems import Problem, invalid
from fountain_common.upstream import UpstreamRefused, Upstreams

from . import fountain
from .fountain_reader import Element, Scene, Screenplay, ScreenplayError, plain, read
from .generated.clients.character import CharacterClient
from .generated.clients.character_models import (
    ActionCreate,
    BatchCreate,
    BatchCreated,
    BatchDelete,
    CharacterCreate,
    SpokenWordCreate,
)
from .generated.clients.core_script import CoreScriptClient
from .generated.clients.core_script_models import (
    Extension,
    LineCreate,
    Parenthetical,
    ScriptCreate,
    SectionBatch,
    SectionWithLines,
    TitlePage,
    TitlePageEntry,
)
from .generated.models import StoryImport

log = structlog.get_logger("fountain.story_factory")
T = TypeVar("T")


def parse(text: str) -> Screenplay:
    """The screenplay as Core Script keeps it, or 422 naming the line at fault."""
    try:
        screenplay = read(text)
    except ScreenplayError as error:
        if not text.strip():
            raise invalid(
                "The screenplay is empty.", [{"location": "body", "message": "The screenplay is empty."}]
            ) from None
        message = error.message[0].upper() + error.message[1:]
        raise invalid(
            f"Line {error.line}: {message}", [{"location": f"body.line.{error.line}", "message": message}]
        ) from None
    scenes = [
        Scene(
            scene.heading,
            scene.scene_number,
            scene.line,
            [stored(element) for element in scene.elements],
        )
        for scene in screenplay.scenes
    ]
    return Screenplay(screenplay.title_page, scenes)


@dataclass
class _Created:
    """What an import created so far, to delete again should a later step fail."""

    script_id: int | None = None
    parts: BatchCreated | None = None
    undo_failures: list[str] = field(default_factory=list)


def _key() -> str:
    return str(uuid.uuid4())


def stored(element: Element) -> Element:
    """The element as Core Script holds it: every kind the reader tells apart is one of Core Script's,
    and text keeps Fountain emphasis as written. Only a character's name is read as it prints: it
    names who speaks (`*BOB*` and `BOB` are one character)."""
    if element.kind == "dialogue" and element.character is not None:
        return replace(element, character=" ".join(plain(element.character).split()))
    return element


def _names(screenplay: Screenplay) -> dict[str, str]:
    """Each character as its cues name it, ignoring case (`McCLANE` is `MCCLANE`), by the first spelling."""
    names: dict[str, str] = {}
    for element in screenplay.elements:
        if element.kind == "dialogue" and element.character:
            names.setdefault(element.character.upper(), element.character)
    return names


def _parts(screenplay: Screenplay) -> BatchCreate:
    return BatchCreate(
        characters=[CharacterCreate(name=name, description="") for name in _names(screenplay).values()],
        actions=[ActionCreate(description=e.text or "") for e in screenplay.elements if e.kind == "action"],
        spokenWords=[SpokenWordCreate(text=e.words or "") for e in screenplay.elements if e.kind == "dialogue"],
    )


def _lines(screenplay: Screenplay, parts: BatchCreated) -> SectionBatch:
    """The scenes with their lines, each naming the ids its parts were created with."""
    ids = {record.name: record.characterId for record in parts.characters}
    characters = {key: ids[name] for key, name in _names(screenplay).items()}
    actions = iter(record.actionId for record in parts.actions)
    spoken_words = iter(record.spokenWordId for record in parts.spokenWords)

    def line(element: Element) -> LineCreate:
        if element.kind == "action":
            return LineCreate(kind="action", actionId=next(actions))
        if element.kind == "dialogue":
            return LineCreate(
                kind="dialogue",
                characterId=characters[(element.character or "").upper()],
                spokenWordId=next(spoken_words),
                extensions=[Extension(extension) for extension in element.extensions],
                parentheticals=[Parenthetical(beforeLine=before, text=text) for before, text in element.parentheticals],
                dual=element.dual or None,
            )
        if element.kind == "pageBreak":
            return LineCreate(kind="pageBreak")
        if element.kind == "section":
            return LineCreate(kind="section", text=element.text, depth=element.depth)
        return LineCreate(kind=element.kind, text=element.text)

    return SectionBatch(
        sections=[
            SectionWithLines(
                title=scene.heading or fountain.OPENING,
                sceneNumber=scene.scene_number,
                lines=[line(element) for element in scene.elements],
            )
            for scene in screenplay.scenes
        ]
    )


async def _step(created: _Created, upstreams: Upstreams, what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one step; on failure undo what was created and answer a problem naming the step."""
    try:
        return await call()
    except Problem as problem:
        await _undo(created, upstreams)
        raise _failed(problem, what, created) from None
    except Exception:  # not a problem a service answered: still nothing of the import may stay
        await _undo(created, upstreams)
        raise


def _failed(problem: Problem, what: str, created: _Created) -> Problem:
    if created.undo_failures:
        undone = " Undoing the import failed too: " + "; ".join(created.undo_failures) + "."
    else:
        undone = " Nothing of the import was kept."
    if isinstance(problem, UpstreamRefused) and problem.upstream_status == 422:
        # The owner refused what the screenplay holds (a bound the reader does not know of).
        refused = problem.answer if isinstance(problem.answer, dict) else {}
        detail = f"{what} was refused: {refused.get('detail', problem.detail)}{undone}"
        return Problem(422, "invalid-request", "Invalid request", detail, errors=refused.get("errors"))
    return Problem(
        problem.status,
        problem.kind,
        problem.title,
        f"{what} failed: {problem.detail}{undone}",
        errors=problem.errors,
        headers=problem.headers,
        extensions=problem.extensions,
    )


async def _undo(created: _Created, upstreams: Upstreams) -> None:
    if created.script_id is not None:
        try:
            await CoreScriptClient(upstreams).delete_script(script_id=created.script_id, idempotent=True)
        except UpstreamRefused as refused:
            if refused.upstream_status != 404:
                created.undo_failures.append(f"script {created.script_id} remains ({refused.detail})")
        except Problem as problem:
            created.undo_failures.append(f"script {created.script_id} remains ({problem.detail})")
    if created.parts is not None:
        parts = created.parts
        try:
            await CharacterClient(upstreams).delete_batch(
                body=BatchDelete(
                    characterIds=sorted({c.characterId for c in parts.characters}),
                    actionIds=[a.actionId for a in parts.actions],
                    spokenWordIds=[w.spokenWordId for w in parts.spokenWords],
                ),
                idempotency_key=_key(),
            )
        except Problem as problem:
            created.undo_failures.append(f"the characters, actions and spoken words remain ({problem.detail})")
    if created.undo_failures:
        log.error("import_undo_failed", script_id=created.script_id, failures=created.undo_failures)


async def import_screenplay(upstreams: Upstreams, text: str) -> StoryImport:
    screenplay = parse(text)
    created = _Created()
    character = CharacterClient(upstreams)
    core_script = CoreScriptClient(upstreams)

    async def create_parts() -> BatchCreated:
        return await character.add_batch(body=_parts(screenplay), idempotency_key=_key())

    parts = await _step(created, upstreams, "Creating the characters, actions and spoken words", create_parts)
    created.parts = parts

    async def create_script() -> int:
        title_page = TitlePage(root=[TitlePageEntry(key=key, value=value) for key, value in screenplay.title_page])
        script = await core_script.add_script(
            body=ScriptCreate(title=screenplay.title, titlePage=title_page), idempotency_key=_key()
        )
        return script.scriptId

    script_id = await _step(created, upstreams, "Creating the script", create_script)
    created.script_id = script_id

    async def add_scenes() -> int:
        if not screenplay.scenes:
            return 0
        added = await core_script.append_sections(
            script_id=script_id, body=_lines(screenplay, parts), idempotency_key=_key()
        )
        return added.lineCount

    line_count = await _step(created, upstreams, "Adding the scenes and their lines", add_scenes)
    log.info("story_imported", script_id=script_id, sections=len(screenplay.scenes), lines=line_count)
    return StoryImport(
        scriptId=script_id,
        title=screenplay.title,
        sectionCount=len(screenplay.scenes),
        lineCount=line_count,
        characterCount=len({c.characterId for c in parts.characters}),
    )
