"""Rows an input declared (`fountain scaffold --with-data`), loaded by a service's data migration.

The rows live beside the migration in a JSON Lines file, one item per line, in load order:
`{"table": ..., "sql": "INSERT ...", "count": n, "keys": [[...], ...]}` for an INSERT as written,
`{"table": ..., "columns": [...], "copy": "<COPY text rows>", "count": n, "keys": [...]}` for the
rows of a `COPY ... FROM stdin` block, and `{"table": null, "sql": "SELECT setval(...)"}` for a
dump's sequence positions. The upgrade loads them in batches (INSERTs many to a round trip, COPY
rows through COPY itself) with a progress bar on the terminal, then moves each sequence of the
tables past their largest key; the downgrade deletes exactly the rows loaded, by their keys.

Rows may point to each other in a cycle (two tables referencing each other, a table referencing
itself with its rows in any order): both directions check the foreign keys once every row is in (or
out), as a dump does by adding them after its rows. Foreign keys that are not deferrable are made
deferrable for that time and set back, all in the migration's transaction.
"""

import io
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import click
from sqlalchemy.engine import Connection
from sqlalchemy.util import await_only

BATCH_ROWS = 1000  # rows per round trip


class RowsStillReferenced(Exception):
    """A downgrade would leave rows pointing to rows it removes."""


KEY_COLUMNS = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = CAST($1 AS regclass) AND i.indisprimary
ORDER BY array_position(i.indkey, a.attnum)
"""
SEQUENCE_COLUMNS = """
SELECT a.attname, pg_get_serial_sequence(quote_ident($1), a.attname)
FROM pg_attribute a
WHERE a.attrelid = CAST(quote_ident($1) AS regclass) AND a.attnum > 0 AND NOT a.attisdropped
  AND pg_get_serial_sequence(quote_ident($1), a.attname) IS NOT NULL
