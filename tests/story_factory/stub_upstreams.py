"""The services Story Factory reads from, stubbed at the HTTP boundary: an httpx.MockTransport that
answers as INTERFACE.md says Core Script (`GET /v2/scripts/{scriptId}/content`), Character Management
(`GET /v2/characters|actions|spokenWords?ids=...&limit=...`) and Session and Context
(`GET /v2/contexts?contextId=...&limit=...`) answer, from fixture data.

Requests are routed by their Host header, which is the service's public host whether the call goes to
that host directly or through a gateway (fountain_common/upstream.py). Every request is recorded, and a
service or path can be made to fail: refuse connections, answer a status, or never answer (the client's
read timeout then expires, as a real transport's would).
"""

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from fountain_common.upstream import upstream_service

CORE_SCRIPT = upstream_service("core_script").public_host
CHARACTER = upstream_service("character").public_host
SESSION_CONTEXT = upstream_service("session_context").public_host
HOSTS = {CORE_SCRIPT: "core_script", CHARACTER: "character", SESSION_CONTEXT: "session_context"}

CONTENT_PATH = re.compile(r"^/v2/scripts/(\d+)/content$")
ID_LISTS = {  # path -> (id-list parameter, item id field, most ids per request)
    "/v2/characters": ("ids", "characterId", 500),
    "/v2/actions": ("ids", "actionId", 500),
    "/v2/spokenWords": ("ids", "spokenWordId", 500),
    "/v2/contexts": ("contextId", "contextId", 100),
}
STAMP = {"revision": 1, "createdAt": "2026-11-01T10:00:00Z", "updatedAt": "2026-11-01T10:00:00Z"}

REFUSE = "refuse"  # the connection is refused
HANG = "hang"  # no answer until the client's read timeout


