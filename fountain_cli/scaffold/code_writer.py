"""The neutral schema model -> the Python files of a new service, written once and then owned by it:
service.py, tables.py, operations.py, the initial migration, and its tests."""

import json
import pprint
import re
from dataclasses import replace
from datetime import UTC, datetime

from fountain_cli.scaffold.model import (
    OWNER,
    OWNER_LENGTH,
    Column,
    ForeignKey,
    Relation,
    Schema,
    Statement,
    Table,
    camel,
    creation_order,
    embed_name,
    pascal,
    relations,
    uncreatable,
)
from fountain_cli.scaffold.spec_writer import collection_path, example_value, served_views, writable

# The model's types -> SQLAlchemy types (postgresql.* from sqlalchemy.dialects).
SA_TYPES = {
    "smallint": "SmallInteger",
    "integer": "Integer",
    "bigint": "BigInteger",
    "numeric": "Numeric",
    "real": "REAL",
    "double": "DOUBLE_PRECISION",
    "text": "Text",
    "varchar": "String",
    "char": "CHAR",
    "boolean": "Boolean",
    "uuid": "Uuid",
    "timestamptz": "DateTime",
    "timestamp": "DateTime",
    "date": "Date",
    "time": "Time",
    "timetz": "Time",
    "interval": "postgresql.INTERVAL",
    "bytea": "LargeBinary",
    "json": "postgresql.JSON",
    "jsonb": "postgresql.JSONB",
    "inet": "postgresql.INET",
    "cidr": "postgresql.CIDR",
    "macaddr": "postgresql.MACADDR",
    "tsvector": "postgresql.TSVECTOR",
    "enum": "postgresql.ENUM",
    "other": "NullType",
}
# The Python type a generated route passes a path or filter value as: text, parsed by the shared CRUD logic.
PY_TYPES = {"smallint": "int", "integer": "int", "bigint": "int", "boolean": "bool"}


# Types a list filters with is.null and not.is.null only.
NOT_COMPARABLE = {"json", "jsonb", "bytea", "interval", "inet", "cidr", "macaddr", "tsvector", "other"}


def py_type(column: Column) -> str:
    return "str" if column.type.array else PY_TYPES.get(column.type.name, "str")


def sa_type(column: Column, prefix: str = "") -> str:
    kind = column.type
    name = SA_TYPES[kind.name]
    name = name if name.startswith("postgresql.") else prefix + name
    if kind.name in ("varchar", "char") and kind.length:
        name = f"{name}({kind.length})"
    elif kind.name == "numeric" and kind.precision is not None:
        name = f"{name}({kind.precision}, {kind.scale or 0})"
    elif kind.name in ("timestamptz", "timetz"):
        name = f"{name}(timezone=True)"
    elif kind.name == "other":
        name = "NullType()"  # a type SQLAlchemy does not know: no bind processing, and the migrations' check skips it
    elif kind.name == "enum":
        # Named bare, as the database shows it to the migrations (the CRUD logic qualifies it).
        labels = ", ".join(map(repr, kind.labels))
        name = f"{name}({labels}, name={kind.enum!r}, schema=None, create_type=False)"
    if kind.domain:
        name = f"postgresql.DOMAIN({kind.domain!r}, {name}, schema=None, create_type=False)"
    return f"postgresql.ARRAY({name})" if kind.array else name


def _server_default(default: str, service: str) -> str:
    """A default as the migrations' check reads it back: a sequence's named with the service's schema
    and without its cast (comparing by running nextval() would use up values)."""
    return re.sub(r"nextval\('([^'.]+)'::regclass\)", rf"""nextval('"{service}".\1')""", default)


def column_code(table: Table, column: Column, service: str) -> str:
    """The Column(...) of tables.py."""
    args = [repr(column.name), sa_type(column)]
    if column.generated in ("identity", "identity_always"):
        args.append(f"Identity(always={column.generated == 'identity_always'})")
    if column.generated == "computed" and column.expression:
        args.append(f"Computed({column.expression!r}, persisted=True)")
    if column.name in table.primary_key:
        args.append("primary_key=True")
        if column.generated in (None, "serial") and len(table.primary_key) == 1:
            args.append(f"autoincrement={column.generated == 'serial'}")
    else:
        args.append(f"nullable={column.nullable}")
    if column.default is not None and column.generated != "computed":
        args.append(f"server_default=text({_server_default(column.default, service)!r})")
    if column.comment is not None:
        args.append(f"comment={column.comment!r}")
    return f"Column({', '.join(args)})"


def unique_name(table: Table, columns: list[str], given: str | None) -> str:
    # PostgreSQL's own name for an unnamed constraint, so the tables and the database agree.
    return given or f"{table.name}_{'_'.join(columns)}_key"


def constraint_codes(table: Table) -> list[str]:
    codes = [
        f"UniqueConstraint({', '.join(map(repr, cols))}, name={unique_name(table, cols, name)!r})"
        for cols, name in table.uniques
    ]
    for fk in table.foreign_keys:
        options = [f"name={(fk.name or f'{table.name}_{chr(95).join(fk.columns)}_fkey')!r}"]
        if fk.on_delete:
            options.append(f"ondelete={fk.on_delete!r}")
        if fk.on_update:
            options.append(f"onupdate={fk.on_update!r}")
        if fk.deferrable:
            options.append("deferrable=True")
        if fk.initially_deferred:
            options.append("initially='DEFERRED'")
        targets = [f"{fk.target_table}.{c}" for c in fk.target_columns]
        codes.append(f"ForeignKeyConstraint({fk.columns!r}, {targets!r}, {', '.join(options)})")
    for check in table.checks:
        name = f", name={check.name!r}" if check.name else ""
        codes.append(f"CheckConstraint({check.sql!r}{name})")
    for index in table.indexes:
        parts = [
            f"text({column!r})" if expression else repr(column)
            for column, expression in zip(index.columns, index.expressions or [False] * len(index.columns), strict=True)
        ]
        options = ["unique=True"] if index.unique else []
        if index.where:
            options.append(f"postgresql_where=text({index.where!r})")
        if index.using:
            options.append(f"postgresql_using={index.using!r}")
        codes.append(f"Index({', '.join([repr(index.name), *parts, *options])})")
    return codes


