"""Screenplay elements: which fields each kind of story line takes, as the spec's ElementKind says.

A story line is one element of a section's screenplay. Its parts stay with the services that own
them (the text of an action and the spoken words in Character Management, a context in Session and
Context); Core Script keeps the order, the kind and what is only layout (extension, parentheticals,
the text of transitions, centered text, notes, lyrics, sections and synopses, a section's depth, and
whether a dialogue is the right-hand side of a dual dialogue). Text keeps Fountain emphasis as written.
"""

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from fountain_common.problems import invalid

# Column of each element field, by its field name.
ELEMENT_COLUMNS = {
    "characterId": "character_id",
    "spokenWordId": "spoken_word_id",
    "actionId": "action_id",
    "contextId": "context_id",
    "extension": "extension",
    "parentheticals": "parentheticals",
    "text": "text",
    "dual": "dual",
    "depth": "depth",
}
# The ids among them, each checked with the service that owns it.
REFERENCE_FIELDS = ("characterId", "spokenWordId", "actionId", "contextId")

TEXT_KINDS = frozenset({"transition", "centered", "note", "lyrics", "section", "synopsis"})
# Kinds whose text Fountain writes on one line.
ONE_LINE_KINDS = frozenset({"transition", "section", "synopsis"})
REQUIRED: dict[str, frozenset[str]] = {
    "action": frozenset({"actionId"}),
    "dialogue": frozenset({"characterId", "spokenWordId"}),
    "transition": frozenset({"text"}),
    "centered": frozenset({"text"}),
    "note": frozenset({"text"}),
    "lyrics": frozenset({"text"}),
    "section": frozenset({"text", "depth"}),
    "synopsis": frozenset({"text"}),
    "pageBreak": frozenset(),
}
ALLOWED: dict[str, frozenset[str]] = REQUIRED | {
    "dialogue": frozenset(
        {"characterId", "spokenWordId", "actionId", "contextId", "extension", "parentheticals", "dual"}
    ),
}


def is_set(value: Any) -> bool:
    return value is not None and value != [] and value is not False


def stored(name: str, value: Any) -> Any:
    """A field's value as its column holds it (parentheticals as plain JSON)."""
    if name == "parentheticals":
        return [item.model_dump() if isinstance(item, BaseModel) else item for item in value or []]
    if name == "dual":
        return bool(value)
    return value


def check_element(kind: str, fields: Mapping[str, Any]) -> None:
    """422 naming every field the kind needs but lacks, or has but does not take."""
    errors: list[dict[str, str]] = []
    for name in sorted(REQUIRED[kind]):
        if not is_set(fields.get(name)):
            errors.append({"location": f"body.{name}", "message": f"A {kind} element needs {name}."})
    for name in sorted(ELEMENT_COLUMNS):
        if name not in ALLOWED[kind] and is_set(fields.get(name)):
            errors.append({"location": f"body.{name}", "message": f"A {kind} element takes no {name}."})
    text = fields.get("text")
    if kind in ONE_LINE_KINDS and isinstance(text, str) and ("\n" in text or "\r" in text):
        errors.append({"location": "body.text", "message": f"A {kind} is one line of text."})
    if kind == "section" and isinstance(text, str) and text.lstrip().startswith("#"):
        # Fountain would read the extra `#` as part of the section's depth.
        errors.append({"location": "body.text", "message": "The text of a section may not start with '#'."})
    if kind == "dialogue" and fields.get("dual") and is_set(fields.get("actionId")):
        # The action would stand between the two sides of the pair.
        errors.append({"location": "body.actionId", "message": "A dual dialogue takes no actionId."})
    if isinstance(text, str) and kind in TEXT_KINDS and not text.strip():
        errors.append({"location": "body.text", "message": f"The text of a {kind} element may not be blank."})
    before = [p["beforeLine"] for p in stored("parentheticals", fields.get("parentheticals"))]
    if before != sorted(before):
        errors.append(
            {"location": "body.parentheticals", "message": "Parentheticals must be in order of their beforeLine."}
        )
    if errors:
        raise invalid(" ".join(e["message"] for e in errors), errors)
