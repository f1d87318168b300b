"""Screenplay elements: which fields each kind of story line takes, as the spec's ElementKind says.

A story line is one element of a section's screenplay. Its parts stay with the services that own
them (the text of an action and the spoken words in Character Management, a context in Session and
Context); Core Script keeps the order, the kind and what is only layout (extension, parentheticals,
the text of transitions, centered text, notes, lyrics, sections and synopses, a section's depth, and
whether a dialogue is the right-hand side of a dual dialogue). Text keeps Fountain emphasis as written.

A cue's extensions are a list, each as written (`BOB (V.O.) (CONT'D)`: `V.O.` and `CONT'D`); the
`extension` of a body is one of them, and that of an answer is all of them joined by `, `.
"""

from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, RootModel

from fountain_common.problems import invalid

# Column of each element field, by its field name.
ELEMENT_COLUMNS = {
    "characterId": "character_id",
    "spokenWordId": "spoken_word_id",
    "actionId": "action_id",
    "contextId": "context_id",
    "extensions": "extensions",
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
        {"characterId", "spokenWordId", "actionId", "contextId", "extensions", "parentheticals", "dual"}
    ),
}


EXTENSION_SEPARATOR = ", "


def joined_extensions(extensions: list[str]) -> str | None:
    """The `extension` of an answer: every extension joined, as a client of one extension reads it."""
    return EXTENSION_SEPARATOR.join(extensions) or None


def element_fields(body: BaseModel, names: Collection[str]) -> dict[str, Any]:
    """The element fields among `names` of a request body, by field name, with the `extension` it
    gives (one, or null for none) folded into `extensions`; 422 when it gives both and they disagree."""
    fields = {name: getattr(body, name) for name in names if name in ELEMENT_COLUMNS}
    given_one, given_many = "extension" in body.model_fields_set, "extensions" in body.model_fields_set
    one: str | None = getattr(body, "extension", None)
    many = [item.root if isinstance(item, RootModel) else item for item in getattr(body, "extensions", None) or []]
    if given_one and given_many and one != joined_extensions(many):
        message = "Give extension (one) or extensions (several); given both, extension is extensions joined by ', '."
        raise invalid(message, [{"location": "body.extension", "message": message}])
    if given_one and not given_many:
        fields["extensions"] = [] if one is None else [one]
    elif given_many or "extensions" in fields:
        fields["extensions"] = many
    return fields


def is_set(value: Any) -> bool:
    return value is not None and value != [] and value is not False


def stored(name: str, value: Any) -> Any:
    """A field's value as its column holds it (parentheticals as plain JSON)."""
    if name == "parentheticals":
        return [item.model_dump() if isinstance(item, BaseModel) else item for item in value or []]
    if name == "dual":
        return bool(value)
    return value


def check_element(kind: str, fields: Mapping[str, Any], sent: Collection[str] = ()) -> None:
    """422 naming every field the kind needs but lacks, or has but does not take; `extensions` by the
    name the body `sent` them under (`extension` when it gave only that)."""
    errors: list[dict[str, str]] = []
    for name in sorted(REQUIRED[kind]):
        if not is_set(fields.get(name)):
            errors.append({"location": f"body.{name}", "message": f"A {kind} element needs {name}."})
    for name in sorted(ELEMENT_COLUMNS):
        if name not in ALLOWED[kind] and is_set(fields.get(name)):
            if name == "extensions" and "extension" in sent and "extensions" not in sent:
                name = "extension"
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