def render_tables(service: str, schema: Schema, origin: str) -> str:
    names = {"MetaData", "Table", "Column"}
    body: list[str] = []
    for table in schema.tables:
        columns = [column_code(table, c, service) for c in table.columns]
        constraints = owned_constraint_codes(table) if schema.owned else constraint_codes(table)
        body += ["", f"{table.name} = Table(", f"    {table.name!r},", "    metadata,"]
        body += [f"    {code}," for code in columns + constraints]
        if table.comment is not None:
            body.append(f"    comment={table.comment!r},")
        body.append(")")
    views = served_views(schema)
    if views:
        body += [
            "",
            "# The views served read-only: their columns as PostgreSQL types them. Apart from the tables'",
            "# metadata, so that the migrations' check does not take them for tables.",
        ]
        body += ["view_metadata = MetaData(schema=SCHEMA)"]
    for view in views:
        body += ["", f"{view.name} = Table(", f"    {view.name!r},", "    view_metadata,"]
        body += [f"    {column_code(view, c, service)}," for c in view.columns]
        body.append(")")
    code = "\n".join(body)
    names |= {
        name
        for name in SA_TYPES.values()
        if "." not in name and name != "NullType" and re.search(rf"[ (]{name}\b", code)
    }
    names |= {
        name
        for name in (
            "Identity",
            "Computed",
            "text",
            "UniqueConstraint",
            "ForeignKeyConstraint",
            "CheckConstraint",
            "Index",
        )
        if re.search(rf"\b{name}\(", code)
    }
    lines = [
        f'"""The {service} service\'s tables, all in its own PostgreSQL schema `{service}`, as declared in {origin}."""',
        "",
        "from sqlalchemy import " + ", ".join(sorted(names)),
    ]
    if "postgresql." in code:
        lines.append("from sqlalchemy.dialects import postgresql")
    if "NullType()" in code:
        lines.append("from sqlalchemy.types import NullType")
    lines += ["", f'SCHEMA = "{service}"', "metadata = MetaData(schema=SCHEMA)"]
    return "\n".join(lines) + "\n" + code + "\n"


def table_ddl(table: Table) -> str:
    """CREATE TABLE for a table read from schema.json (SQL input keeps its own statements)."""
    parts = []
    for column in table.columns:
        if column.generated == "owner":  # added by the statements of --auth (owner_statements)
            continue
        kind = column.type.sql()
        if column.generated == "serial":
            kind = {"smallint": "smallserial", "integer": "serial", "bigint": "bigserial"}[column.type.name]
        line = f"{column.name} {kind}"
        if column.generated in ("identity", "identity_always"):
            line += f" GENERATED {'ALWAYS' if column.generated == 'identity_always' else 'BY DEFAULT'} AS IDENTITY"
        if not column.nullable and column.name not in table.primary_key:
            line += " NOT NULL"
        if column.default is not None and column.generated != "serial":
            line += f" DEFAULT {column.default}"
        parts.append(line)
    parts.append(f"CONSTRAINT {table.name}_pkey PRIMARY KEY ({', '.join(table.primary_key)})")
    parts += [f"CONSTRAINT {unique_name(table, cols, name)} UNIQUE ({', '.join(cols)})" for cols, name in table.uniques]
    for fk in table.foreign_keys:
        name = fk.name or f"{table.name}_{'_'.join(fk.columns)}_fkey"
        action = f" ON DELETE {fk.on_delete}" if fk.on_delete else ""
        action += f" ON UPDATE {fk.on_update}" if fk.on_update else ""
        action += " DEFERRABLE INITIALLY DEFERRED" if fk.deferrable else ""
        parts.append(
            f"CONSTRAINT {name} FOREIGN KEY ({', '.join(fk.columns)}) "
            f"REFERENCES {fk.target_table} ({', '.join(fk.target_columns)}){action}"
        )
    parts += [(f"CONSTRAINT {c.name} " if c.name else "") + f"CHECK ({c.sql})" for c in table.checks]
    return f"CREATE TABLE {table.name} (\n    " + ",\n    ".join(parts) + "\n)"


def migration_statements(schema: Schema) -> list[Statement]:
    """The statements of the first migration: the input's (or, for schema.json, the CREATE statements it
    implies), and with --auth those that make every row an account's (`owner_statements`)."""
    declared = _declared_statements(schema)
    return declared + owner_statements(schema) if schema.owned else declared


def owner_key_name(table: Table) -> str:
    """The unique constraint over (owner, key) that rows of other tables refer to, and lists of one
    account's rows use."""
    return f"{table.name}_{OWNER}_{'_'.join(table.primary_key)}_key"


def _fk_name(table: Table, fk: ForeignKey) -> str:
    return fk.name or f"{table.name}_{'_'.join(fk.columns)}_fkey"


