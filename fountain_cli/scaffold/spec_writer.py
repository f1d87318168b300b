"""The neutral schema model -> specs/NAME.yaml: a /v1 CRUD API per table that keeps our spec rules.

/v1 conventions apply (application/json errors with `message`, every input fault 400): the rules
for /v2 ask for Idempotency-Key on every POST and problem+json, which a plain table API does not
need; its lists still answer the /v2 page shape {items, total, limit, offset}.
"""

import json
import re
from typing import Any

import yaml

from fountain_cli.scaffold.model import Column, ColumnType, Relation, Schema, Table, camel, pascal, relations

INT_BOUNDS = {
    "smallint": ("int32", -32768, 32767),
    "integer": ("int32", -2147483648, 2147483647),
    "bigint": ("int64", -9223372036854775808, 9223372036854775807),
}
TEXT_LIMIT = 10000
EXAMPLE_UUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def served_views(schema: Schema) -> list[Table]:
    return [view for view in schema.views if view.served and view.columns]


def title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def collection_path(table: Table) -> str:
    return "/v1/" + table.name.replace("_", "-")


# Years 0001-9999 and the days each month can have (29 February is accepted, and checked later).
YEAR = r"(000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})"
# Times keep to years 1000-9998: near year 1 or 9999 a UTC offset moves them out of range.
TIME_YEAR = r"([1-8]\d{3}|9[0-8]\d\d|99[0-8]\d)"
MONTH_DAY = r"((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-9]))"
TIME = r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"


TIME_OF_DAY = r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?"
OFFSET = r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
BASE64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Integers in a filter: as many digits as the type surely holds.
INT_DIGITS = {"smallint": 4, "integer": 9, "bigint": 18}
# Types PostgreSQL reads and writes as text (the API passes its text form).
TEXT_FORMS = {
    "interval": "An interval as PostgreSQL writes it, e.g. 1 day 02:00:00.",
    "inet": "An IPv4 or IPv6 host address, optionally with its netmask.",
    "cidr": "An IPv4 or IPv6 network.",
    "macaddr": "A MAC address.",
    "tsvector": "A text search vector as PostgreSQL writes it.",
}


def numeric_pattern(column: Column) -> str:
    kind = column.type
    if kind.precision is None:
        return r"-?\d{1,1000}(\.\d{1,1000})?"
    whole = max(kind.precision - (kind.scale or 0), 1)
    return rf"-?\d{{1,{whole}}}" + (rf"(\.\d{{1,{kind.scale}}})?" if kind.scale else "")


