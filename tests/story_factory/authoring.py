"""Stories written through the public APIs of the services Story Factory reads from (Core Script,
Character Management, Session and Context), all served in-process against the test database.

Every id comes from the service that hands it out: tests compare ids with the ones they were given,
never with fixed numbers, and read order from the order of sections and lines, never from absolute
sequence numbers (those belong to the numbering service and its policy)."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

ClientFor = Callable[[str], httpx.AsyncClient]


@dataclass(frozen=True)
class Speech:
    """One story line as a writer thinks of it: who, doing what, saying what, in which mood."""

    character: str
    action: str
    words: str
    context: dict[str, str] | None = None


@dataclass
class Written:
    """What a script was written with: its id, its sections' heading ids (in the order written) and,
    per section, its lines' ids (in the order written); and the ids of the parts, by name or text."""

    script_id: int
    heading_ids: list[int] = field(default_factory=list)
    line_ids: list[list[int]] = field(default_factory=list)
    characters: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    spoken_words: dict[str, int] = field(default_factory=dict)
    contexts: list[int | None] = field(default_factory=list)  # one per line, in the order written


class Author:
    def __init__(self, client_for: ClientFor) -> None:
        self.core_script = client_for("core_script")
        self.character = client_for("character")
        self.session_context = client_for("session_context")
        self.descriptions: dict[str, str] = {}  # character name -> description, for new characters

    async def _created(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(path, json=body)
        assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"
        created: dict[str, Any] = response.json()
        return created

    async def script(
        self, title: str, *, author: str = "", description: str = "", orchestration: dict[str, str] | None = None
    ) -> Written:
        body: dict[str, Any] = {"title": title, "author": author, "description": description}
        if orchestration is not None:
            body["orchestration"] = orchestration
        return Written((await self._created(self.core_script, "/v2/scripts", body))["scriptId"])

    async def section(self, written: Written, title: str, lines: Sequence[Speech] = ()) -> int:
        """A new section at the end of the script, holding `lines` in that order."""
        heading = await self._created(self.core_script, f"/v2/scripts/{written.script_id}/sections", {"title": title})
        written.heading_ids.append(heading["headingId"])
        written.line_ids.append([])
        for speech in lines:
            await self.line(written, heading["headingId"], speech)
        return int(heading["headingId"])

    async def line(self, written: Written, heading_id: int, speech: Speech) -> int:
        """`speech` as a new line at the end of the section; parts named alike are created once."""
        if speech.character not in written.characters:
            body = {"name": speech.character, "description": self.descriptions.get(speech.character, "")}
            written.characters[speech.character] = (await self._created(self.character, "/v2/characters", body))[
                "characterId"
            ]
        character_id = written.characters[speech.character]
        if speech.action not in written.actions:
            body = {"description": speech.action}
            written.actions[speech.action] = (await self._created(self.character, "/v2/actions", body))["actionId"]
        if speech.words not in written.spoken_words:
            body = {"text": speech.words}
            written.spoken_words[speech.words] = (await self._created(self.character, "/v2/spokenWords", body))[
                "spokenWordId"
            ]
        context_id = None
        if speech.context is not None:
            # A session holds one context per character: each line's context gets a session of its own.
            session = await self._created(self.session_context, "/v2/sessions", {"userId": 7})
            body = {"characterId": character_id, "data": speech.context}
            context = await self._created(self.session_context, f"/v2/sessions/{session['sessionId']}/contexts", body)
            context_id = context["contextId"]
        written.contexts.append(context_id)
        line = await self._created(
            self.core_script,
            f"/v2/scripts/{written.script_id}/sections/{heading_id}/lines",
            {
                "characterId": character_id,
                "actionId": written.actions[speech.action],
                "spokenWordId": written.spoken_words[speech.words],
                "contextId": context_id,
            },
        )
        written.line_ids[written.heading_ids.index(heading_id)].append(line["lineId"])
        return int(line["lineId"])

    async def move_section(self, written: Written, heading_id: int, position: int) -> None:
        path = f"/v2/scripts/{written.script_id}/sections/{heading_id}/move"
        response = await self.core_script.post(path, json={"position": position})
        assert response.status_code == 200, response.text

    async def move_line(
        self, written: Written, heading_id: int, line_id: int, position: int, *, to_heading: int | None = None
    ) -> None:
        path = f"/v2/scripts/{written.script_id}/sections/{heading_id}/lines/{line_id}/move"
        body: dict[str, Any] = {"position": position}
        if to_heading is not None:
            body["headingId"] = to_heading
        response = await self.core_script.post(path, json=body)
        assert response.status_code == 200, response.text

    async def section_numbers(self, written: Written) -> dict[int, int]:
        """headingId -> the section's sequenceNumber, as Core Script holds it now."""
        response = await self.core_script.get(f"/v2/scripts/{written.script_id}/sections", params={"limit": 100})
        assert response.status_code == 200, response.text
        return {item["headingId"]: item["sequenceNumber"] for item in response.json()["items"]}


# The story of the FullStory example in specs/story_factory.yaml: one section, three lines.
ROMEO_AND_JULIET = {
    "title": "Romeo and Juliet",
    "author": "William Shakespeare",
    "description": "A tale of two star-crossed lovers.",
    "orchestration": {
        "csoundFilePath": "/files/sound.csd",
        "lilyPondFilePath": "/files/sheet.ly",
        "midiFilePath": "/files/music.mid",
    },
}
DESCRIPTIONS = {"Juliet": "The heroine of Romeo and Juliet.", "Romeo": "The hero of Romeo and Juliet."}
BALCONY = [
    Speech(
        "Juliet",
        "Juliet stands on the balcony, looking out into the night.",
        "O Romeo, Romeo! wherefore art thou Romeo?",
        {"mood": "longing", "location": "Capulet's mansion balcony"},
    ),
    Speech(
        "Romeo",
        "Romeo steps out from the shadows below the balcony.",
        "By a name I know not how to tell thee who I am: My name, dear saint, is hateful to myself, "
        "Because it is an enemy to thee.",
        {"mood": "desperate", "location": "Below Juliet's balcony"},
    ),
    Speech(
        "Juliet",
        "Juliet leans over the balcony, reaching out towards Romeo.",
        "What’s in a name? That which we call a rose By any other name would smell as sweet.",
        {"mood": "curious", "location": "Capulet's mansion balcony"},
    ),
]


async def romeo_and_juliet(author: Author, lines: Sequence[Speech] = BALCONY) -> Written:
    author.descriptions.update(DESCRIPTIONS)
    written = await author.script(**ROMEO_AND_JULIET)  # type: ignore[arg-type]
    await author.section(written, "Act 1, Scene 1", lines)
    return written