def owner_statements(schema: Schema) -> list[Statement]:
    """With --auth, after the input's statements: an owner column on every served table, unique
    constraints (and unique indexes) per owner, and foreign keys over (owner, key), so that a row refers
    only to rows of its own account; the database itself refuses any other."""
    served = schema.served
    adds = [f"ALTER TABLE {t.name} ADD COLUMN {OWNER} varchar({OWNER_LENGTH}) NOT NULL DEFAULT ''" for t in served]
    # Foreign keys first: they depend on the unique constraints they point to.
    drops = [f"ALTER TABLE {t.name} DROP CONSTRAINT {_fk_name(t, fk)}" for t in served for fk in t.foreign_keys]
    uniques = []
    for table in served:
        for columns, given in table.uniques:
            name = unique_name(table, columns, given)
            uniques.append(f"ALTER TABLE {table.name} DROP CONSTRAINT {name}")
            uniques.append(f"ALTER TABLE {table.name} ADD CONSTRAINT {name} UNIQUE ({OWNER}, {', '.join(columns)})")
        for index in table.indexes:
            if index.unique:
                using = f" USING {index.using}" if index.using else ""
                where = f" WHERE {index.where}" if index.where else ""
                uniques.append(f"DROP INDEX {index.name}")
                uniques.append(
                    f"CREATE UNIQUE INDEX {index.name} ON {table.name}{using} ({OWNER}, {', '.join(index.columns)})"
                    + where
                )
        uniques.append(
            f"ALTER TABLE {table.name} ADD CONSTRAINT {owner_key_name(table)} UNIQUE ({OWNER}, "
            f"{', '.join(table.primary_key)})"
        )
    references = []
    for table in served:
        for fk in table.foreign_keys:
            referring = ", ".join(fk.columns)
            on_delete = fk.on_delete
            if on_delete in ("SET NULL", "SET DEFAULT"):
                on_delete += f" ({referring})"  # the referring columns only: never the owner
            action = f" ON DELETE {on_delete}" if on_delete else ""
            action += f" ON UPDATE {fk.on_update}" if fk.on_update else ""
            # Deferrable (checked at once unless deferred): `fountain accounts claim` moves an account's rows
            # table by table, and defers the checks to its commit.
            action += " DEFERRABLE" + (" INITIALLY DEFERRED" if fk.initially_deferred else "")
            references.append(
                f"ALTER TABLE {table.name} ADD CONSTRAINT {_fk_name(table, fk)} FOREIGN KEY ({OWNER}, {referring}) "
                f"REFERENCES {fk.target_table} ({OWNER}, {', '.join(fk.target_columns)}){action}"
            )
    return [Statement(sql, "other") for sql in adds + drops + uniques + references]


def owned_constraint_codes(table: Table) -> list[str]:
    """The constraints of tables.py with --auth, as `owner_statements` makes them."""
    codes = [
        f"UniqueConstraint({OWNER!r}, {', '.join(map(repr, cols))}, name={unique_name(table, cols, name)!r})"
        for cols, name in table.uniques
    ]
    codes.append(
        f"UniqueConstraint({OWNER!r}, {', '.join(map(repr, table.primary_key))}, name={owner_key_name(table)!r})"
    )
    for fk in table.foreign_keys:
        options = [f"name={_fk_name(table, fk)!r}"]
        if fk.on_delete:
            options.append(f"ondelete={fk.on_delete!r}")
        if fk.on_update:
            options.append(f"onupdate={fk.on_update!r}")
        options.append("deferrable=True")
        if fk.initially_deferred:
            options.append("initially='DEFERRED'")
        targets = [f"{fk.target_table}.{c}" for c in [OWNER, *fk.target_columns]]
        codes.append(f"ForeignKeyConstraint({[OWNER, *fk.columns]!r}, {targets!r}, {', '.join(options)})")
    unowned = constraint_codes(replace(table, uniques=[], foreign_keys=[], indexes=[]))
    for index in table.indexes:
        parts = [repr(OWNER)] + [
            f"text({column!r})" if expression else repr(column)
            for column, expression in zip(index.columns, index.expressions or [False] * len(index.columns), strict=True)
        ]
        options = ["unique=True"] if index.unique else []
        if not index.unique:
            parts = parts[1:]
        if index.where:
            options.append(f"postgresql_where=text({index.where!r})")
        if index.using:
            options.append(f"postgresql_using={index.using!r}")
        unowned.append(f"Index({', '.join([repr(index.name), *parts, *options])})")
    return codes + unowned


def _declared_statements(schema: Schema) -> list[Statement]:
    if schema.statements:
        return schema.statements
    enums = {c.type.enum: c.type.labels for t in schema.tables for c in t.columns if c.type.enum}
    types = [
        Statement(
            f"CREATE TYPE {name} AS ENUM ({', '.join(_quoted(label) for label in labels)})",
            "type",
            f'TYPE IF EXISTS "{name}"',
        )
        for name, labels in enums.items()
    ]
    return types + [Statement(table_ddl(t), "table", f'TABLE IF EXISTS "{t.name}"') for t in creation_order(schema)]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def downgrade_statements(statements: list[Statement]) -> list[str]:
    """What removes the objects `statements` create: views first, then every table at once (their
    indexes, triggers, policies, owned sequences and comments go with them, and with CASCADE what
    depends on their row types, such as a function returning SETOF a table: all of it in the service's
    own schema), then what they used; IF EXISTS, as a cascade may have dropped it already."""
    drops = []
    views = [s.drop for s in reversed(statements) if s.kind == "view" and s.drop]
    drops += [f"DROP {drop}" for drop in views]
    tables = [s.drop.removeprefix("TABLE IF EXISTS ") for s in statements if s.kind == "table" and s.drop]
    if tables:
        drops.append(f"DROP TABLE IF EXISTS {', '.join(tables)} CASCADE")
    for kinds in (("sequence",), ("function",), ("type", "domain"), ("extension",)):
        drops += [f"DROP {s.drop}" for s in reversed(statements) if s.kind in kinds and s.drop]
    return drops