def problem(status: int, detail: str) -> httpx.Response:
    body = {"type": "https://fountain.coach/problems/x", "title": "Error", "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


@dataclass
class StoryData:
    """What the three services hold: scripts (their content answers) and parts by id."""

    scripts: dict[int, dict[str, Any]] = field(default_factory=dict)
    characters: dict[int, dict[str, Any]] = field(default_factory=dict)
    actions: dict[int, dict[str, Any]] = field(default_factory=dict)
    spoken_words: dict[int, dict[str, Any]] = field(default_factory=dict)
    contexts: dict[int, dict[str, Any]] = field(default_factory=dict)

    def items(self, path: str) -> dict[int, dict[str, Any]]:
        return {
            "/v2/characters": self.characters,
            "/v2/actions": self.actions,
            "/v2/spokenWords": self.spoken_words,
            "/v2/contexts": self.contexts,
        }[path]


class StubUpstreams:
    def __init__(self, data: StoryData) -> None:
        self.data = data
        self.requests: list[httpx.Request] = []
        self.failures: dict[str, str | int] = {}  # service name or path -> REFUSE, HANG or a status
        self.in_flight = 0
        self.most_in_flight = 0
        # With `gather_at` set, each request for parts waits (up to `gather_timeout` s) until that many
        # requests are in flight at once: sequential requests would never get there.
        self.gather_at: int | None = None
        self.gather_timeout = 2.0
        self.gather_gave_up = 0  # requests answered because the wait ran out, not because the crowd came
        self._crowd = asyncio.Event()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def calls(self, path_prefix: str = "/") -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.startswith(path_prefix)]

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        service = HOSTS.get(request.headers["host"])
        if service is None:
            return problem(404, f"No such host: {request.headers['host']}")
        failure = self.failures.get(request.url.path, self.failures.get(service))
        if failure == REFUSE:
            raise httpx.ConnectError("Connection refused", request=request)
        if failure == HANG:
            await asyncio.sleep(request.extensions["timeout"]["read"])
            raise httpx.ReadTimeout("no answer", request=request)
        if isinstance(failure, int):
            return problem(failure, "Injected failure.")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if service == "core_script":
                return self.script_content(request)
            if self.gather_at is not None:
                if self.in_flight >= self.gather_at:
                    self._crowd.set()
                try:
                    await asyncio.wait_for(self._crowd.wait(), self.gather_timeout)
                except TimeoutError:  # answer anyway, so a sequential client fails its test instead of hanging
                    self.gather_gave_up += 1
            return self.parts(service, request)
        finally:
            self.in_flight -= 1

    def script_content(self, request: httpx.Request) -> httpx.Response:
        match = CONTENT_PATH.match(request.url.path)
        if request.method != "GET" or not match:
            return problem(404, "Not found.")
        script = self.data.scripts.get(int(match.group(1)))
        if script is None:
            return problem(404, f"Script {match.group(1)} not found.")
        return httpx.Response(200, json=script)

    def parts(self, service: str, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        expected_service = "session_context" if path == "/v2/contexts" else "character"
        if request.method != "GET" or path not in ID_LISTS or service != expected_service:
            return problem(404, "Not found.")
        param, id_field, most = ID_LISTS[path]
        raw = request.url.params.get_list(param)
        ids = {int(i) for value in raw for i in value.split(",")}
        limit = int(request.url.params.get("limit", "50"))
        if not raw or len(ids) > most or limit > 500:
            return problem(422, f"query.{param}: At most {most} ids, got {len(ids)}.")
        found = [self.data.items(path)[i] for i in sorted(ids) if i in self.data.items(path)]
        return httpx.Response(200, json={"items": found[:limit], "total": len(found), "limit": limit, "offset": 0})


# --- fixture data ------------------------------------------------------------------------------------
def character(character_id: int, name: str, description: str) -> dict[str, Any]:
    return {"characterId": character_id, "name": name, "description": description, **STAMP}


def action(action_id: int, description: str) -> dict[str, Any]:
    return {"actionId": action_id, "description": description, **STAMP}


def spoken_word(spoken_word_id: int, text: str) -> dict[str, Any]:
    return {"spokenWordId": spoken_word_id, "text": text, **STAMP}


def context(context_id: int, character_id: int, data: dict[str, str], session_id: int = 1) -> dict[str, Any]:
    return {"contextId": context_id, "sessionId": session_id, "characterId": character_id, "data": data, **STAMP}


def script_content(
    script_id: int,
    title: str,
    sections: Iterable[tuple[int, str, int, list[tuple[int, int, int, int | None]]]],
    *,
    author: str = "",
    description: str = "",
    orchestration: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Core Script's content answer. `sections`: (headingId, title, sequenceNumber, lines), each line
    (characterId, actionId, spokenWordId, contextId or None); line ids and positions are given in order."""
    line_id = 0
    answer_sections = []
    for heading_id, heading_title, sequence_number, lines in sections:
        answer_lines = []
        for position, (character_id, action_id, spoken_word_id, context_id) in enumerate(lines, start=1):
            line_id += 1
            answer_lines.append(
                {
                    "lineId": line_id,
                    "scriptId": script_id,
                    "headingId": heading_id,
                    "position": position,
                    "kind": "dialogue",
                    "characterId": character_id,
                    "actionId": action_id,
                    "spokenWordId": spoken_word_id,
                    "contextId": context_id,
                    "extension": None,
                    "extensions": [],
                    "parentheticals": [],
                    "text": None,
                    "dual": False,
                    "depth": None,
                    "revision": 1,
                }
            )
        answer_sections.append(
            {
                "headingId": heading_id,
                "scriptId": script_id,
                "title": heading_title,
                "sceneNumber": None,
                "sequenceNumber": sequence_number,
                "revision": 1,
                "lines": answer_lines,
            }
        )
    return {
        "script": {
            "scriptId": script_id,
            "title": title,
            "author": author,
            "description": description,
            "orchestration": orchestration or {"csoundFilePath": "", "lilyPondFilePath": "", "midiFilePath": ""},
            "titlePage": [],
            "sequenceNumber": 1,
            "revision": 1,
            "owner": "",
            "access": "owner",
        },
        "sections": answer_sections,
    }


def romeo_and_juliet() -> StoryData:
    """The story of the FullStory example in specs/story_factory.yaml: script 1, one section, three lines."""
    data = StoryData()
    data.scripts[1] = script_content(
        1,
        "Romeo and Juliet",
        [(1, "Act 1, Scene 1", 2, [(1, 1, 1, 1), (2, 2, 2, 2), (1, 3, 3, 3)])],
        author="William Shakespeare",
        description="A tale of two star-crossed lovers.",
        orchestration={
            "csoundFilePath": "/files/sound.csd",
            "lilyPondFilePath": "/files/sheet.ly",
            "midiFilePath": "/files/music.mid",
        },
    )
    data.characters = {
        1: character(1, "Juliet", "The heroine of Romeo and Juliet."),
        2: character(2, "Romeo", "The hero of Romeo and Juliet."),
    }
    data.actions = {
        1: action(1, "Juliet stands on the balcony, looking out into the night."),
        2: action(2, "Romeo steps out from the shadows below the balcony."),
        3: action(3, "Juliet leans over the balcony, reaching out towards Romeo."),
    }
    data.spoken_words = {
        1: spoken_word(1, "O Romeo, Romeo! wherefore art thou Romeo?"),
        2: spoken_word(
            2,
            "By a name I know not how to tell thee who I am: My name, dear saint, is hateful to myself, "
            "Because it is an enemy to thee.",
        ),
        3: spoken_word(3, "What’s in a name? That which we call a rose By any other name would smell as sweet."),
    }
    data.contexts = {
        1: context(1, 1, {"mood": "longing", "location": "Capulet's mansion balcony"}),
        2: context(2, 2, {"mood": "desperate", "location": "Below Juliet's balcony"}),
        3: context(3, 1, {"mood": "curious", "location": "Capulet's mansion balcony"}),
    }
    return data