def item_schema(column: Column, *, given: bool = False) -> dict[str, Any]:
    """The JSON Schema of one value of the column's type; `given` for values a client sends, where
    dates and times are plain strings of a fixed form (a `format` alone would let the models take
    numbers as dates)."""
    kind = column.type.name
    if given and kind == "date":
        return {"type": "string", "pattern": f"^{YEAR}-{MONTH_DAY}$", "description": "A date, YYYY-MM-DD."}
    if given and kind == "timestamptz":
        return {
            "type": "string",
            "pattern": f"^{TIME_YEAR}-{MONTH_DAY}T{TIME}$",
            "description": "A time with its UTC offset (RFC 3339).",
        }
    if kind in INT_BOUNDS:
        fmt, low, high = INT_BOUNDS[kind]
        if column.generated == "serial" or column.generated and column.generated.startswith("identity"):
            low = 1  # sequences start at 1
        return {"type": "integer", "format": fmt, "minimum": low, "maximum": high}
    if kind == "numeric":
        return {
            "type": "string",
            "pattern": f"^{numeric_pattern(column)}$",
            "description": "An exact decimal, as a string.",
        }
    if kind in ("real", "double"):
        return {"type": "number", "format": "float" if kind == "real" else "double"}
    if kind in ("text", "varchar", "char"):
        # PostgreSQL cannot store NUL in text; the length is the column's, or a stated limit.
        return {"type": "string", "maxLength": column.type.length or TEXT_LIMIT, "pattern": "^[^\\x00]*$"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "uuid":
        return {"type": "string", "format": "uuid"}
    if kind == "timestamptz":
        return {"type": "string", "format": "date-time"}
    if kind == "timestamp":
        return {
            "type": "string",
            "pattern": f"^{TIME_YEAR}-{MONTH_DAY}T{TIME_OF_DAY}$",
            "description": "A date and time of day without a UTC offset (timestamp without time zone).",
        }
    if kind == "date":
        return {"type": "string", "format": "date"}
    if kind in ("time", "timetz"):
        offset = OFFSET if kind == "timetz" else ""
        return {"type": "string", "pattern": f"^{TIME_OF_DAY}{offset}$", "description": "A time of day."}
    if kind == "bytea":
        return {
            "type": "string",
            "contentEncoding": "base64",
            "pattern": BASE64,
            "maxLength": 1398104,
            "description": "Bytes, base64-encoded.",
        }
    if kind in ("json", "jsonb"):
        return {"description": "Any JSON value."}
    if kind in TEXT_FORMS:
        return {"type": "string", "maxLength": 1000, "pattern": "^[^\\x00]+$", "description": TEXT_FORMS[kind]}
    if kind == "enum":
        return {"type": "string", "enum": list(column.type.labels)}
    if kind == "other":
        return {
            "type": "string",
            "maxLength": 100000,
            "pattern": "^[^\\x00]+$",
            "description": f"A {column.type.named} as PostgreSQL writes it.",
        }
    raise ValueError(f"no JSON Schema for type {kind}")


def value_schema(column: Column, *, given: bool = False) -> dict[str, Any]:
    if column.type.array:
        item = Column(column.name, ColumnType(**{**column.type.__dict__, "array": False}))
        schema = item_schema(item, given=given)
        items = {k: v for k, v in schema.items() if k != "description"}
        return {"type": "array", "items": items, "maxItems": 1000, "description": "An array."}
    return item_schema(column, given=given)


FILTER_OPS = "(eq|neq|gt|gte|lt|lte)"
# The text search configurations every PostgreSQL has, for a full-text filter: fts(english).rock.
TEXT_SEARCH_CONFIGS = (
    "simple",
    "arabic",
    "danish",
    "dutch",
    "english",
    "finnish",
    "french",
    "german",
    "greek",
    "hungarian",
    "indonesian",
    "irish",
    "italian",
    "lithuanian",
    "nepali",
    "norwegian",
    "portuguese",
    "romanian",
    "russian",
    "spanish",
    "swedish",
    "tamil",
    "turkish",
)


def filter_schema(column: Column) -> dict[str, Any]:
    """The filters a column takes, PostgREST's way: op.value, in.(a,b), is.null, not.is.null."""
    kind, nulls = column.type.name, r"is\.null|not\.is\.null"
    value: str | None = None
    if kind == "tsvector" and not column.type.array:
        language = r"(\((" + "|".join(TEXT_SEARCH_CONFIGS) + r")\))?"
        return {
            "type": "string",
            "maxLength": 1000,
            "pattern": rf"^((fts|plfts|phfts|wfts){language}\.[^\x00]*|{nulls})$",
        }
    if column.type.array or kind in ("json", "jsonb", "bytea", "other", *TEXT_FORMS):
        value = None
    elif kind in INT_DIGITS:
        value = rf"-?\d{{1,{INT_DIGITS[kind]}}}"
    elif kind == "numeric":
        # A numeric of any precision: bounded by the filter's maxLength (a counted repeat of 1000 digits,
        # three times over, compiles past the regex engine's size limit).
        value = numeric_pattern(column) if column.type.precision is not None else r"-?\d+(\.\d+)?"
    elif kind in ("real", "double"):
        value = r"-?\d{1,15}(\.\d{1,6})?"
    elif kind in ("text", "varchar", "char"):
        # op.value, in.(a,b), is.null, not.is.null, or a bare value (equality): any text.
        return {"type": "string", "maxLength": 1000, "pattern": "^[^\\x00]*$"}
    elif kind == "boolean":
        return {"type": "string", "pattern": rf"^((eq|neq)\.(true|false)|is\.(true|false)|true|false|{nulls})$"}
    elif kind == "uuid":
        value = UUID
    elif kind == "date":
        value = f"{YEAR}-{MONTH_DAY}"
    elif kind == "timestamptz":
        value = f"{TIME_YEAR}-{MONTH_DAY}T{TIME}"
    elif kind == "timestamp":
        value = f"{TIME_YEAR}-{MONTH_DAY}T{TIME_OF_DAY}"
    elif kind in ("time", "timetz"):
        value = TIME_OF_DAY + (OFFSET if kind == "timetz" else "")
    elif kind == "enum":
        value = "(" + "|".join(re.escape(label) for label in column.type.labels) + ")"
    if value is None:
        return {"type": "string", "pattern": f"^({nulls})$"}
    return {
        "type": "string",
        "maxLength": 1000,
        "pattern": rf"^({FILTER_OPS}\.{value}|in\.\({value}(,{value})*\)|{nulls}|{value})$",
    }


def filter_description(column: Column) -> str:
    if column.type.name == "tsvector" and not column.type.array:
        return (
            f"Only rows whose {column.name} matches a full-text query: fts.<to_tsquery syntax> (rock & !roll), "
            "plfts.<plain words>, phfts.<a phrase>, wfts.<web search syntax>, each optionally with a text search "
            "configuration (fts(english).rock); or is.null, not.is.null. A query PostgreSQL cannot read is a 400."
        )
    return (
        f"Only rows whose {column.name} matches: a value (equality), op.value (eq, neq, gt, gte, lt, lte"
        + (", like, ilike with * as wildcard" if column.type.name in ("text", "varchar", "char") else "")
        + "), in.(a,b), is.null or not.is.null."
    )


def column_description(column: Column) -> str:
    """The column as declared, e.g. `author_id: integer, serial` or `title: varchar(200), default 'x'`."""
    notes = [column.type.sql()]
    if column.generated:
        notes.append(
            {
                "serial": "serial",
                "identity": "identity",
                "identity_always": "identity, always",
                "computed": "computed",
                "owner": "read-only: the account the row belongs to, the one that made it; set by the service, "
                "never by a request",
            }[column.generated]
        )
    if column.default is not None and column.generated != "serial":
        notes.append(f"default {column.default}")
    described = f"{column.name}: {', '.join(notes)}"
    return f"{described}. {column.comment}" if column.comment else described


def field_schema(column: Column, *, nullable: bool, given: bool = False) -> dict[str, Any]:
    schema = value_schema(column, given=given)
    described = column_description(column)
    schema = {
        **schema,
        "description": f"{described}. {schema['description']}" if "description" in schema else described,
    }
    if given:
        schema = bounded(schema, column)
    if nullable and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def bounded(schema: dict[str, Any], column: Column) -> dict[str, Any]:
    """The schema narrowed by the bounds the column's CHECK constraints imply."""
    narrowed = dict(schema)
    for keyword, value in column.bounds.items():
        tighter = max if keyword.startswith("min") else min
        narrowed[keyword] = tighter(narrowed.get(keyword, value), value)
    return narrowed


def example_value(column: Column) -> Any:
    if column.generated == "owner":
        return "alice"
    if column.type.array:
        return [example_value(Column(column.name, ColumnType(**{**column.type.__dict__, "array": False})))]
    kind = column.type
    if kind.name in INT_BOUNDS:
        return min(max(1, column.bounds.get("minimum", 1)), column.bounds.get("maximum", 1))
    if kind.name == "char":
        return "x" * min(kind.length or 1, 40)  # char(n) pads to n: a value of n characters reads back as sent
    if kind.name in ("text", "varchar"):
        text = f"{column.name.replace('_', ' ')} 1"
        limit = min(kind.length or TEXT_LIMIT, column.bounds.get("maxLength", TEXT_LIMIT))
        return text.ljust(column.bounds.get("minLength", 0), "x")[:limit]
    if kind.name == "numeric":
        return "1" + ("." + "5".ljust(min(kind.scale, 2), "0") if kind.scale else "")
    if kind.name == "enum":
        return kind.labels[0]
    return {
        "real": 1.5,
        "double": 1.5,
        "boolean": True,
        "uuid": EXAMPLE_UUID,
        "timestamptz": "2026-11-21T10:00:00Z",
        "timestamp": "2026-11-21T10:00:00",
        "date": "2026-11-21",
        "time": "10:00:00",
        "timetz": "10:00:00+00:00",
        "interval": "1 day",
        "bytea": "aGVsbG8=",
        "json": {"key": "value"},
        "jsonb": {"key": "value"},
        "inet": "192.0.2.1",
        "cidr": "192.0.2.0/24",
        "macaddr": "08:00:2b:01:02:03",
        "tsvector": "'fountain'",
        "other": "value",
    }[kind.name]


def writable(column: Column) -> bool:
    """Columns a client sets; keys from a sequence or identity are the database's to choose."""
    return not column.generated


def row_example(schema: Schema, table: Table, *, embed: bool = False) -> dict[str, Any]:
    row = {camel(c.name): example_value(c) for c in table.columns}
    if embed:
        for relation in relations(schema, table):
            if relation.kind == "one":
                row[relation.name] = row_example(schema, schema.table(relation.target))
    return row


def relation_description(relation: Relation) -> str:
    if relation.kind == "one":
        return f"The {relation.target} row {camel(relation.column)} points to (or null), when asked for with embed."
    if relation.kind == "many":
        return (
            f"The {relation.target} rows whose {camel(relation.target_column)} points to this row, when asked for "
            "with embed."
        )
    return f"The {relation.target} rows linked to this row through {relation.through}, when asked for with embed."


def _relation_properties(schema: Schema, table: Table) -> dict[str, Any]:
    """The related rows a read of `table` (or a view) may embed, each as its own field."""
    properties: dict[str, Any] = {}
    for relation in relations(schema, table):
        target = {"$ref": f"#/components/schemas/{pascal(relation.target)}Read"}
        properties[relation.name] = (
            {"description": relation_description(relation), "anyOf": [target, {"type": "null"}]}
            if relation.kind == "one"
            else {"description": relation_description(relation), "type": "array", "items": target}
        )
    return properties


def component_schemas(schema: Schema, table: Table) -> dict[str, Any]:
    model = pascal(table.name)
    row_props: dict[str, Any] = {camel(c.name): field_schema(c, nullable=c.nullable) for c in table.columns}
    read_props: dict[str, Any] = {**row_props, **_relation_properties(schema, table)}
    create_props = {
        camel(c.name): field_schema(c, nullable=c.nullable, given=True) for c in table.columns if writable(c)
    }
    create_required = [camel(c.name) for c in table.columns if writable(c) and not c.nullable and c.default is None]
    update_props = {
        camel(c.name): field_schema(c, nullable=c.nullable, given=True)
        for c in table.columns
        if writable(c) and c.name not in table.primary_key
    }
    create: dict[str, Any] = {
        "type": "object",
        "description": f"A new {table.name} row; fields left out take their defaults (or null).",
        "properties": create_props,
        "additionalProperties": False,
    }
    if create_required:
        create["required"] = create_required
    return {
        model: {
            "type": "object",
            "description": f"A row of {table.name}.",
            "properties": row_props,
            "required": [camel(c.name) for c in table.columns],
        },
        f"{model}Create": create,
        f"{model}Upsert": {
            "type": "object",
            "description": f"A {table.name} row to create, or to change where its onConflict fields match a stored "
            "row's; fields left out take their defaults in a new row.",
            "properties": {
                camel(c.name): field_schema(c, nullable=c.nullable, given=True) for c in upsert_columns(table)
            },
            "additionalProperties": False,
        },
        f"{model}CreateBatch": _batch_schema(f"{model}Create", f"New {table.name} rows, written all or none."),
        f"{model}UpsertBatch": _batch_schema(f"{model}Upsert", f"{table.name} rows to write, all or none."),
        f"{model}Read": {
            "type": "object",
            "description": f"A row of {table.name} as read: the fields asked for with select (all by default) "
            "and the related rows asked for with embed.",
            "properties": read_props,
            "additionalProperties": False,
        },
        f"{model}Update": {
            "type": "object",
            "description": f"Changes to a {table.name} row: only the fields given change.",
            "properties": update_props,
            "additionalProperties": False,
        },
        f"{model}Page": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{model}Read"}},
                "total": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
            "required": ["items", "total", "limit", "offset"],
        },
    }