def _sql_literal(sql: str) -> str:
    """A statement as a readable Python literal: triple-quoted when that keeps it as it is."""
    if '"""' in sql or "\\" in sql or sql.endswith('"'):
        return repr(sql)
    return '"""' + sql + '"""' if "\n" in sql else repr(sql)


def render_migration(service: str, schema: Schema, origin: str) -> str:
    statements = migration_statements(schema)
    upgrade = ",\n".join(f"    {_sql_literal(s.sql)}" for s in statements)
    downgrade = ",\n".join(f"    {_sql_literal(s)}" for s in downgrade_statements(statements))
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    tables = ", ".join(t.name for t in schema.served)
    owned = (
        "; then (--auth) each table's owner\n# column, unique constraints per owner and references over (owner, key)"
        if schema.owned
        else ""
    )
    return f'''"""{tables}, as declared in {origin}

Revision ID: 0001
Revises:
Create Date: {created}
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The statements of {origin} as written (schema names left out: the migration runs with the
# service's schema `{service}` first on the search path), in their order{owned}.
UPGRADE = [
{upgrade},
]
DOWNGRADE = [
{downgrade},
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.get_bind().exec_driver_sql(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.get_bind().exec_driver_sql(statement)
'''


def operations_class(service: str) -> str:
    return pascal(service) + "Operations"


def _method(name: str, params: list[tuple[str, str]], returns: str) -> str:
    """One line; the formatter (run by the pipeline) wraps the long ones."""
    keywords = ", ".join(f"{param}: {kind}" for param, kind in params)
    return f"    async def {name}(self, conn: AsyncConnection, *, {keywords}) -> {returns}:"


def render_operations(service: str, schema: Schema) -> str:
    """The class the app serves: it derives from the generated `Operations`, and each method takes
    the connection its route opened (autocommit for reads, one transaction for writes) and returns
    the model, or for a create a `Reply` with its Location; a delete returns None for the spec's 204."""
    ordered = creation_order(schema)
    models = sorted(
        ["RowCount"]
        + [
            m
            for t in ordered
            for m in (
                pascal(t.name),
                f"{pascal(t.name)}Create",
                f"{pascal(t.name)}Read",
                f"{pascal(t.name)}Update",
                f"{pascal(t.name)}Upsert",
                f"{pascal(t.name)}Page",
            )
        ]
    )
    views = served_views(schema)
    models = sorted([*models, *(f"{pascal(v.name)}Page" for v in views)])
    lines = [
        f'"""The {service} service\'s operations: each table\'s rows through the shared CRUD logic',
        '(fountain_common.crud), wrapped in the models generated from the spec."""',
        "",
        "from typing import List, Optional",
        "",
        "from sqlalchemy.ext.asyncio import AsyncConnection",
        "",
        "from fountain_common.crud import "
        + ("Embed, " if any(relations(schema, t) for t in ordered) else "")
        + "Resource, create_row, create_rows, delete_row, delete_rows, get_row, list_rows, update_row, update_rows, "
        + "upsert_rows",
        "from fountain_common.routes import Reply",
        "",
        "from . import tables",
        "from .generated.api import Operations",
        "from .generated.models import (",
        *[f"    {m}," for m in models],
        ")",
        "",
    ]
    related = {table.name: relations(schema, table) for table in [*ordered, *views]}
    if any(related.values()):
        lines += [
            "# What a read can embed (?embed=), by table: each table's rows embed theirs in turn.",
            "RELATIONS = {",
        ]
        for name, found in related.items():
            if found:
                lines += [f"    {name!r}: (", *[f"        {_embed_code(r)}," for r in found], "    ),"]
        lines += ["}", ""]
    for table in ordered:
        relations_arg = ", RELATIONS" if any(related.values()) else ""
        owner_arg = f", owner={OWNER!r}" if schema.owned else ""
        lines.append(
            f"{table.name.upper()}_ROWS = Resource(tables.{table.name}, {collection_path(table)!r}{relations_arg}"
            f"{owner_arg})"
        )
    for view in views:
        relations_arg = ", RELATIONS" if related[view.name] else ""
        lines.append(
            f"{view.name.upper()}_ROWS = Resource(tables.{view.name}, {collection_path(view)!r}{relations_arg})"
        )
    lines += ["", "", f"class {operations_class(service)}(Operations):"]
    for view in views:
        model, resource = pascal(view.name), view.name.upper() + "_ROWS"
        embed = [("select", "Optional[str]")] + ([("embed", "Optional[str]")] if related[view.name] else [])
        embed_kw = ", select_=select" + (", embed=embed" if related[view.name] else "")
        params = [(c.name, "Optional[str]") for c in view.columns]
        params += [("order_by", "Optional[str]"), *embed, ("limit", "int"), ("offset", "int")]
        where = "{" + ", ".join(f"{c.name!r}: {c.name}" for c in view.columns) + "}"
        lines += [f"    # --- view {view.name} (read-only) " + "-" * (74 - len(view.name)), ""]
        lines.append(_method(f"list_{_snake(model)}", params, f"{model}Page"))
        lines += [
            f"        page = await list_rows(conn, {resource}, filters={where}, order_by=order_by, limit=limit, "
            f"offset=offset{embed_kw})",
            f"        return {model}Page.model_validate(page)",
            "",
        ]
    for index, table in enumerate(ordered):
        model, resource, keys = pascal(table.name), table.name.upper() + "_ROWS", table.keys
        snake = _snake(model)
        embed = [("select", "Optional[str]")] + ([("embed", "Optional[str]")] if related[table.name] else [])
        embed_kw = ", select_=select" + (", embed=embed" if related[table.name] else "")
        list_params = [(c.name, "Optional[str]") for c in table.columns]
        list_params += [("order_by", "Optional[str]"), *embed, ("limit", "int"), ("offset", "int")]
        key_params = [(key.name, py_type(key)) for key in keys]
        key = keys[0].name if len(keys) == 1 else "(" + ", ".join(k.name for k in keys) + ")"
        if index:
            lines.append("")
        lines += [f"    # --- {table.name} " + "-" * (90 - len(table.name)), ""]
        lines.append(_method(f"list_{snake}", list_params, f"{model}Page"))
        where = "{" + ", ".join(f"{c.name!r}: {c.name}" for c in table.columns) + "}"
        lines += [
            f"        page = await list_rows(conn, {resource}, filters={where}, order_by=order_by, limit=limit, "
            f"offset=offset{embed_kw})",
            f"        return {model}Page.model_validate(page)",
            "",
        ]
        lines.append(_method(f"create_{snake}", [("body", f"{model}Create")], f"Reply[{model}]"))
        lines += [
            f"        row, location = await create_row(conn, {resource}, body.model_dump(mode='json', exclude_unset=True))",
            f"        return Reply({model}.model_validate(row), location=location)",
            "",
        ]
        lines.append(_method(f"get_{snake}", [*key_params, *embed], f"{model}Read"))
        lines += [
            f"        return {model}Read.model_validate(await get_row(conn, {resource}, {key}{embed_kw}))",
            "",
        ]
        lines.append(_method(f"update_{snake}", [*key_params, ("body", f"{model}Update")], model))
        lines += [
            f"        row = await update_row(conn, {resource}, {key}, body.model_dump(mode='json', exclude_unset=True))",
            f"        return {model}.model_validate(row)",
            "",
        ]
        lines.append(_method(f"delete_{snake}", key_params, "None"))
        lines += [f"        await delete_row(conn, {resource}, {key})", ""]
        lines.append(_method(f"create_{snake}_batch", [("body", f"List[{model}Create]")], f"List[{model}]"))
        lines += [
            f"        rows = await create_rows(conn, {resource}, [row.model_dump(mode='json', exclude_unset=True) "
            "for row in body])",
            f"        return [{model}.model_validate(row) for row in rows]",
            "",
        ]
        upsert_params = [("on_conflict", "Optional[str]"), ("body", f"List[{model}Upsert]")]
        lines.append(_method(f"upsert_{snake}", upsert_params, f"List[{model}]"))
        lines += [
            "        given = [row.model_dump(mode='json', exclude_unset=True) for row in body]",
            f"        rows = await upsert_rows(conn, {resource}, given, on_conflict)",
            f"        return [{model}.model_validate(row) for row in rows]",
            "",
        ]
        filter_params = [(c.name, "Optional[str]") for c in table.columns] + [("all_rows", "Optional[bool]")]
        lines.append(_method(f"update_{snake}_where", [*filter_params, ("body", f"{model}Update")], "RowCount"))
        lines += [
            "        changes = body.model_dump(mode='json', exclude_unset=True)",
            f"        count = await update_rows(conn, {resource}, {where}, changes, all_rows=all_rows)",
            "        return RowCount.model_validate(count)",
            "",
        ]
        lines.append(_method(f"delete_{snake}_where", filter_params, "RowCount"))
        lines += [
            f"        count = await delete_rows(conn, {resource}, {where}, all_rows=all_rows)",
            "        return RowCount.model_validate(count)",
        ]
    return "\n".join(lines) + "\n"


