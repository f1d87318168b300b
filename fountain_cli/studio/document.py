"""The studio's working schema: a schema.json document (docs/scaffolding.md), read, checked and
previewed by the scaffold's own code, so the studio says and writes exactly what `fountain scaffold`
would. A SQL input is carried over into that form; what schema.json cannot say is listed, not lost
silently."""

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from sqlalchemy import MetaData

from fountain_cli.exports import DIALECTS, ddl_statements, er_diagram, portable_metadata
from fountain_cli.scaffold import code_writer
from fountain_cli.scaffold.json_reader import FIELD_TYPES, read_json
from fountain_cli.scaffold.model import Column, Schema, SchemaError, Table, check_schema
from fountain_cli.scaffold.pipeline import ScaffoldError, path_problems
from fountain_cli.scaffold.spec_writer import render_spec
from fountain_common.service import ServiceDefinition

EMPTY: dict[str, Any] = {"entities": {}}
# The model's type -> schema.json's field type, where one name reads back as that type.
JSON_TYPES = {model: kind for kind, model in FIELD_TYPES.items() if kind not in ("serial", "bigserial", "timestamp")}
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def problems_of(document: Any, origin: str, root: Path, service: str | None = None) -> list[str]:
    """Every problem `fountain scaffold --from-json` reports for this document, in its words; the paths
    of `service` (the scaffolded service the document declares) are its own, not taken."""
    try:
        schema = parse(document, origin)
    except SchemaError as error:
        return error.problems
    return path_problems(root, schema, service)


def parse(document: Any, origin: str) -> Schema:
    schema = read_json(json.dumps(document), origin)
    check_schema(schema)
    return schema


def sql_to_document(schema: Schema) -> tuple[dict[str, Any], list[str]]:
    """A schema read from SQL in schema.json form, and what that form leaves out (one line each)."""
    left_out = [f"view {view.name}: schema.json declares tables only" for view in schema.views]
    entities: dict[str, Any] = {}
    for table in schema.tables:
        if not table.served:
            left_out.append(f"table {table.name}: a partition; schema.json has none")
            continue
        entities[table.name] = _entity(table, left_out)
    return {"entities": entities}, left_out


def _entity(table: Table, left_out: list[str]) -> dict[str, Any]:
    fields = {column.name: _field(table, column, left_out) for column in table.columns}
    for name in table.primary_key:
        fields[name]["primaryKey"] = True
        fields[name].pop("required", None)
    entity: dict[str, Any] = {"fields": fields}
    if table.comment:
        entity["description"] = table.comment
    together = []
    for columns, _ in table.uniques:
        if len(columns) == 1:
            fields[columns[0]]["unique"] = True
        else:
            together.append(list(columns))
    if together:
        entity["unique"] = together
    for fk in table.foreign_keys:
        if not fk.single:
            left_out.append(f"table {table.name}: foreign key ({', '.join(fk.columns)}): schema.json's are one field")
            continue
        field = fields[fk.column]
        field["references"] = fk.target_table
        if fk.on_delete:
            field["onDelete"] = fk.on_delete.lower()
        if fk.on_update:
            field["onUpdate"] = fk.on_update.lower()
        if fk.deferrable:
            field["deferrable"] = True
    if table.checks:
        entity["checks"] = [{"sql": c.sql, **({"name": c.name} if c.name else {})} for c in table.checks]
    left_out += [f"table {table.name}: index {index.name}" for index in table.indexes]
    return entity


def _field(table: Table, column: Column, left_out: list[str]) -> dict[str, Any]:
    kind = column.type
    where = f"table {table.name}: column {column.name}"
    if column.generated == "serial":
        name = "bigserial" if kind.name == "bigint" else "serial"
    elif kind.name in JSON_TYPES:
        name = JSON_TYPES[kind.name]
    else:
        left_out.append(f"{where}: type {kind.sql()} has no schema.json name; carried as text")
        name = "text"
    field: dict[str, Any] = {"type": name}
    if column.comment:
        field["description"] = column.comment
    if not column.nullable:
        field["required"] = True
    if kind.length and name in ("string", "char"):
        field["maxLength"] = kind.length
    if kind.precision is not None and name == "numeric":
        field["precision"] = kind.precision
        field["scale"] = kind.scale or 0
    if kind.array:
        field["array"] = True
    if name == "enum":
        field["values"] = list(kind.labels)
    if column.generated not in (None, "serial"):
        left_out.append(f"{where}: generated ({column.generated}); schema.json has no such field")
    default = (column.default or "").strip()
    if default and column.generated is None:
        if default.lower() in ("now()", "current_timestamp", "current_date"):
            field["defaultNow"] = True
        elif default.lower() in ("true", "false"):
            field["default"] = default.lower() == "true"
        elif NUMBER.match(default):
            field["default"] = float(default) if "." in default else int(default)
        elif re.fullmatch(r"'(?:[^']|'')*'(::[a-z_ ]+)?", default):
            field["default"] = default[1 : default.rindex("'")].replace("''", "'")
        elif default != "gen_random_uuid()":
            left_out.append(f"{where}: default {default} is not a constant; schema.json has no place for it")
    return field


def openapi(schema: Schema, service: str, port: int) -> str:
    return render_spec(service, host_of(service), port, schema)


def host_of(service: str) -> str:
    return service.replace("_", "-") + ".fountain.coach"


def definition(schema: Schema, service: str, port: int) -> ServiceDefinition:
    """The tables the scaffold would write (tables.py), loaded, as `fountain export-ddl` reads a service."""
    namespace: dict[str, Any] = {}
    # The scaffold's own tables.py text, from a checked schema: identifiers only, literals quoted.
    exec(compile(code_writer.render_tables(service, schema, "schema.json"), f"{service}/tables.py", "exec"), namespace)  # noqa: S102
    metadata = namespace["metadata"]
    assert isinstance(metadata, MetaData)
    return ServiceDefinition(service, host_of(service), port, metadata, APIRouter, lambda state: None)


def ddl(schema: Schema, service: str, port: int, dialect: str) -> str:
    if dialect not in DIALECTS:
        raise ScaffoldError([f"dialect {dialect!r}: one of {', '.join(DIALECTS)}"])
    tables = definition(schema, service, port)
    parts = [f"-- {service}: the tables `fountain scaffold` would write, for {dialect}"]
    parts += [f"-- left out: {note}" for note in portable_metadata(tables, dialect)[1]]
    parts += [statement + ";" for statement in ddl_statements(tables, dialect)]
    return "\n\n".join(parts) + "\n"


def mermaid(schema: Schema, service: str, port: int) -> str:
    lines = er_diagram(definition(schema, service, port).metadata)
    return "\n".join(line for line in lines if not line.startswith("```")) + "\n"
