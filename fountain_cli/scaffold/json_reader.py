"""schema.json -> the neutral schema model. The format is described in docs/scaffolding.md and checked
by FORMAT (a JSON Schema); each mistake is reported with its line (syntax) or its path (content)."""

import json
from typing import Any

from jsonschema import Draft202012Validator
from pglast import ast
from pglast.enums.parsenodes import A_Expr_Kind

from fountain_cli.scaffold.model import (
    Check,
    Column,
    ColumnType,
    ForeignKey,
    Schema,
    SchemaError,
    Table,
    check_name,
)
from fountain_cli.scaffold.sql_reader import carry_bound, check_columns, check_text, read_check

FIELD_TYPES = {
    "smallint": "smallint",
    "integer": "integer",
    "bigint": "bigint",
    "serial": "integer",
    "bigserial": "bigint",
    "string": "varchar",
    "text": "text",
    "boolean": "boolean",
    "uuid": "uuid",
    "timestamp": "timestamptz",
    "timestamptz": "timestamptz",
    "timestamp_without_time_zone": "timestamp",
    "date": "date",
    "time": "time",
    "timetz": "timetz",
    "interval": "interval",
    "numeric": "numeric",
    "real": "real",
    "double": "double",
    "char": "char",
    "bytea": "bytea",
    "json": "json",
    "jsonb": "jsonb",
    "inet": "inet",
    "cidr": "cidr",
    "macaddr": "macaddr",
    "tsvector": "tsvector",
    "enum": "enum",
}

FORMAT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "FountainAI service schema",
    "type": "object",
    "required": ["entities"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string", "description": "May name this format's JSON Schema, for editors."},
        "description": {"type": "string"},
        "entities": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["fields"],
                "additionalProperties": False,
                "properties": {
                    "description": {"type": "string"},
                    "fields": {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": {"$ref": "#/$defs/field"},
                    },
                    "unique": {
                        "type": "array",
                        "description": "Unique constraints over several fields.",
                        "items": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    },
                    "checks": {
                        "type": "array",
                        "description": "CHECK constraints: a condition on the fields of one row.",
                        "items": {
                            "type": "object",
                            "required": ["sql"],
                            "additionalProperties": False,
                            "properties": {
                                "sql": {"type": "string", "minLength": 1, "description": "e.g. price >= 0"},
                                "name": {
                                    "type": "string",
                                    "pattern": "^[a-z_][a-z0-9_]*$",
                                    "maxLength": 63,
                                    "description": "The constraint's name; PostgreSQL's own when left out.",
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "$defs": {
        "field": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": sorted(FIELD_TYPES)},
                "description": {"type": "string"},
                "primaryKey": {"type": "boolean"},
                "required": {"type": "boolean", "description": "NOT NULL."},
                "unique": {"type": "boolean"},
                "maxLength": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10485760,
                    "description": "string: varchar(n); char: char(n).",
                },
                "precision": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "numeric(p, s): p."},
                "scale": {"type": "integer", "minimum": 0, "maximum": 1000, "description": "numeric(p, s): s."},
                "values": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1, "maxLength": 63},
                    "minItems": 1,
                    "uniqueItems": True,
                    "description": "enum: its labels, in order; the type is named <entity>_<field>.",
                },
                "array": {"type": "boolean", "description": "An array of the type."},
                "default": {"type": ["string", "number", "boolean"]},
                "defaultNow": {"type": "boolean", "description": "timestamps and date: default to now."},
                "references": {"type": "string", "description": "The entity whose primary key this field holds."},
                "onDelete": {"enum": ["cascade", "restrict", "set null", "no action"]},
                "onUpdate": {"enum": ["cascade", "restrict", "set null", "no action"]},
                "deferrable": {"type": "boolean", "description": "The foreign key is DEFERRABLE INITIALLY DEFERRED."},
            },
        }
    },
}