def _with_csv(response: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    """The page's rows also as CSV, for a client whose Accept prefers text/csv."""
    fields = ",".join(example)
    values = ",".join("" if v is None else v if isinstance(v, str) else json.dumps(v) for v in example.values())
    response["content"]["text/csv"] = {
        "schema": {
            "type": "string",
            "description": "The page's rows as CSV (RFC 4180): a header line of the fields (those asked for with "
            "select), then one line per row; null is an empty cell, a nested value (an embedded row, an array, "
            "JSON) its JSON. An empty page is an empty body; the total is in the JSON answer.",
        },
        "example": f"{fields}\r\n{values}\r\n",
    }
    return response


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _json(schema_name: str, example: Any, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema_name}"},
                "examples": {"example": {"value": example}},
            }
        },
    }


# How deep a read may nest ?embed= (fountain_common.crud.embeds.EMBED_DEPTH): artist?embed=album(track(genre)).
EMBED_DEPTH = 3


def embed_pattern(schema: Schema, table: Table, depth: int = EMBED_DEPTH) -> str | None:
    """The relations `table` embeds, each with its own in parentheses, `depth` levels deep: exactly what
    a read accepts, so a request the spec allows is answered."""
    alternatives = []
    for relation in relations(schema, table):
        nested = embed_pattern(schema, schema.table(relation.target), depth - 1) if depth > 1 else None
        alternatives.append(relation.name + (rf"(\({nested}\))?" if nested else ""))
    if not alternatives:
        return None
    one = "(" + "|".join(alternatives) + ")"
    return f"{one}(,{one})*"


