"""The neutral schema model -> the Python files of a new service, written once and then owned by it:
service.py, tables.py, operations.py, the initial migration, and its tests."""

import pprint
from datetime import UTC, datetime

from fountain_cli.scaffold.model import Column, Schema, Table, camel, creation_order, embed_name, pascal
from fountain_cli.scaffold.spec_writer import collection_path, example_value, filterable, writable

SA_TYPES = {
    "smallint": "SmallInteger",
    "integer": "Integer",
    "bigint": "BigInteger",
    "text": "Text",
    "varchar": "String",
    "boolean": "Boolean",
    "uuid": "Uuid",
    "timestamptz": "DateTime",
    "date": "Date",
}
PY_TYPES = {
    "smallint": "int",
    "integer": "int",
    "bigint": "int",
    "text": "str",
    "varchar": "str",
    "boolean": "bool",
    # The generated routes pass these as text; the shared CRUD logic parses them.
    "uuid": "str",
    "timestamptz": "str",
    "date": "str",
}


def sa_type(column: Column, prefix: str = "") -> str:
    name = prefix + SA_TYPES[column.type.name]
    if column.type.name == "varchar" and column.type.length:
        return f"{name}({column.type.length})"
    if column.type.name == "timestamptz":
        return f"{name}(timezone=True)"
    return name


def unique_name(table: Table, columns: list[str], given: str | None) -> str:
    # PostgreSQL's own name for an unnamed constraint, so the tables and the database agree.
    return given or f"{table.name}_{'_'.join(columns)}_key"


def column_code(table: Table, column: Column, prefix: str = "", schema: str | None = None) -> str:
    """The Column(...) of tables.py, or with `schema` (the migration's op.create_table) its
    foreign keys named with the schema, as the migration has no MetaData to supply it."""
    args = [repr(column.name), sa_type(column, prefix)]
    for fk in table.foreign_keys:
        if fk.column == column.name:
            target = f"{schema + '.' if schema else ''}{fk.target_table}.{fk.target_column}"
            ondelete = f", ondelete={fk.on_delete!r}" if fk.on_delete else ""
            name = fk.name or f"{table.name}_{column.name}_fkey"
            args.append(f"{prefix}ForeignKey({target!r}{ondelete}, name={name!r})")
    if column.generated in ("identity", "identity_always"):
        args.append(f"{prefix}Identity(always={column.generated == 'identity_always'})")
    if column.name in table.primary_key:
        args.append("primary_key=True")
        if column.generated in (None, "serial"):
            args.append(f"autoincrement={column.generated == 'serial'}")
    else:
        args.append(f"nullable={column.nullable}")
    if column.default is not None:
        args.append(f"server_default={prefix}text({column.default!r})")
    return f"{prefix}Column({', '.join(args)})"


def constraint_codes(table: Table, prefix: str = "") -> list[str]:
    codes = [
        f"{prefix}UniqueConstraint({', '.join(map(repr, cols))}, name={unique_name(table, cols, name)!r})"
        for cols, name in table.uniques
    ]
    for check in table.checks:
        name = f", name={check.name!r}" if check.name else ""
        codes.append(f"{prefix}CheckConstraint({check.sql!r}{name})")
    return codes


def render_tables(service: str, schema: Schema, origin: str) -> str:
    ordered = creation_order(schema)
    names = {"MetaData", "Table", "Column", "text"}
    for table in ordered:
        for column in table.columns:
            names.add(SA_TYPES[column.type.name])
            if column.generated in ("identity", "identity_always"):
                names.add("Identity")
        if table.foreign_keys:
            names.add("ForeignKey")
        if table.uniques:
            names.add("UniqueConstraint")
        if table.checks:
            names.add("CheckConstraint")
    if not any(c.default for t in ordered for c in t.columns):
        names.discard("text")
    lines = [
        f'"""The {service} service\'s tables, all in its own PostgreSQL schema `{service}`, as declared in {origin}."""',
        "",
        "from sqlalchemy import " + ", ".join(sorted(names)),
        "",
        f'SCHEMA = "{service}"',
        "metadata = MetaData(schema=SCHEMA)",
    ]
    for table in ordered:
        lines += ["", f"{table.name} = Table(", f"    {table.name!r},", "    metadata,"]
        lines += [f"    {column_code(table, c)}," for c in table.columns]
        lines += [f"    {code}," for code in constraint_codes(table)]
        lines.append(")")
    return "\n".join(lines) + "\n"