def _embed_code(relation: Relation) -> str:
    args = [repr(relation.name), repr(relation.column), f"tables.{relation.target}", repr(relation.target_column)]
    if relation.kind == "many":
        args.append("many=True")
    if relation.through:
        args += [f"through=tables.{relation.through}", f"through_source={relation.through_source!r}"]
        args.append(f"through_target={relation.through_target!r}")
    return f"Embed({', '.join(args)})"


def _snake(model: str) -> str:
    out = ""
    for char in model:
        out += ("_" + char.lower()) if char.isupper() and out else char.lower()
    return out


def render_service(service: str, host: str, port: int) -> str:
    return f'''from fountain_common.service import ServiceDefinition

from .generated.api import build_router
from .operations import {operations_class(service)}
from .tables import SCHEMA, metadata

SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="{host}",
    port={port},
    metadata=metadata,
    build_router=build_router,
    operations={operations_class(service)},
)
'''


def _sample_rows(schema: Schema) -> list[dict[str, object]]:
    """One row per table, in creation order, for the behaviour test: what to send, what to expect."""
    rows = []
    skipped = uncreatable(schema)
    for table in creation_order(schema):
        if table.name in skipped:
            continue
        body = {
            camel(c.name): example_value(c)
            for c in table.columns
            if writable(c)
            and c.name not in {c for fk in table.foreign_keys for c in fk.columns}
            and c.type.name != "other"
        }
        for column in table.columns:
            if column.type.name == "uuid" and column.name in table.primary_key and column.default is None:
                body[camel(column.name)] = "00000000-0000-4000-8000-000000000001"
        rows.append(
            {
                "path": collection_path(table),
                "keys": [camel(key.name) for key in table.keys],
                "body": body,
                "references": {
                    camel(column): [
                        collection_path(schema.table(fk.target_table)),
                        camel(target),
                        embed_name(fk) if fk.single else None,
                    ]
                    for fk in table.foreign_keys
                    # a reference to its own table, or to one the tests cannot fill, stays null
                    if fk.target_table != table.name and fk.target_table not in skipped
                    for column, target in zip(fk.columns, fk.target_columns, strict=True)
                },
                "triggered": table.triggered,
                "blocked": any(
                    fk.target_table == table.name and fk.on_delete in (None, "RESTRICT")
                    for other in schema.served
                    if other is not table and other.name not in skipped
                    for fk in other.foreign_keys
                ),
                "compare": next(
                    (camel(c.name) for c in table.columns if not c.type.array and c.type.name not in NOT_COMPARABLE),
                    None,
                ),
                "change": next(
                    (
                        [camel(c.name), _changed(c)]
                        for c in table.columns
                        if writable(c)
                        and c.type.name != "other"
                        and c.name not in table.primary_key
                        and c.name not in {c for fk in table.foreign_keys for c in fk.columns}
                    ),
                    None,
                ),
            }
        )
    return rows