def field_path_pattern(schema: Schema, table: Table, depth: int = EMBED_DEPTH) -> str:
    """One item of select=: a field of `table`, or a relation, a dot and an item of its target's,
    `depth` relations deep (album.track.name): a flat path, so the pattern grows with the relations
    but not with the nesting of lists."""
    alternatives = [camel(c.name) for c in table.columns]
    if depth > 0:
        alternatives += [
            rf"{relation.name}\.{field_path_pattern(schema, schema.table(relation.target), depth - 1)}"
            for relation in relations(schema, table)
        ]
    return "(" + "|".join(alternatives) + ")"


def read_parameters(schema: Schema, table: Table) -> list[dict[str, Any]]:
    """select= and embed=, which shape what a read answers."""
    item = field_path_pattern(schema, table)
    fields = ", ".join(camel(c.name) for c in table.columns)
    names = [relation.name for relation in relations(schema, table)]
    paths = (
        f" An embedded row's fields are named by the path of relations to it ({_path_example(schema, table)}), "
        f"up to {EMBED_DEPTH} relations deep, which embeds those relations as embed would; a level none of "
        "whose fields are named answers all of them."
        if names
        else ""
    )
    parameters: list[dict[str, Any]] = [
        {
            "name": "select",
            "in": "query",
            "required": False,
            "description": f"The fields to answer, comma-separated (all by default): {fields}.{paths} An unknown "
            "field is a 400 naming it.",
            "schema": {"type": "string", "pattern": f"^{item}(,{item})*$", "maxLength": 2000},
            "x-fountain-pattern-checked-by-operation": True,
        }
    ]
    if names:
        parameters.append(
            {
                "name": "embed",
                "in": "query",
                "required": False,
                "description": f"Related rows to include, comma-separated: {', '.join(names)}; each may name "
                f"its own related rows in parentheses, up to {EMBED_DEPTH} levels deep (e.g. "
                f"{names[0]}({_nested_example(schema, table, names[0])})). A row a foreign key points to is an "
                "object or null; rows pointing to this one, or linked through a join table, are a list. "
                "One query per embedded relation, whatever the number of rows. An unknown relation is a 400 "
                "naming it.",
                "schema": {"type": "string", "pattern": f"^{embed_pattern(schema, table)}$", "maxLength": 500},
                "x-fountain-pattern-checked-by-operation": True,
            }
        )
    return parameters


def _nested_example(schema: Schema, table: Table, name: str) -> str:
    relation = next(r for r in relations(schema, table) if r.name == name)
    further = relations(schema, schema.table(relation.target))
    return further[0].name if further else "..."


def _path_example(schema: Schema, table: Table) -> str:
    """`album.title`: the first relation and the first field of its target."""
    relation = relations(schema, table)[0]
    return f"{relation.name}.{camel(schema.table(relation.target).columns[0].name)}"


def table_paths(schema: Schema, table: Table) -> dict[str, Any]:
    paths = _row_paths(schema, table)
    writes = _bulk_paths(table)
    paths[collection_path(table)].update(writes.pop(collection_path(table)))
    return {**paths, **writes}


# Rows one request may write at once.
BATCH_LIMIT = 1000


def conflict_targets(table: Table) -> list[str]:
    """What an upsert may match rows on (fountain_common.crud.batches.conflict_targets): the primary key, a
    unique constraint, a unique index of plain columns without WHERE; named by their fields."""
    targets = [table.primary_key, *[cols for cols, _ in table.uniques]]
    targets += [
        index.columns for index in table.indexes if index.unique and not index.where and not any(index.expressions)
    ]
    return list(dict.fromkeys(",".join(camel(c) for c in cols) for cols in targets))