def render_migration(service: str, schema: Schema, origin: str) -> str:
    ordered = creation_order(schema)
    body: list[str] = []
    for table in ordered:
        body.append(f"    op.create_table(\n        {table.name!r},")
        body += [f"        {column_code(table, c, 'sa.', service)}," for c in table.columns]
        body += [f"        {code}," for code in constraint_codes(table, "sa.")]
        body.append(f"        schema={service!r},\n    )")
    down = [f"    op.drop_table({t.name!r}, schema={service!r})" for t in reversed(ordered)]
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f'''"""{", ".join(t.name for t in ordered)}, as declared in {origin}

Revision ID: 0001
Revises:
Create Date: {created}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
{chr(10).join(body)}


def downgrade() -> None:
{chr(10).join(down)}
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
        m
        for t in ordered
        for m in (pascal(t.name), f"{pascal(t.name)}Create", f"{pascal(t.name)}Update", f"{pascal(t.name)}Page")
    )
    lines = [
        f'"""The {service} service\'s operations: each table\'s rows through the shared CRUD logic',
        '(fountain_common.crud), wrapped in the models generated from the spec."""',
        "",
        "from typing import Optional",
        "",
        "from sqlalchemy.ext.asyncio import AsyncConnection",
        "",
        "from fountain_common.crud import "
        + ("Embed, " if any(t.foreign_keys for t in ordered) else "")
        + "Resource, create_row, delete_row, get_row, list_rows, update_row",
        "from fountain_common.routes import Reply",
        "",
        "from . import tables",
        "from .generated.api import Operations",
        "from .generated.models import (",
        *[f"    {m}," for m in models],
        ")",
        "",
    ]
    for table in ordered:
        embeds = [
            f"Embed({embed_name(fk)!r}, {fk.column!r}, tables.{fk.target_table}, {fk.target_column!r})"
            for fk in table.foreign_keys
        ]
        embed_arg = f", embeds=({', '.join(embeds)},)" if embeds else ""
        lines.append(f"{table.name.upper()} = Resource(tables.{table.name}, {collection_path(table)!r}{embed_arg})")
    lines += ["", "", f"class {operations_class(service)}(Operations):"]
    for index, table in enumerate(ordered):
        model, resource, key = pascal(table.name), table.name.upper(), table.key
        snake = _snake(model)
        embed = [("embed", "Optional[str]")] if table.foreign_keys else []
        embed_kw = ", embed=embed" if table.foreign_keys else ""
        filters = [c for c in table.columns if filterable(c)]
        list_params = [(c.name, f"Optional[{PY_TYPES[c.type.name]}]") for c in filters]
        list_params += [("order_by", "Optional[str]"), *embed, ("limit", "int"), ("offset", "int")]
        key_param = (key.name, PY_TYPES[key.type.name])
        if index:
            lines.append("")
        lines += [f"    # --- {table.name} " + "-" * (90 - len(table.name)), ""]
        lines.append(_method(f"list_{snake}", list_params, f"{model}Page"))
        where = "{" + ", ".join(f"{c.name!r}: {c.name}" for c in filters) + "}"
        lines += [
            f"        page = await list_rows(conn, {resource}, filters={where}, order_by=order_by, limit=limit, "
            f"offset=offset{embed_kw})",
            f"        return {model}Page.model_validate(page)",
            "",
        ]
        lines.append(_method(f"create_{snake}", [("body", f"{model}Create")], f"Reply[{model}]"))
        lines += [
            f"        row, location = await create_row(conn, {resource}, body.model_dump(exclude_unset=True))",
            f"        return Reply({model}.model_validate(row), location=location)",
            "",
        ]
        lines.append(_method(f"get_{snake}", [key_param, *embed], model))
        lines += [
            f"        return {model}.model_validate(await get_row(conn, {resource}, {key.name}{embed_kw}))",
            "",
        ]
        lines.append(_method(f"update_{snake}", [key_param, ("body", f"{model}Update")], model))
        lines += [
            f"        row = await update_row(conn, {resource}, {key.name}, body.model_dump(exclude_unset=True))",
            f"        return {model}.model_validate(row)",
            "",
        ]
        lines.append(_method(f"delete_{snake}", [key_param], "None"))
        lines += [f"        await delete_row(conn, {resource}, {key.name})"]
    return "\n".join(lines) + "\n"


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
    for table in creation_order(schema):
        body = {
            camel(c.name): example_value(c)
            for c in table.columns
            if writable(c) and c.name not in {fk.column for fk in table.foreign_keys}
        }
        for column in table.columns:
            if column.type.name == "uuid" and column.name in table.primary_key and column.default is None:
                body[camel(column.name)] = "00000000-0000-4000-8000-000000000001"
        rows.append(
            {
                "path": collection_path(table),
                "key": camel(table.key.name),
                "body": body,
                "references": {
                    camel(fk.column): [
                        collection_path(schema.table(fk.target_table)),
                        camel(fk.target_column),
                        embed_name(fk),
                    ]
                    for fk in table.foreign_keys
                    if fk.target_table != table.name  # a reference to its own table stays null
                },
                "blocked": any(
                    fk.target_table == table.name and fk.on_delete in (None, "RESTRICT")
                    for other in schema.tables
                    if other is not table
                    for fk in other.foreign_keys
                ),
                "change": next(
                    (
                        [camel(c.name), _changed(c)]
                        for c in table.columns
                        if writable(c)
                        and c.name not in table.primary_key
                        and c.name not in {fk.column for fk in table.foreign_keys}
                    ),
                    None,
                ),
            }
        )
    return rows


def _changed(column: Column) -> object:
    value = example_value(column)
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
        assert response.headers["location"] == f"{{row['path']}}/{{answer[row['key']]}}"
        created[row["path"]] = answer
        answers.append(answer)
    return answers


async def test_created_rows_read_back_with_their_references(client: httpx.AsyncClient) -> None:
    answers = await create_all(client)
    for row, answer in zip(ROWS, answers, strict=True):
        read = await client.get(f"{{row['path']}}/{{answer[row['key']]}}")
        assert read.status_code == 200
        assert read.json() == answer
        for field, (_parent_path, parent_field, embed) in row["references"].items():
            embedded = await client.get(f"{{row['path']}}/{{answer[row['key']]}}", params={{"embed": embed}})
            assert embedded.status_code == 200, embedded.text
            assert embedded.json()[embed][parent_field] == answer[field]


async def test_lists_filter_order_and_page(client: httpx.AsyncClient) -> None:
    answers = await create_all(client)
    for row, answer in zip(ROWS, answers, strict=True):
        page = (await client.get(row["path"], params={{"limit": 1, "offset": 0}})).json()
        assert page == {{"items": [answer], "total": 1, "limit": 1, "offset": 0}}
        assert (await client.get(row["path"], params={{"offset": 1}})).json()["items"] == []
        descending = await client.get(row["path"], params={{"orderBy": "-" + row["key"]}})
        assert descending.status_code == 200
        assert descending.json()["items"] == [answer]
        if row["change"]:
            field, other = row["change"]
            missed = await client.get(row["path"], params={{field: other}})
            assert missed.json()["total"] == 0
            hit = await client.get(row["path"], params={{field: answer[field]}})
            assert hit.json()["total"] == 1


async def test_changes_touch_only_the_fields_given(client: httpx.AsyncClient) -> None:
    answers = await create_all(client)
    for row, answer in zip(ROWS, answers, strict=True):
        if not row["change"]:
            continue
        field, value = row["change"]
        url = f"{{row['path']}}/{{answer[row['key']]}}"
        changed = await client.patch(url, json={{field: value}})
        assert changed.status_code == 200, changed.text
        assert changed.json() == {{**answer, field: value}}
        assert (await client.get(url)).json() == changed.json()
        assert (await client.patch(url, json={{"noSuchField": 1}})).status_code == 400


async def test_deleting_a_row_others_point_to_is_refused_until_they_are_gone(client: httpx.AsyncClient) -> None:
    answers = await create_all(client)
    urls = [f"{{row['path']}}/{{answer[row['key']]}}" for row, answer in zip(ROWS, answers, strict=True)]
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
'''
    contract = f'''"""Property-based contract tests: schemathesis drives every {service} operation in-process against
the spec, with all of its checks, and follows the OpenAPI links from each created row."""

import pytest
import schemathesis
from hypothesis import settings

from tests.contract import QUIET, run_stateful, served_schema
from tests.{service}.conftest import empty_tables

schema = schemathesis.pytest.from_fixture("contract_schema")


@pytest.fixture(scope="module")
def contract_schema(database_url: str) -> schemathesis.BaseSchema:
    return served_schema("{service}", database_url)


@schema.parametrize()
@settings(deadline=None, max_examples=25, suppress_health_check=QUIET)
def test_every_operation_keeps_the_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()


def test_stateful_sequences_through_links_keep_the_contract(
    contract_schema: schemathesis.BaseSchema, database_url: str
) -> None:
    run_stateful(contract_schema, database_url, empty_tables, steps=5, runs=10)
'''
    return {"__init__.py": "", "conftest.py": conftest, "test_rows.py": behaviour, "test_contract.py": contract}
