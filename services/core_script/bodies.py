"""Request bodies of /v1 and /v2 alike: fields left out versus null, and the columns a script body sets."""

from typing import Any

from pydantic import BaseModel

from fountain_common.problems import invalid

from .generated.models import OrchestrationPatch

# Column of each orchestration path, by its field name.
ORCHESTRATION_COLUMNS = {
    "csoundFilePath": "csound_file_path",
    "lilyPondFilePath": "lilypond_file_path",
    "midiFilePath": "midi_file_path",
}


def refuse_nulls(body: BaseModel, prefix: str = "body", allowed: frozenset[str] = frozenset()) -> None:
    """A field may be left out, but null is not a value the spec allows (except where `allowed`)."""
    nulls = sorted(name for name in body.model_fields_set if getattr(body, name) is None and name not in allowed)
    if nulls:
        errors = [{"location": f"{prefix}.{name}", "message": "may not be null"} for name in nulls]
        raise invalid(f"{prefix}.{nulls[0]}: may not be null; leave the field out to keep its value.", errors)


def script_fields(body: BaseModel) -> dict[str, Any]:
    """Columns of the fields a script body sets (title, author, description, orchestration paths,
    title page)."""
    refuse_nulls(body)
    fields: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "titlePage":
            fields["title_page"] = [entry.model_dump() for entry in value.root]
        elif isinstance(value, OrchestrationPatch):
            refuse_nulls(value, "body.orchestration")
            fields.update({ORCHESTRATION_COLUMNS[path]: getattr(value, path) for path in value.model_fields_set})
        else:
            fields[name] = value
    return fields