def upsert_columns(table: Table) -> list[Column]:
    """The fields an upsert's rows give: a new row's, and key columns a sequence or identity fills."""
    return [
        c
        for c in table.columns
        if writable(c) or (c.name in table.primary_key and c.generated in ("serial", "identity"))
    ]


def _rows_body(schema_name: str, example: list[dict[str, Any]], description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{schema_name}"},
                "examples": {"example": {"value": example}},
            }
        },
    }


def _batch_schema(item: str, description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "description": description,
        "items": {"$ref": f"#/components/schemas/{item}"},
        "minItems": 1,
        "maxItems": BATCH_LIMIT,
    }


def _rows_answer(model: str, example: list[dict[str, Any]], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"$ref": f"#/components/schemas/{model}"}},
                "examples": {"example": {"value": example}},
            }
        },
    }


def _count_answer(description: str) -> dict[str, Any]:
    return _json("RowCount", {"count": 1}, description)


def _bulk_paths(table: Table) -> dict[str, Any]:
    """Writes of many rows: create many, upsert, and change or delete the rows matching filters."""
    model, collection = pascal(table.name), collection_path(table)
    errors = {"500": _ref("V1InternalError"), "503": _ref("V1Unavailable")}
    failures = {"400": _ref("V1BadRequest"), "409": _ref("V1Conflict"), **errors}
    too_large = {"413": _ref("V1ContentTooLarge")}  # the operations below that take a body
    filters = filter_refs(table)
    every = {
        "name": "allRows",
        "in": "query",
        "required": False,
        "description": "true to touch every row: without a filter, and without it, the request is refused (400), "
        "so a forgotten filter never changes or deletes the whole table.",
        "schema": {"type": "boolean"},
    }
    created = {camel(c.name): example_value(c) for c in table.columns if writable(c)}
    row = row_example_plain(table)
    upserted = {camel(c.name): example_value(c) for c in upsert_columns(table)}
    targets = conflict_targets(table)
    changes = {f: v for f, v in created.items() if f not in [camel(k) for k in table.primary_key]}
    return {
        collection: {
            "put": {
                "tags": ["v1"],
                "operationId": f"upsert{model}",
                "summary": f"Create or change {title(table.name)} rows",
                "description": f"Writes every {table.name} row given in one statement, all or none: a row whose "
                "onConflict fields match a stored row changes that row to the fields given, any other is created. "
                "Every row gives the same fields, the onConflict ones among them. Answers the rows as stored, in "
                "the order given.",
                "parameters": [
                    {
                        "name": "onConflict",
                        "in": "query",
                        "required": False,
                        "description": "The fields that identify a stored row: the primary key (the default) or a "
                        f"unique constraint's: {'; '.join(targets)}.",
                        "schema": {"type": "string", "enum": targets},
                    }
                ],
                "requestBody": _rows_body(f"{model}UpsertBatch", [upserted], f"The {table.name} rows to write."),
                "responses": {"200": _rows_answer(model, [row], "The rows as stored."), **failures, **too_large},
            },
            "patch": {
                "tags": ["v1"],
                "operationId": f"update{model}Where",
                "summary": f"Change the {title(table.name)} rows matching filters",
                "description": f"Changes the fields given in every {table.name} row matching every filter (the "
                "list's), in one statement, and answers how many rows matched. Without a filter it is refused "
                "unless allRows=true.",
                "parameters": [*filters, every],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model}Update"},
                            "examples": {"example": {"value": dict(list(changes.items())[:1])}},
                        }
                    },
                },
                "responses": {"200": _count_answer("How many rows matched."), **failures, **too_large},
            },
            "delete": {
                "tags": ["v1"],
                "operationId": f"delete{model}Where",
                "summary": f"Delete the {title(table.name)} rows matching filters",
                "description": f"Deletes every {table.name} row matching every filter (the list's), in one "
                "statement, and answers how many. Without a filter it is refused unless allRows=true; while "
                "other rows still point to one of them, nothing is deleted (409).",
                "parameters": [*filters, every],
                "responses": {"200": _count_answer("How many rows were deleted."), **failures},
            },
        },
        collection + "-batch": {
            "post": {
                "tags": ["v1"],
                "operationId": f"create{model}Batch",
                "summary": f"Create many {title(table.name)} rows",
                "description": f"Creates every {table.name} row given in one statement, all or none, and answers "
                "them as stored, in the order given. A field a row leaves out takes its default.",
                "requestBody": _rows_body(f"{model}CreateBatch", [created], f"The new {table.name} rows."),
                "responses": {"201": _rows_answer(model, [row], "The rows as stored."), **failures, **too_large},
            }
        },
    }


def row_example_plain(table: Table) -> dict[str, Any]:
    return {camel(c.name): example_value(c) for c in table.columns}


def _order_parameter(fields: list[str], tiebreak: str) -> dict[str, Any]:
    """The orderBy query parameter of a list over `fields`; `tiebreak` says what ends every order."""
    one = "-?(" + "|".join(fields) + r")(\.(nullsfirst|nullslast))?"
    return {
        "name": "orderBy",
        "in": "query",
        "required": False,
        "description": "Fields to order by, comma-separated; a leading - orders descending, a trailing "
        f".nullsfirst or .nullslast places the nulls. {tiebreak}",
        "schema": {"type": "string", "pattern": f"^{one}(,{one})*$", "maxLength": 500},
    }


