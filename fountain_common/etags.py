"""Optimistic concurrency for /v2: a row's ETag is its revision counter, checked against If-Match.

Every /v2 resource that can be changed keeps a `revision` column bumped on each change; GET answers
it as a strong ETag, and a write that carries If-Match is refused with 412 when the row moved on.
"""

from collections.abc import Mapping
from typing import Any

from fountain_common.problems import precondition_failed


def etag(row: Mapping[Any, Any]) -> str:
    return f'"{row["revision"]}"'


def check_etag(row: Mapping[Any, Any], if_match: str | None, *, what: str = "Resource") -> None:
    """412 unless If-Match is absent, `*`, or lists the row's current ETag (weak tags compare equal)."""
    if if_match is None or if_match.strip() == "*":
        return
    accepted = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if etag(row) not in accepted:
        raise precondition_failed(f"{what} changed since it was read: its ETag is now {etag(row)}.")
