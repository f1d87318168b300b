"""The columns of the input's views, as PostgreSQL itself types them.

A view's select list can hold any expression (`sum(p.amount)`, `a || ' ' || b`, CASE, a function of
the input), whose type only PostgreSQL knows for sure: the migration's statements are run in a
scratch schema inside a transaction that is rolled back, and each view's columns are read from the
catalog with format_type(). Resolving the select list against the tables by hand would need
PostgreSQL's rules for every operator, function and cast, and guess wrong where they are subtle.

The database is the one `fountain db` uses: FOUNTAIN_DATABASE_URL, or the embedded PostgreSQL.
Nothing stays in it.
"""

import asyncio
import re
import secrets

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from fountain_cli.scaffold.model import (
    RESERVED_API_NAMES,
    RESERVED_MODEL_NAMES,
    Column,
    Schema,
    Statement,
    identifier_problems,
    pascal,
)
from fountain_common.database import sqlstate

VIEW_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind = 'v' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""


# Each view's stored query, whose select list records the table column each plain column comes from.
VIEW_QUERIES = """
SELECT c.relname, r.ev_action
FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind = 'v' AND r.rulename = '_RETURN'
"""
TABLE_COLUMNS = """
SELECT c.oid, c.relname, a.attnum, a.attname
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind IN ('r', 'p') AND a.attnum > 0
"""
NODE_TOKEN = re.compile(r"[{}()]|(?:\\.|[^\s{}()\\])+")


def column_origins(query_tree: str) -> dict[int, tuple[int, int]]:
    """A view's column number -> (table oid, column number) for each column PostgreSQL traces to one
    column of one table (its parser records this as resorigtbl/resorigcol in the view's select list,
    as it does for a query's result columns); a computed column has none."""
    tokens = NODE_TOKEN.findall(query_tree)
    depth, position = 0, 0
    while position < len(tokens):  # the top query's :targetList, inside `({QUERY ...`
        token = tokens[position]
        position += 1
        depth += 1 if token in ("{", "(") else -1 if token in ("}", ")") else 0
        if depth == 2 and token == ":targetList":
            break
    else:
        return {}
    origins: dict[int, tuple[int, int]] = {}
    entries = depth + 2  # inside the list `(`, inside each `{TARGETENTRY`
    entry: dict[str, str] = {}
    key = ""
    for token in tokens[position:]:
        if token in ("{", "("):
            depth += 1
        elif token in ("}", ")"):
            if depth == entries and entry.get(":resjunk") == "false" and entry.get(":resorigtbl", "0") != "0":
                origins[int(entry[":resno"])] = (int(entry[":resorigtbl"]), int(entry[":resorigcol"]))
            depth -= 1
            if depth < entries - 1:
                break
            entry, key = ({}, "") if depth == entries - 1 else (entry, key)
        elif depth == entries:
            if token.startswith(":"):
                key = token
            elif key:
                entry[key], key = token, ""
    return origins


class ViewError(Exception):
    """The input's statements could not be run to read its views' columns."""


ViewColumns = dict[str, list[tuple[str, str, tuple[str, str] | None]]]


def read_view_columns(statements: list[Statement], database_url: str) -> ViewColumns:
    """view -> [(column, type as format_type writes it, the (table, column) it comes from or None)],
    from the statements run in a scratch schema."""
    scratch = f"fountain_scaffold_{secrets.token_hex(6)}"

    async def run() -> ViewColumns:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                transaction = await conn.begin()
                try:
                    await conn.exec_driver_sql(f'CREATE SCHEMA "{scratch}"')
                    # Types named bare in format_type(): the scratch schema first on the path.
                    await conn.exec_driver_sql(f'SET LOCAL search_path TO "{scratch}"')
                    for statement in statements:
                        try:
                            if statement.kind == "extension":
                                # Installed in this database already (by another service): its objects
                                # are found where they are.
                                async with conn.begin_nested() as savepoint:
                                    try:
                                        await conn.exec_driver_sql(statement.sql)
                                    except DBAPIError as error:
                                        if sqlstate(error) != "42710":
                                            raise
                                        await savepoint.rollback()
                            else:
                                await conn.exec_driver_sql(statement.sql)
                        except DBAPIError as error:
                            first = statement.sql.splitlines()[0][:100]
                            reason = str(getattr(error.orig, "__cause__", None) or error.orig).splitlines()[0]
                            raise ViewError(f"PostgreSQL refuses the statement `{first}`: {reason}") from error
                    rows = (await conn.execute(text(VIEW_COLUMNS), {"schema": scratch})).all()
                    queries = (await conn.execute(text(VIEW_QUERIES), {"schema": scratch})).all()
                    table_columns = (await conn.execute(text(TABLE_COLUMNS), {"schema": scratch})).all()
                finally:
                    await transaction.rollback()
        finally:
            await engine.dispose()
        names = {(oid, number): (table, column) for oid, table, number, column in table_columns}
        origins = {view: column_origins(tree) for view, tree in queries}
        columns: ViewColumns = {}
        for view, column, formatted in rows:
            number = len(columns.get(view, [])) + 1
            origin = origins.get(view, {}).get(number)
            columns.setdefault(view, []).append((column, formatted, names.get(origin) if origin else None))
        return columns

    return asyncio.run(run())


def type_views(schema: Schema, columns: ViewColumns) -> None:
    """Give each view of `schema` its columns; a view whose names the API cannot carry is left
    unserved (it still reaches the database) with a note naming why."""
    from fountain_cli.scaffold.spec_writer import collection_path
    from fountain_cli.scaffold.sql_reader import type_of

    taken_models = {m for t in schema.served for m in (pascal(t.name), f"{pascal(t.name)}Page")}
    taken_paths = {collection_path(t) for t in schema.served}
    for view in schema.views:
        view.columns = [Column(name, type_of(formatted, schema)) for name, formatted, _ in columns.get(view.name, [])]
        view.origins = {name: origin for name, _, origin in columns.get(view.name, []) if origin is not None}
        reasons = identifier_problems(view.name, f"view {view.name}")
        for column in view.columns:
            at = f"view {view.name}, column {column.name!r}"
            reasons += identifier_problems(column.name, at)
            if column.name in RESERVED_API_NAMES:
                reasons.append(f"{at}: the name is a parameter of the generated API")
        if view.name in RESERVED_MODEL_NAMES or {pascal(view.name), f"{pascal(view.name)}Page"} & taken_models:
            reasons.append(f"view {view.name}: its models collide with a table's or the API's own")
        if collection_path(view) in taken_paths:
            reasons.append(f"view {view.name}: its path {collection_path(view)} is a table's")
        if not view.columns:
            reasons.append(f"view {view.name}: no columns were found")
        if reasons:
            view.served = False
            schema.notes.append(f"{view.where}{reasons[0]}; the view is carried into the database but not served")
        taken_models |= {pascal(view.name), f"{pascal(view.name)}Page"}
        taken_paths.add(collection_path(view))
