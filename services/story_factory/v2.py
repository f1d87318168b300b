"""Story Factory /v2: the story as one resource (with an ETag, and 304 for a client that has it),
as a Fountain screenplay and that screenplay as Final Draft (FDX), HTML and PDF; and a Fountain
screenplay imported as a new story."""

import hashlib
from typing import Optional

from sqlalchemy.ext.asyncio import AsyncConnection

from fountain_common.problems import invalid
from fountain_common.routes import Reply

from . import formats, fountain, statistics
from .assembly import assemble, in_range, read_layout
from .generated.api import Operations
from .generated.models import SceneList, Story, StoryImport, StoryStatistics
from .importing import import_screenplay


def strong_etag(representation: str) -> str:
    return '"' + hashlib.sha256(representation.encode()).hexdigest()[:32] + '"'


def matches(if_none_match: Optional[str], tag: str) -> bool:
    """If-None-Match compares weakly: `W/"x"` matches `"x"`; `*` matches any story."""
    if if_none_match is None:
        return False
    tags = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
    return "*" in tags or tag in tags


def _check_range(from_sequence: Optional[int], to_sequence: Optional[int]) -> None:
    if from_sequence is not None and to_sequence is not None and from_sequence > to_sequence:
        raise invalid(
            "query.fromSequence: must not be greater than toSequence.",
            [{"location": "query.fromSequence", "message": "must not be greater than toSequence"}],
        )


class StoryFactoryV2(Operations):
    async def get_story(
        self,
        *,
        script_id: int,
        from_sequence: Optional[int],
        to_sequence: Optional[int],
        if_none_match: Optional[str],
    ) -> Reply[Story]:
        _check_range(from_sequence, to_sequence)
        story = in_range(await assemble(self.upstreams, script_id), from_sequence, to_sequence)
        tag = strong_etag(story.model_dump_json())
        return Reply(story, etag=tag, status=304 if matches(if_none_match, tag) else None)

    async def _screenplay(self, script_id: int) -> str:
        return fountain.render(await read_layout(self.upstreams, script_id))

    async def get_story_fountain(
        self, *, script_id: int, from_sequence: Optional[int], to_sequence: Optional[int]
    ) -> Reply[str]:
        _check_range(from_sequence, to_sequence)
        if from_sequence is None and to_sequence is None:
            screenplay = await self._screenplay(script_id)  # the whole story, straight from its layout
        else:
            screenplay = fountain.render(
                in_range(await assemble(self.upstreams, script_id), from_sequence, to_sequence)
            )
        return Reply(screenplay, etag=strong_etag(screenplay))

    # Each format's ETag is the screenplay's with the format's name: the same story, another document.
    async def get_story_fdx(self, *, script_id: int) -> Reply[str]:
        screenplay = await self._screenplay(script_id)
        return Reply(formats.to_fdx(screenplay), etag=strong_etag("fdx\n" + screenplay))

    async def get_story_html(self, *, script_id: int) -> Reply[str]:
        screenplay = await self._screenplay(script_id)
        return Reply(formats.to_html(screenplay), etag=strong_etag("html\n" + screenplay))

    async def get_story_pdf(self, *, script_id: int) -> Reply[bytes]:
        screenplay = await self._screenplay(script_id)
        return Reply(await formats.to_pdf(screenplay), etag=strong_etag("pdf\n" + screenplay))

    async def get_story_statistics(self, *, script_id: int) -> Reply[StoryStatistics]:
        counted = statistics.statistics(await assemble(self.upstreams, script_id))
        return Reply(counted, etag=strong_etag(counted.model_dump_json()))

    async def list_story_scenes(self, *, script_id: int) -> Reply[SceneList]:
        listed = statistics.scenes(await assemble(self.upstreams, script_id))
        return Reply(listed, etag=strong_etag(listed.model_dump_json()))

    async def import_story(self, conn: AsyncConnection, *, body: str) -> Reply[StoryImport]:
        # `conn` holds only the Idempotency-Key: the story's parts live in the services that own them.
        imported = await import_screenplay(self.upstreams, body)
        return Reply(imported, location=f"/v2/stories/{imported.scriptId}")