def _changed(column: Column) -> object:
    value = example_value(column)
    kind = column.type
    if kind.array:
        return [*value, *value]
    if kind.name == "enum":
        return kind.labels[-1]
    if isinstance(value, float):
        return value + 1
    fixed = {
        "json": {"key": "other"},
        "jsonb": {"key": "other"},
        "interval": "2 days",
        "cidr": "198.51.100.0/24",
        "tsvector": "'spring'",
    }
    if kind.name in fixed:
        return fixed[kind.name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 if value + 1 <= column.bounds.get("maximum", value + 1) else value - 1
    if column.type.name == "date":
        return "2026-11-22"
    if column.type.name == "timestamptz":
        return "2026-11-22T10:00:00Z"
    if column.type.name == "uuid":
        return "00000000-0000-4000-8000-000000000002"
    return str(value)[:-1] + "2"


def render_tests(service: str, schema: Schema) -> dict[str, str]:
    table_list = ", ".join(f"{service}.{t.name}" for t in creation_order(schema))
    conftest = f'''from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def empty_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE {table_list} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def client(
    engine: AsyncEngine, client_for: Callable[[str], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the {service} service over empty tables."""
    await empty_tables(engine)
    yield client_for("{service}")
'''
    rows = pprint.pformat(_sample_rows(schema), sort_dicts=False)
    behaviour = f'''"""The {service} service's rows through its API: create, read (with embedded references), list with
filters, ordering and pages, change, delete, and the errors each answers."""

from typing import Any

import httpx

# One row per table, parents first: the body to create it with, its key field, the foreign key
# fields to fill from the parent rows created before it, and one field to change.
ROWS: list[dict[str, Any]] = {rows}


def url_of(row: dict[str, Any], answer: dict[str, Any]) -> str:
    return "/".join([row["path"], *(str(answer[key]) for key in row["keys"])])


async def create_all(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    created: dict[str, dict[str, Any]] = {{}}
    answers = []
    for row in ROWS:
        body = dict(row["body"])
        for field, (parent_path, parent_field, _embed) in row["references"].items():
            body[field] = created[parent_path][parent_field]
        response = await client.post(row["path"], json=body)
        assert response.status_code == 201, response.text
        answer = response.json()
        for field, value in body.items():
            assert answer[field] == value, field
        assert response.headers["location"] == url_of(row, answer)
        created[row["path"]] = answer
        answers.append(answer)
    return answers


async def test_created_rows_read_back_with_their_references(client: httpx.AsyncClient) -> None:
    answers = await create_all(client)
    for row, answer in zip(ROWS, answers, strict=True):
        read = await client.get(url_of(row, answer))
        assert read.status_code == 200
        assert read.json() == answer
        for field, (_parent_path, parent_field, embed) in row["references"].items():
            if embed is None:  # a foreign key of several columns: not embeddable
                continue
            embedded = await client.get(url_of(row, answer), params={{"embed": embed}})
            assert embedded.status_code == 200, embedded.text
            assert embedded.json()[embed][parent_field] == answer[field]


async def test_lists_filter_order_and_page(client: httpx.AsyncClient) -> None:
    answers = await create_all(client)
    for row, answer in zip(ROWS, answers, strict=True):
        page = (await client.get(row["path"], params={{"limit": 1, "offset": 0}})).json()
        assert page == {{"items": [answer], "total": 1, "limit": 1, "offset": 0}}
        assert (await client.get(row["path"], params={{"offset": 1}})).json()["items"] == []
        descending = await client.get(row["path"], params={{"orderBy": ",".join("-" + key for key in row["keys"])}})
        assert descending.status_code == 200
        assert descending.json()["items"] == [answer]
        if row["compare"]:
            field = row["compare"]
            missed = await client.get(row["path"], params={{field: f"neq.{{filter_value(answer[field])}}"}})
            assert missed.json()["total"] == 0, missed.text
            hit = await client.get(row["path"], params={{field: f"eq.{{filter_value(answer[field])}}"}})
            assert hit.json()["total"] == 1, hit.text
            assert (await client.get(row["path"], params={{field: "is.null"}})).json()["total"] == 0


async def test_changes_touch_only_the_fields_given(client: httpx.AsyncClient) -> None:
    answers = await create_all(client)
    for row, answer in zip(ROWS, answers, strict=True):
        if not row["change"]:
            continue
        field, value = row["change"]
        url = url_of(row, answer)
        changed = await client.patch(url, json={{field: value}})
        assert changed.status_code == 200, changed.text
        if row["triggered"]:  # a trigger of the table may change other fields too
            assert changed.json()[field] == value
        else:
            assert changed.json() == {{**answer, field: value}}
        assert (await client.get(url)).json() == changed.json()
        assert (await client.patch(url, json={{"noSuchField": 1}})).status_code == 400


async def test_deleting_a_row_others_point_to_is_refused_until_they_are_gone(client: httpx.AsyncClient) -> None:
    answers = await create_all(client)
    urls = [url_of(row, answer) for row, answer in zip(ROWS, answers, strict=True)]
    for row, url in zip(ROWS, urls, strict=True):
        if row["blocked"]:  # a later row points to it without ON DELETE CASCADE or SET NULL
            refused = await client.delete(url)
            assert refused.status_code == 409, refused.text
            assert refused.json()["message"]
    for url in reversed(urls):
        assert (await client.delete(url)).status_code == 204
        missing = await client.get(url)
        assert missing.status_code == 404
        assert missing.json()["message"]
        assert (await client.delete(url)).status_code == 404


async def test_bad_input_is_400_with_a_message(client: httpx.AsyncClient) -> None:
    for row in ROWS:
        response = await client.post(row["path"], json={{"noSuchField": 1}})
        assert response.status_code == 400
        assert response.json()["message"]
        assert (await client.get(row["path"], params={{"limit": 0}})).status_code == 400
        assert (await client.get(row["path"], params={{"orderBy": "noSuchField"}})).status_code == 400
        assert (await client.get(row["path"], params={{row["keys"][0]: "nope"}})).status_code == 400
        # Lists of fields past their length cap (orderBy and embed 500 characters, select 2000), each
        # item valid on its own.
        too_long = ",".join([row["keys"][0]] * 1001)
        for parameter in ("orderBy", "select"):
            refused = await client.get(row["path"], params={{parameter: too_long}})
            assert refused.status_code == 400, (parameter, refused.text)
        for _parent_path, _parent_field, embed in row["references"].values():
            if embed is not None:
                refused = await client.get(row["path"], params={{"embed": ",".join([embed] * 300)}})
                assert refused.status_code == 400, ("embed", refused.text)


{{view_tests}}

def filter_value(value: Any) -> str:
    """A value as a filter writes it: true/false in lower case, times as sent."""
    return str(value).lower() if isinstance(value, bool) else str(value)
'''
    views = [[collection_path(v), camel(v.columns[0].name)] for v in served_views(schema)]
    view_tests = (
        f"""

# The views served read-only: their path and a field to order by.
VIEWS: list[list[str]] = {views!r}


async def test_views_list_in_pages_and_refuse_writes(client: httpx.AsyncClient) -> None:
    await create_all(client)
    for path, field in VIEWS:
        page = await client.get(path, params={{"orderBy": f"-{{field}}.nullslast", "limit": 2}})
        assert page.status_code == 200, page.text
        assert page.json()["limit"] == 2 and page.json()["total"] >= len(page.json()["items"])
        assert (await client.post(path, json={{}})).status_code == 405
        assert (await client.get(path, params={{"orderBy": "noSuchField"}})).status_code == 400
"""
        if views
        else ""
    )
    behaviour = behaviour.replace("{view_tests}", view_tests)
    contract = f'''"""Property-based contract tests: schemathesis drives every {service} operation in-process against
the spec, with all of its checks, and follows the OpenAPI links from each created row."""

import pytest
import schemathesis
import yaml
from hypothesis import settings

from fountain_cli import registry
from tests.contract import QUIET, run_stateful, bounded_lists, served_schema
from tests.{service}.conftest import empty_tables

schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> schemathesis.BaseSchema:
    spec = yaml.safe_load(registry.load_service("{service}").spec_path.read_text())
    return served_schema("{service}", database_url, bounded_lists(spec))


@schema.parametrize()
@settings(deadline=None, max_examples=25, suppress_health_check=QUIET)
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_stateful_sequences_through_links_keep_the_contract(
    contract_schema: schemathesis.BaseSchema, database_url: str
) -> None:
    run_stateful(contract_schema, database_url, empty_tables, steps=5, runs=10)
'''
    tests = {"__init__.py": "", "conftest.py": conftest, "test_rows.py": behaviour, "test_contract.py": contract}
    if schema.owned:
        tests["test_ownership.py"] = render_ownership_test(service, schema)
    return tests


DATA_FILE = "0002_data.jsonl"


def render_data(schema: Schema) -> str:
    """The rows to load, one JSON item a line (fountain_common/seed_data.py reads them)."""
    lines = []
    for rows in schema.data:
        item: dict[str, object] = {"table": rows.table}
        if rows.copy is not None:
            item |= {"columns": rows.columns, "copy": rows.copy}
        else:
            item["sql"] = rows.sql
        if rows.table is not None:
            item |= {"count": rows.count, "keys": rows.keys}
        lines.append(json.dumps(item, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def render_data_migration(service: str, schema: Schema, origin: str) -> str:
    counts: dict[str, int] = {}
    for rows in schema.data:
        if rows.table is not None:
            counts[rows.table] = counts.get(rows.table, 0) + rows.count
    summary = ", ".join(f"{table} {count}" for table, count in counts.items())
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f'''"""The rows of {origin}: {summary}

Revision ID: 0002
Revises: 0001
Create Date: {created}
"""

from collections.abc import Sequence
from pathlib import Path

from alembic import op

from fountain_common.seed_data import load, remove

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rows as the input gave them (INSERT statements as written, COPY blocks' rows), in load order.
DATA = Path(__file__).with_name({DATA_FILE!r})


def upgrade() -> None:
    load(op.get_bind(), DATA, {service!r})


def downgrade() -> None:
    remove(op.get_bind(), DATA)
'''


def render_ownership_test(service: str, schema: Schema) -> str:
    """With --auth: two accounts (and an admin) through the gateway's headers, the service trusting
    them with FOUNTAIN_GATEWAY_SECRET set; it carries what it needs, the headers and the secret."""
    # A key the client gives (not the database's) must differ between the accounts: keys are global.
    other_keys = {
        collection_path(table): {
            camel(c.name): _changed(c)
            for c in table.keys
            if writable(c) and c.name not in {c for fk in table.foreign_keys for c in fk.columns}
        }
        for table in creation_order(schema)
    }
    return f'''"""The {service} service keeps each account's rows to itself: another account's row is answered as a
missing one everywhere, lists and totals hold one's own rows, a row refers only to rows of its own
account, unique values are unique per account, and an admin sees every row."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.settings import Settings
from tests.in_process import service_app
from tests.{service}.conftest import empty_tables
from tests.{service}.test_rows import ROWS, create_all, url_of

# The gateway's proof: with it set, the service believes the caller the gateway names, and no one else.
SECRET = "secret-of-the-{service}-ownership-test"
# Per table, keys a client gives: the second account's rows take other ones (a key is everyone's).
OTHER_KEYS: dict[str, dict[str, Any]] = {other_keys!r}
Account = Callable[..., httpx.AsyncClient]


def caller(name: str, role: str) -> dict[str, str]:
    """The headers the gateway sends for consumer `name` holding `role` (docs/accounts.md)."""
    return {{
        "X-Consumer-ID": f"id-of-{{name}}",
        "X-Consumer-Username": name,
        "X-Credential-Identifier": f"key-of-{{name}}",
        "X-Consumer-Groups": role,
        "X-Fountain-Gateway": SECRET,
    }}


@pytest.fixture
async def account(database_url: str, engine: AsyncEngine) -> AsyncIterator[Account]:
    """account("alice") -> a client of the service calling as alice, a writer (or the role given)."""
    await empty_tables(engine)
    app = service_app("{service}", Settings(database_url=database_url, gateway_secret=SECRET), engine)
    clients: list[httpx.AsyncClient] = []

    def make(name: str, role: str = "writer") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=caller(name, role))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def create_others(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The same rows as create_all, with the keys a client gives changed: same unique values, other keys."""
    original = [dict(row["body"]) for row in ROWS]
    for row in ROWS:
        row["body"].update(OTHER_KEYS[row["path"]])
    try:
        return await create_all(client)
    finally:
        for row, body in zip(ROWS, original, strict=True):
            row["body"].clear()
            row["body"].update(body)


async def test_another_accounts_rows_are_missing_everywhere(account: Account) -> None:
    alice, bob = account("alice"), account("bob")
    answers = await create_all(alice)
    for row, answer in zip(ROWS, answers, strict=True):
        assert answer["owner"] == "alice"
        url = url_of(row, answer)
        for response in (
            await bob.get(url),
            await bob.patch(url, json=dict([row["change"]]) if row["change"] else {{}}),
            await bob.delete(url),
        ):
            assert response.status_code == 404, response.text
            assert "alice" not in response.text
        listed = (await bob.get(row["path"])).json()
        assert listed["items"] == [] and listed["total"] == 0
        everything = await bob.patch(row["path"], params={{"allRows": "true"}}, json={{}})
        assert everything.json() == {{"count": 0}}
        assert (await bob.delete(row["path"], params={{"allRows": "true"}})).json() == {{"count": 0}}
        assert (await alice.get(url)).json() == answer  # nothing of it changed


async def test_each_account_lists_its_own_rows_and_an_admin_every_row(account: Account) -> None:
    alice, bob, admin = account("alice"), account("bob"), account("root", "admin")
    mine = await create_all(alice)
    theirs = await create_others(bob)  # the same unique values: each account's own
    for row, alices, bobs in zip(ROWS, mine, theirs, strict=True):
        assert bobs["owner"] == "bob"
        assert (await alice.get(row["path"])).json()["items"] == [alices]
        assert (await bob.get(row["path"])).json()["items"] == [bobs]
        every = (await admin.get(row["path"], params={{"orderBy": "owner"}})).json()
        assert every["items"] == [alices, bobs] and every["total"] == 2
        assert (await admin.get(url_of(row, bobs))).json() == bobs
        for _field, (_parent_path, _parent_field, embed) in row["references"].items():
            if embed is not None:  # each row embeds its own account's row
                embedded = (await bob.get(url_of(row, bobs), params={{"embed": embed}})).json()[embed]
                assert embedded["owner"] == "bob"


async def test_a_row_refers_only_to_rows_of_its_own_account(account: Account) -> None:
    alice, bob = account("alice"), account("bob")
    mine = await create_all(alice)
    theirs = await create_others(bob)
    created = {{row["path"]: answer for row, answer in zip(ROWS, mine, strict=True)}}
    for row, bobs in zip(ROWS, theirs, strict=True):
        for field, (parent_path, parent_field, _embed) in row["references"].items():
            pointing = await bob.patch(url_of(row, bobs), json={{field: created[parent_path][parent_field]}})
            assert pointing.status_code == 400, pointing.text
            assert field in pointing.json()["message"] and "alice" not in pointing.text


async def test_the_owner_is_never_given_by_a_request(account: Account) -> None:
    alice = account("alice")
    answers = await create_all(alice)
    for row, answer in zip(ROWS, answers, strict=True):
        given = await alice.post(row["path"], json={{**row["body"], "owner": "bob"}})
        assert given.status_code == 400, given.text
        assert (await alice.patch(url_of(row, answer), json={{"owner": "bob"}})).status_code == 400
'''