def read_json(source: str, origin: str = "input") -> Schema:
    try:
        document = json.loads(source)
    except json.JSONDecodeError as error:
        raise SchemaError([f"{origin}:{error.lineno}:{error.colno}: JSON syntax error: {error.msg}"]) from error
    errors = sorted(Draft202012Validator(FORMAT).iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise SchemaError([f"{origin}: at {_path(e.absolute_path)}: {e.message}" for e in errors])
    problems: list[str] = []
    tables = [_table(name, entity, origin, problems) for name, entity in document["entities"].items()]
    if problems:
        raise SchemaError(problems)
    schema = Schema(tables)
    resolve_references(schema)
    return schema


def _path(parts: Any) -> str:
    return "/" + "/".join(str(p) for p in parts) if parts else "(document)"


def _literal(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _table(name: str, entity: dict[str, Any], origin: str, problems: list[str]) -> Table:
    where = f"{origin}: at /entities/{name}: "
    table = Table(name=name, where=where)
    for field_name, spec in entity["fields"].items():
        at = f"{origin}: at /entities/{name}/fields/{field_name}"
        kind = spec["type"]
        column = Column(
            name=field_name,
            type=ColumnType(
                FIELD_TYPES[kind],
                length=spec.get("maxLength", 1 if kind == "char" else None),
                precision=spec.get("precision"),
                scale=spec.get("scale", 0 if "precision" in spec else None),
                array=bool(spec.get("array")),
                enum=f"{name}_{field_name}" if kind == "enum" else None,
                labels=tuple(spec.get("values", ())),
            ),
            nullable=not (spec.get("required") or spec.get("primaryKey")),
            where=f"{at}: ",
        )
        if "maxLength" in spec and kind not in ("string", "char"):
            problems.append(f"{at}: maxLength applies to types string and char only")
        if ("precision" in spec or "scale" in spec) and kind != "numeric":
            problems.append(f"{at}: precision and scale apply to type numeric only")
        if "scale" in spec and spec["scale"] > spec.get("precision", 0):
            problems.append(f"{at}: scale needs a precision at least as large")
        if (kind == "enum") != ("values" in spec):
            problems.append(f"{at}: an enum field lists its values, and only an enum field does")
        if kind in ("serial", "bigserial"):
            column.generated = "serial"
        if "default" in spec:
            expected: Any = {
                "boolean": bool,
                "string": str,
                "text": str,
                "char": str,
                "enum": str,
                "numeric": (str, int, float),
                "real": (int, float),
                "double": (int, float),
            }.get(kind, int if "int" in kind else None)
            value = spec["default"]
            if (
                expected is None
                or not isinstance(value, expected)
                or (expected is not bool and isinstance(value, bool))
            ):
                problems.append(f"{at}/default: {value!r} is not a {kind}")
            column.default = _literal(value)
        if spec.get("defaultNow"):
            if kind not in ("timestamp", "timestamptz", "timestamp_without_time_zone", "date"):
                problems.append(f"{at}/defaultNow: only timestamp and date fields can default to now")
            column.default = "CURRENT_DATE" if kind == "date" else "now()"
        if spec.get("primaryKey"):
            table.primary_key.append(field_name)
            if kind == "uuid" and column.default is None:
                column.default = "gen_random_uuid()"
        if spec.get("unique"):
            table.uniques.append(([field_name], None))
        if "references" in spec:
            on_delete, on_update = spec.get("onDelete"), spec.get("onUpdate")
            table.foreign_keys.append(
                ForeignKey(
                    [field_name],
                    spec["references"],
                    [],
                    None if on_delete in (None, "no action") else on_delete.upper(),
                    on_update=None if on_update in (None, "no action") else on_update.upper(),
                    deferrable=bool(spec.get("deferrable")),
                    initially_deferred=bool(spec.get("deferrable")),
                )
            )
        elif {"onDelete", "onUpdate", "deferrable"} & set(spec):
            problems.append(f"{at}: only a field with references has onDelete, onUpdate or deferrable")
        table.columns.append(column)
    for index, fields in enumerate(entity.get("unique", [])):
        table.uniques.append((list(fields), None))
        for field_name in fields:
            if field_name not in entity["fields"]:
                problems.append(f"{origin}: at /entities/{name}/unique/{index}: {field_name!r} is not a field")
    _checks(table, entity.get("checks", []), f"{origin}: at /entities/{name}/checks", problems)
    return table


# Operators whose result is a value, not true or false: a condition is not made of one alone.
VALUE_OPERATORS = {"+", "-", "*", "/", "%", "^", "||", "->", "->>", "#>", "#>>"}


def _checks(table: Table, declared: list[dict[str, str]], at: str, problems: list[str]) -> None:
    """Each condition parsed as PostgreSQL would, naming only the table's fields; the bounds it implies
    carried to the API as for SQL input."""
    columns = {c.name: c for c in table.columns}
    given = [d["name"] for d in declared if "name" in d]
    for index, check in enumerate(declared):
        where = f"{at}/{index}"
        if "name" in check and given.count(check["name"]) > 1:
            problems.append(f"{where}/name: {check['name']!r} names two checks of the table")
        try:
            expr = read_check(check["sql"])
        except ValueError as error:
            problems.append(f"{where}/sql: {check['sql']!r}: {error}")
            continue
        # `item.price` is the table's own field too, as PostgreSQL reads it.
        names = [n.removeprefix(f"{table.name}.") for n in check_columns(expr)]
        unknown = [n for n in names if n not in columns]
        for unknown_name in unknown:
            problems.append(f"{where}/sql: {unknown_name!r} is not a field of {table.name}")
        if unknown:
            continue
        if not _is_condition(expr, columns):
            problems.append(f"{where}/sql: {check['sql']!r} is not a condition (true or false)")
            continue
        taken = given + [c.name for c in table.checks if c.name]
        table.checks.append(Check(check_text(expr), check.get("name") or check_name(table.name, names, taken)))
        carry_bound(table, expr)


def _is_condition(expr: Any, columns: dict[str, Column]) -> bool:
    """False for what is plainly a value: a constant other than true or false, a field not boolean, or
    arithmetic; PostgreSQL judges the rest when the migration runs."""
    if isinstance(expr, ast.A_Const):
        return hasattr(expr.val, "boolval")
    if isinstance(expr, ast.ColumnRef):
        column = columns.get(check_columns(expr)[0].split(".")[-1])
        return column is not None and column.type.name == "boolean" and not column.type.array
    if isinstance(expr, ast.A_Expr) and expr.kind == A_Expr_Kind.AEXPR_OP and expr.name:
        return expr.name[-1].sval not in VALUE_OPERATORS
    return True


def resolve_references(schema: Schema) -> None:
    """`references` names an entity: the foreign key points to its primary key."""
    keys = {t.name: t.primary_key for t in schema.tables}
    for table in schema.tables:
        for fk in table.foreign_keys:
            fk.target_columns = fk.target_columns or list(keys.get(fk.target_table, []))