def _row_paths(schema: Schema, table: Table) -> dict[str, Any]:
    model, keys = pascal(table.name), table.keys
    collection = collection_path(table)
    item = collection + "".join("/{" + camel(key.name) + "}" for key in keys)
    errors = {"500": _ref("V1InternalError"), "503": _ref("V1Unavailable")}
    example = row_example(schema, table)
    fields = [camel(c.name) for c in table.columns]
    filters = filter_refs(table)
    order = _order_parameter(fields, "The key ends every order.")
    page = {"items": [example], "total": 1, "limit": 50, "offset": 0}
    create_example = {camel(c.name): example_value(c) for c in table.columns if writable(c)}
    key_params = [
        {
            "name": camel(key.name),
            "in": "path",
            "required": True,
            "description": f"The row's {key.name}.",
            "schema": value_schema(key, given=True),
        }
        for key in keys
    ]
    key_links = {camel(key.name): f"$response.body#/{camel(key.name)}" for key in keys}
    update_example = {f: v for f, v in create_example.items() if f not in [camel(k.name) for k in keys]}
    update_example = dict(list(update_example.items())[:1])
    return {
        collection: {
            "get": {
                "tags": ["v1"],
                "operationId": f"list{model}",
                "summary": f"List {title(table.name)} rows",
                "description": f"Lists {table.name} rows matching every filter given, ordered by orderBy, one page "
                "at a time with the exact total count; each with the fields asked for with select and the related "
                "rows asked for with embed.",
                "x-omit-unset-fields": True,
                "parameters": [
                    *filters,
                    order,
                    *read_parameters(schema, table),
                    {"$ref": "#/components/parameters/Limit"},
                    {"$ref": "#/components/parameters/Offset"},
                ],
                "responses": {
                    "200": _with_csv(_json(f"{model}Page", page, "One page of rows."), example),
                    "400": _ref("V1BadRequest"),
                    **errors,
                },
            },
            "post": {
                "tags": ["v1"],
                "operationId": f"create{model}",
                "summary": f"Create a {title(table.name)} row",
                "description": f"Creates a {table.name} row and answers it with its Location. A duplicate of a unique "
                "value is 409; a reference to a missing row is 400.",
                # One INSERT ... RETURNING, atomic by itself: no BEGIN and COMMIT round trips around it.
                "x-fountain-connection": "statement",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model}Create"},
                            "examples": {"example": {"value": create_example}},
                        }
                    },
                },
                "responses": {
                    "201": {
                        **_json(model, example, "The row as stored."),
                        "headers": {"Location": {"$ref": "#/components/headers/Location"}},
                        "links": {
                            f"Get{model}": {
                                "operationId": f"get{model}",
                                "parameters": key_links,
                            },
                            f"Update{model}": {
                                "operationId": f"update{model}",
                                "parameters": key_links,
                            },
                            f"Delete{model}": {
                                "operationId": f"delete{model}",
                                "parameters": key_links,
                            },
                        },
                    },
                    "400": _ref("V1BadRequest"),
                    "409": _ref("V1Conflict"),
                    "413": _ref("V1ContentTooLarge"),
                    **errors,
                },
            },
        },
        item: {
            "parameters": key_params,
            "get": {
                "tags": ["v1"],
                "operationId": f"get{model}",
                "summary": f"Read a {title(table.name)} row",
                "description": f"Reads one {table.name} row, with the fields asked for with select and the related "
                "rows asked for with embed.",
                "parameters": read_parameters(schema, table),
                "x-omit-unset-fields": True,
                "responses": {
                    "200": _json(f"{model}Read", row_example(schema, table, embed=True), "The row."),
                    "400": _ref("V1BadRequest"),
                    "404": _ref("V1NotFound"),
                    **errors,
                },
            },
            "patch": {
                "tags": ["v1"],
                "operationId": f"update{model}",
                "summary": f"Change a {title(table.name)} row",
                "description": f"Changes the fields given of one {table.name} row and answers the row. A duplicate of a "
                "unique value is 409; a reference to a missing row is 400.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model}Update"},
                            "examples": {"example": {"value": update_example}},
                        }
                    },
                },
                "responses": {
                    "200": _json(model, example, "The row as changed."),
                    "400": _ref("V1BadRequest"),
                    "404": _ref("V1NotFound"),
                    "409": _ref("V1Conflict"),
                    "413": _ref("V1ContentTooLarge"),
                    **errors,
                },
            },
            "delete": {
                "tags": ["v1"],
                "operationId": f"delete{model}",
                "summary": f"Delete a {title(table.name)} row",
                "description": f"Deletes one {table.name} row. A row other rows still point to is 409.",
                "responses": {
                    "204": {"description": "Deleted."},
                    "400": _ref("V1BadRequest"),
                    "404": _ref("V1NotFound"),
                    "409": _ref("V1Conflict"),
                    **errors,
                },
            },
        },
    }


def view_list_parameters(view: Table) -> list[dict[str, Any]]:
    """A view's filters, one per column, and its orderBy: a table list's, its columns ending the order."""
    order = _order_parameter([camel(c.name) for c in view.columns], "The view's columns end every order.")
    return [*filter_refs(view), order]


def filter_parameters(table: Table) -> dict[str, dict[str, Any]]:
    """The filter of each column of a table or view, declared once under components/parameters (a
    table's list, its change and delete by filter all take them), named `Model.field`."""
    return {
        f"{pascal(table.name)}.{camel(c.name)}": {
            "name": camel(c.name),
            "in": "query",
            "required": False,
            "description": filter_description(c),
            "schema": filter_schema(c),
        }
        for c in table.columns
    }