"""


# The schema's foreign keys that are not deferrable, each as `ALTER TABLE ... ALTER CONSTRAINT name`.
IMMEDIATE_FOREIGN_KEYS = """
SELECT format('ALTER TABLE %I.%I ALTER CONSTRAINT %I', n.nspname, c.relname, k.conname)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE k.contype = 'f' AND NOT k.condeferrable AND n.nspname = $1
ORDER BY c.relname, k.conname
"""


@contextmanager
def _foreign_keys_checked_at_the_end(driver: Any, schema: str) -> Iterator[None]:
    """Check the schema's foreign keys once, when the block ends, instead of at each row: rows in a
    cycle load (or go) in any order. A reference still broken then raises, as it would at its row."""
    if not driver.is_in_transaction():  # outside one, each statement would be checked by itself
        raise RuntimeError("rows load and are removed inside the migration's transaction")
    altered = [row[0] for row in await_only(driver.fetch(IMMEDIATE_FOREIGN_KEYS, schema))]
    for alter in altered:
        await_only(driver.execute(f"{alter} DEFERRABLE INITIALLY DEFERRED"))
    await_only(driver.execute("SET CONSTRAINTS ALL DEFERRED"))
    yield
    # Every deferred check runs now; only then may the constraints change again (no pending checks).
    await_only(driver.execute("SET CONSTRAINTS ALL IMMEDIATE"))
    for alter in altered:
        await_only(driver.execute(f"{alter} NOT DEFERRABLE"))


def read_items(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _driver(connection: Connection) -> Any:
    """The asyncpg connection under Alembic's: INSERTs batched through the simple query protocol,
    rows through COPY."""
    driver = connection.connection.driver_connection
    assert driver is not None
    return driver


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _batches(items: list[dict[str, Any]]) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """Consecutive INSERT items of one table up to BATCH_ROWS rows, or one COPY item: (items, rows)."""
    batch: list[dict[str, Any]] = []
    rows = 0
    for item in items:
        if batch and ("copy" in item or rows + item.get("count", 0) > BATCH_ROWS or item["table"] != batch[0]["table"]):
            yield batch, rows
            batch, rows = [], 0
        if "copy" in item:
            yield [item], item["count"]
            continue
        batch.append(item)
        rows += item.get("count", 0)
    if batch:
        yield batch, rows


def _progress(total: int, label: str) -> Any:
    return click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)


def load(connection: Connection, path: Path, schema: str) -> None:
    """Load the rows of `path` into `schema`, whose tables are on the search path."""
    driver = _driver(connection)
    items = read_items(path)
    total = sum(item.get("count", 0) for item in items)
    with _progress(total, f"loading {total} rows") as bar, _foreign_keys_checked_at_the_end(driver, schema):
        for batch, rows in _batches(items):
            first = batch[0]
            if "copy" in first:
                lines = first["copy"].splitlines(keepends=True)
                for start in range(0, len(lines), BATCH_ROWS):
                    chunk = io.BytesIO("".join(lines[start : start + BATCH_ROWS]).encode())
                    await_only(
                        driver.copy_to_table(
                            first["table"], source=chunk, columns=first["columns"], schema_name=schema, format="text"
                        )
                    )
                    bar.update(min(BATCH_ROWS, len(lines) - start))
            else:
                # No parameters: one round trip for the whole batch (the simple query protocol).
                await_only(driver.execute(";\n".join(item["sql"] for item in batch)))
                bar.update(rows)
    tables = list(dict.fromkeys(item["table"] for item in items if item["table"]))
    for table in tables:
        for column, sequence in await_only(driver.fetch(SEQUENCE_COLUMNS, table)):
            # Rows given with their keys leave the sequence behind: the next row the API creates would repeat one.
            await_only(
                driver.execute(
                    f"SELECT setval({_literal(sequence)}, max({_quoted(column)})) FROM {_quoted(table)} "
                    f"HAVING max({_quoted(column)}) IS NOT NULL"
                )
            )
    for item in items:
        if item["table"] is None:  # a dump's own setval(), which may set a sequence further still
            await_only(driver.execute(item["sql"]))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def remove(connection: Connection, path: Path) -> None:
    """Delete exactly the rows `load` loaded, by their keys, the tables others point to last."""
    driver = _driver(connection)
    schema = await_only(driver.fetchval("SELECT current_schema()"))  # the service's, first on the path
    try:
        with _foreign_keys_checked_at_the_end(driver, schema):
            _delete_loaded(driver, path)
    except asyncpg.ForeignKeyViolationError as error:
        # The downgrade's transaction is rolled back: every row stays.
        referenced = re.search(r'on table "([^"]+)"', str(error))
        raise RowsStillReferenced(
            f"the rows loaded into {referenced.group(1) if referenced else schema} cannot be removed: rows added "
            f"since point to them ({error.detail or error}); delete those first"
        ) from error


def _delete_loaded(driver: Any, path: Path) -> None:
    items = [item for item in read_items(path) if item["table"]]
    by_table: dict[str, list[list[str]]] = {}
    for item in items:
        by_table.setdefault(item["table"], []).extend(item["keys"])
    total = sum(len(keys) for keys in by_table.values())
    with _progress(total, f"removing {total} rows") as bar:
        for table, keys in reversed(by_table.items()):
            key_columns = await_only(driver.fetch(KEY_COLUMNS, _quoted(table)))
            names = ", ".join(_quoted(name) for name, _ in key_columns)
            casts = ", ".join(f"CAST(k{n} AS {kind})" for n, (_, kind) in enumerate(key_columns))
            arrays = ", ".join(f"${n + 1}::text[]" for n in range(len(key_columns)))
            columns = ", ".join(f"k{n}" for n in range(len(key_columns)))
            statement = (
                f"DELETE FROM {_quoted(table)} WHERE ({names}) IN "
                f"(SELECT {casts} FROM unnest({arrays}) AS given({columns}))"
            )
            keys = keys[::-1]  # the rows loaded last first: a row pointing to an earlier row of its table goes first
            for start in range(0, len(keys), BATCH_ROWS):
                chunk = keys[start : start + BATCH_ROWS]
                await_only(driver.execute(statement, *[list(values) for values in zip(*chunk, strict=True)]))
                bar.update(len(chunk))
