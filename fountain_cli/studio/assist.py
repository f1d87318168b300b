"""The studio's optional AI assist: a change described in words, sent with the working schema.json to
an OpenAI-compatible chat endpoint, comes back as a whole proposed schema.json. The proposal is only
shown; accepting it is a hand edit like any other, checked by the scaffold's own code."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from fountain_cli.scaffold.json_reader import FORMAT

URL_VARIABLE = "FOUNTAIN_STUDIO_AI_URL"
MODEL_VARIABLE = "FOUNTAIN_STUDIO_AI_MODEL"
KEY_VARIABLE = "FOUNTAIN_STUDIO_AI_KEY"
TIMEOUT_SECONDS = 120.0  # a local model may think for a while over a whole schema
ATTEMPTS = 2  # one retry, and only when the endpoint could not be reached

RULES = f"""You edit the schema.json of a FountainAI service. `fountain scaffold` turns it into PostgreSQL
tables and a REST API. Its format, as a JSON Schema:
{json.dumps(FORMAT, indent=1)}
Rules beyond that format:
- Entity and field names are lower-case SQL identifiers: letters, digits and underscores, starting with a
  letter, at most 63 characters, not an SQL reserved word.
- Every entity has a primary key: one or more fields with "primaryKey": true.
- "references" names another entity; the field holds that entity's primary key and has its type.
- "values" is given for enum fields and only for them; "maxLength" only for string and char.
- "default" is a constant of the field's type; "defaultNow" only for timestamps and date.
Answer with the whole new schema.json as one JSON object and nothing else. Keep every entity, field
and setting the change does not touch exactly as it is."""


class AssistError(Exception):
    """Why no proposal came back, as a problem+json answer says it."""

    def __init__(self, status: int, title: str, problems: list[str]) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.problems = problems


@dataclass(frozen=True)
class AssistSettings:
    url: str  # the API's base URL, e.g. http://localhost:11434/v1
    model: str
    key: str | None = None
    timeout: float = TIMEOUT_SECONDS  # how long to wait for the model's answer

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> "AssistSettings | None":
        """The endpoint the environment names, or None (the assist is off) when it names none."""
        url = environment.get(URL_VARIABLE, "").strip()
        if not url:
            return None
        return cls(url.rstrip("/"), environment.get(MODEL_VARIABLE, "").strip(), environment.get(KEY_VARIABLE) or None)


def off_problem() -> AssistError:
    return AssistError(
        503,
        "The AI assist is off",
        [f"set {URL_VARIABLE} (an OpenAI-compatible API, e.g. http://localhost:11434/v1) and {MODEL_VARIABLE}"],
    )


async def propose(settings: AssistSettings, document: Any, instruction: str) -> dict[str, Any]:
    """The model's proposed schema.json for `instruction` applied to `document`: a JSON object, not yet
    checked as a schema. AssistError when the endpoint is not set up, cannot be reached, or answers
    something that is not a JSON object."""
    if not settings.model:
        raise AssistError(503, "The AI assist is not set up", [f"{MODEL_VARIABLE}: the model to ask is not set"])
    request = {
        "model": settings.model,
        "messages": [
            {"role": "system", "content": RULES},
            {
                "role": "user",
                "content": f"The current schema.json:\n{json.dumps(document, indent=1)}\n\nThe change: {instruction}",
            },
        ],
        "response_format": {"type": "json_object"},
        "temperature": 0,
    }
    headers = {"Authorization": f"Bearer {settings.key}"} if settings.key else {}
    endpoint = f"{settings.url}/chat/completions"
    async with httpx.AsyncClient(timeout=settings.timeout) as client:
        for attempt in range(ATTEMPTS):
            try:
                response = await client.post(endpoint, json=request, headers=headers)
                break
            except httpx.TimeoutException as error:
                raise AssistError(504, "The model did not answer in time", [f"{endpoint}: {error!r}"]) from error
            except httpx.TransportError as error:
                if attempt + 1 == ATTEMPTS:
                    raise AssistError(502, "The model could not be reached", [f"{endpoint}: {error}"]) from error
    if response.status_code != 200:
        raise AssistError(
            502,
            "The model's endpoint refused the request",
            [f"{endpoint}: {response.status_code} {response.text[:500]}"],
        )
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise AssistError(
            502, "The model's answer could not be read", [f"{endpoint}: not a chat completion"]
        ) from error
    return _proposal(content)


def _proposal(content: Any) -> dict[str, Any]:
    if not isinstance(content, str):
        raise AssistError(502, "The model's answer could not be read", ["the message holds no text"])
    text = content.strip()
    # Some models wrap JSON in a Markdown fence even when asked for a JSON object.
    if text.startswith("```"):
        text = text.split("\n", 1)[-1].rsplit("```", 1)[0]
    try:
        proposal = json.loads(text)
    except json.JSONDecodeError as error:
        raise AssistError(
            502, "The model did not answer JSON", [f"line {error.lineno} column {error.colno}: {error.msg}", text[:500]]
        ) from error
    if not isinstance(proposal, dict):
        raise AssistError(502, "The model did not answer a schema.json", ["its answer is not a JSON object"])
    return proposal


def changes(before: Any, after: Any) -> list[str]:
    """What the proposal adds, removes and changes, one line each: tables, then their fields."""
    old, new = _entities(before), _entities(after)
    lines = [f"table {name} removed" for name in old if name not in new]
    for name, entity in new.items():
        if name not in old:
            lines.append(f"table {name} added ({', '.join(_fields(entity)) or 'no fields'})")
            continue
        old_fields, new_fields = _fields(old[name]), _fields(entity)
        lines += [f"field {name}.{field} removed" for field in old_fields if field not in new_fields]
        for field, spec in new_fields.items():
            if field not in old_fields:
                lines.append(f"field {name}.{field} added: {_describe(spec)}")
            elif spec != old_fields[field]:
                lines.append(f"field {name}.{field} changed: {_describe(old_fields[field])} -> {_describe(spec)}")
        rest_old = {k: v for k, v in old[name].items() if k != "fields"}
        rest_new = {k: v for k, v in entity.items() if k != "fields"} if isinstance(entity, dict) else {}
        if rest_old != rest_new:
            lines.append(
                f"table {name} changed: {', '.join(sorted(set(rest_old) ^ set(rest_new) | _differ(rest_old, rest_new)))}"
            )
    return lines


def _entities(document: Any) -> dict[str, Any]:
    entities = document.get("entities") if isinstance(document, dict) else None
    return {k: v if isinstance(v, dict) else {} for k, v in entities.items()} if isinstance(entities, dict) else {}


def _fields(entity: Any) -> dict[str, Any]:
    fields = entity.get("fields") if isinstance(entity, dict) else None
    return fields if isinstance(fields, dict) else {}


def _differ(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    return {key for key in set(old) & set(new) if old[key] != new[key]}


def _describe(spec: Any) -> str:
    return json.dumps(spec, ensure_ascii=False, sort_keys=True)