def filter_refs(table: Table) -> list[dict[str, str]]:
    return [{"$ref": f"#/components/parameters/{name}"} for name in filter_parameters(table)]


def view_schemas(schema: Schema, view: Table) -> dict[str, Any]:
    """A view's row as read (every field nullable, as PostgreSQL types a view's columns; the fields asked
    for with select, the related rows asked for with embed) and its page."""
    model = pascal(view.name)
    properties: dict[str, Any] = {camel(c.name): field_schema(c, nullable=True) for c in view.columns}
    properties |= _relation_properties(schema, view)
    return {
        model: {
            "type": "object",
            "description": f"A row of the view {view.name} (read-only), as read: the fields asked for with "
            "select (all by default) and the related rows asked for with embed.",
            "properties": properties,
            "additionalProperties": False,
        },
        f"{model}Page": {
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{model}"}},
                "total": {"type": "integer", "minimum": 0},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            },
            "required": ["items", "total", "limit", "offset"],
        },
    }


def view_paths(schema: Schema, view: Table) -> dict[str, Any]:
    """A view is read-only: one list operation, with a table's filters, ordering, select, embed (along
    the relations of the table columns its columns come from), pages and CSV."""
    model = pascal(view.name)
    example = {camel(c.name): example_value(c) for c in view.columns}
    page = {"items": [example], "total": 1, "limit": 50, "offset": 0}
    return {
        collection_path(view): {
            "get": {
                "tags": ["v1"],
                "operationId": f"list{model}",
                "summary": f"List {title(view.name)} rows",
                "description": f"Lists the rows of the view {view.name} matching every filter given, ordered by "
                "orderBy (then by every field that sorts), one page at a time with the exact total count; each "
                "with the fields asked for with select and the related rows asked for with embed. A view is "
                "read-only.",
                "x-omit-unset-fields": True,
                "parameters": [
                    *view_list_parameters(view),
                    *read_parameters(schema, view),
                    {"$ref": "#/components/parameters/Limit"},
                    {"$ref": "#/components/parameters/Offset"},
                ],
                "responses": {
                    "200": _with_csv(_json(f"{model}Page", page, "One page of rows."), example),
                    "400": _ref("V1BadRequest"),
                    "500": _ref("V1InternalError"),
                    "503": _ref("V1Unavailable"),
                },
            }
        }
    }


def _error(status: int, kind: str, title_: str, message: str) -> dict[str, Any]:
    return {"message": message, "type": f"https://fountain.coach/problems/{kind}", "title": title_, "status": status}


def _error_response(description: str, example: dict[str, Any], *, retry: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "examples": {"error": {"value": example}},
            }
        },
    }
    if retry:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def _problem_response(description: str, example: dict[str, Any], *, retry: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "examples": {"error": {"value": example}},
            }
        },
    }
    if retry:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def _common_schemas() -> dict[str, Any]:
    problem_props: dict[str, Any] = {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For invalid input, one entry per field at fault.",
            "items": {"$ref": "#/components/schemas/FieldError"},
        },
    }
    return {
        "Error": {
            "type": "object",
            "description": "A v1 error. `message` says what is wrong; the other fields follow RFC 9457.",
            "properties": {"message": {"type": "string"}, **problem_props},
            "required": ["message"],
        },
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "properties": problem_props,
            "required": ["type", "title", "status"],
        },
        "FieldError": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "Where the fault is, e.g. body.name or query.limit."},
                "message": {"type": "string"},
            },
            "required": ["location", "message"],
        },
        "RowCount": {
            "type": "object",
            "description": "How many rows a change or delete by filter touched.",
            "properties": {"count": {"type": "integer", "minimum": 0}},
            "required": ["count"],
        },
        "HealthStatus": {
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["ok"]}, "service": {"type": "string"}},
            "required": ["status", "service"],
        },
    }


def _probes() -> dict[str, Any]:
    return {
        "/health": {
            "get": {
                "tags": ["health"],
                "operationId": "getHealth",
                "summary": "Liveness probe",
                "description": "Answers 200 while the process is up. Does not touch the database.",
                "responses": {"200": _ref("Health"), "500": _ref("InternalError")},
            }
        },
        "/ready": {
            "get": {
                "tags": ["health"],
                "operationId": "getReadiness",
                "summary": "Readiness probe",
                "description": "Answers 200 when the database is reachable and this service's schema is migrated to "
                "the newest revision; 503 otherwise.",
                "responses": {"200": _ref("Health"), "500": _ref("InternalError"), "503": _ref("Unavailable")},
            }
        },
    }


def with_accounts(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` (changed in place) for a service whose rows belong to accounts (--auth): the gateway's
    apiKey and bearerAuth schemes, on every operation the roles the gateway admits for its method with their 401 and
    403, and the rule in the description."""
    from fountain_common.identity import roles_for_method

    components = spec["components"]
    components["securitySchemes"] = {
        "apiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "apikey",
            "description": "An API key (`fountain accounts add NAME --role writer`). The gateway checks it and names "
            "the caller to the service; each operation's scopes are the roles it admits (reader, writer, admin).",
        },
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A token instead of a key (`fountain accounts token NAME`): `Authorization: Bearer "
            "<token>`, checked by the gateway as a key is; the caller is the token's account, with its role. Each "
            "operation's scopes are the roles it admits, as for apiKey.",
        },
    }
    unauthorized = _error_response(
        "No API key, or one that is not valid (unknown and revoked keys get the same answer); `WWW-Authenticate` "
        "names the header.",
        _error(401, "unauthorized", "Unauthorized", "This request needs an API key in the `apikey` header."),
    )
    unauthorized["headers"] = {
        "WWW-Authenticate": {"description": 'apikey header="apikey"', "schema": {"type": "string"}}
    }
    components["responses"]["V1Unauthorized"] = unauthorized
    components["responses"]["V1Forbidden"] = _error_response(
        "The caller's role may not call this operation (a reader's write); nothing was changed.",
        _error(403, "forbidden", "Forbidden", "Role reader may not POST here; it needs one of: writer, admin."),
    )
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            if path in ("/health", "/ready"):
                operation["security"] = []
                continue
            roles = list(roles_for_method(method))
            operation["security"] = [{"apiKey": roles}, {"bearerAuth": list(roles)}]  # a token admits what a key does
            operation["responses"]["401"] = _ref("V1Unauthorized")
            operation["responses"]["403"] = _ref("V1Forbidden")
    spec["info"]["description"] += (
        " Every row belongs to the account that made it (its `owner`, set by the service): an account reads, "
        "lists and changes its own rows only, and an admin every row; another account's row is answered as a "
        "missing one. A row refers only to rows of its own account, and unique values are unique per account."
    )
    return spec


def build_spec(service: str, host: str, port: int, schema: Schema) -> dict[str, Any]:
    spec = _build_spec(service, host, port, schema)
    return with_accounts(spec) if schema.owned else spec


def _build_spec(service: str, host: str, port: int, schema: Schema) -> dict[str, Any]:
    paths = _probes()
    schemas: dict[str, Any] = {}
    for table in schema.served:
        paths.update(table_paths(schema, table))
        schemas.update(component_schemas(schema, table))
    for view in served_views(schema):
        paths.update(view_paths(schema, view))
        schemas.update(view_schemas(schema, view))
    schemas.update(_common_schemas())
    filters = {name: p for t in [*schema.served, *served_views(schema)] for name, p in filter_parameters(t).items()}
    tables = ", ".join(t.name for t in schema.served)
    views = ", ".join(v.name for v in served_views(schema))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title(service)} Service API",
            "version": "1.0.0",
            "description": f"Create, read, list, change and delete the rows of {tables}"
            + (f"; list the rows of the views {views} (read-only)" if views else "")
            + ". Field names are the "
            "columns' names in camelCase. Scaffolded by `fountain scaffold` from a declared schema.",
        },
        "servers": [
            {"url": f"https://{host}", "description": "Production, through the gateway"},
            {"url": f"http://localhost:{port}", "description": f"Local, `fountain serve {service}`"},
        ],
        "tags": [
            {"name": "v1", "description": "The table API."},
            {"name": "health", "description": "Liveness and readiness probes."},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": {
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": "Page size.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                },
                "Offset": {
                    "name": "offset",
                    "in": "query",
                    "required": False,
                    "description": "Rows to skip.",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647, "default": 0},
                },
                **filters,
            },
            "headers": {
                "Location": {"description": "URL of the created row.", "schema": {"type": "string"}},
                "RetryAfter": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}},
            },
            "responses": {
                "Health": _json("HealthStatus", {"status": "ok", "service": service}, "The service is up."),
                "V1BadRequest": _error_response(
                    "The request is malformed or breaks a rule; `message` says which.",
                    _error(
                        400,
                        "invalid-request",
                        "Invalid request",
                        "query.limit: Input should be less than or equal to 500",
                    ),
                ),
                "V1ContentTooLarge": _error_response(
                    "The request body is larger than the service accepts (FOUNTAIN_MAX_BODY_BYTES, 5 MiB unless "
                    "configured); `detail` names the limit. Nothing was stored, and the connection is closed.",
                    {
                        **_error(
                            413,
                            "content-too-large",
                            "Content too large",
                            "The request body is larger than this service accepts (5242880 bytes).",
                        ),
                        "detail": "The request body is larger than this service accepts (5242880 bytes).",
                    },
                ),
                "V1NotFound": _error_response(
                    "The row does not exist.", _error(404, "not-found", "Not found", "No row with this key.")
                ),
                "V1Conflict": _error_response(
                    "A unique value is taken, or other rows still point to this one.",
                    _error(409, "conflict", "Conflict", "A row with these values exists already."),
                ),
                "V1InternalError": _error_response(
                    "An unexpected error; it was logged with the request id.",
                    _error(500, "internal", "Internal server error", "Internal server error."),
                ),
                "V1Unavailable": _error_response(
                    "The database is unreachable; retry later.",
                    _error(503, "unavailable", "Service unavailable", "The database is unavailable."),
                    retry=True,
                ),
                "InternalError": _problem_response(
                    "An unexpected error; it was logged with the request id.",
                    {
                        "type": "https://fountain.coach/problems/internal",
                        "title": "Internal server error",
                        "status": 500,
                    },
                ),
                "Unavailable": _problem_response(
                    "The database is unreachable or not migrated; retry later.",
                    {
                        "type": "https://fountain.coach/problems/unavailable",
                        "title": "Service unavailable",
                        "status": 503,
                        "detail": "The database is unavailable.",
                    },
                    retry=True,
                ),
            },
        },
    }


def render_spec(service: str, host: str, port: int, schema: Schema) -> str:
    header = f"# The {service} service's contract, scaffolded by `fountain scaffold`; edit it, then `make codegen`.\n"
    return header + yaml.safe_dump(
        build_spec(service, host, port, schema), sort_keys=False, allow_unicode=True, width=120
    )
