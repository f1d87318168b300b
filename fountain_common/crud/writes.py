"""Running a write statement, and the database's refusals as problems the client can act on: a
broken constraint (409 or 422), a value or full-text query PostgreSQL cannot read (422, for a list's
filters too).
"""

from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.schema import ColumnCollectionConstraint

from fountain_common.crud.resources import Resource, api_name
from fountain_common.database import ReadConnection, sqlstate
from fountain_common.problems import Problem, conflict, invalid


def _integrity_problem(error: IntegrityError, resource: Resource, *, deleting: bool = False) -> Problem:
    cause = getattr(error.orig, "__cause__", None)
    detail = getattr(cause, "detail", None) or str(error.orig).splitlines()[-1]
    code = sqlstate(error)
    name = resource.table.name
    if resource.owner is not None and (
        owned := _owned_problem(resource, code, getattr(cause, "constraint_name", None))
    ):
        return owned
    if code in ("23505", "23P01"):
        return conflict(f"A {name} row with these values exists already: {detail}")
    if code == "23503":
        if deleting:
            return conflict(f"The {name} row is still referenced by other rows: {detail}")
        return invalid(f"A referenced row does not exist: {detail}")
    return invalid(f"The {name} row breaks a rule of its table: {detail}")


def _owned_problem(resource: Resource, code: str | None, constraint: str | None) -> Problem | None:
    """A broken constraint of a table with an owner column, named by its fields and never by owner: a
    reference to a row that is not the caller's is answered as one to a missing row, and a value taken
    is the caller's own (unique constraints are per account), so nothing tells of another account."""
    table, owner = resource.table, resource.owner
    if code == "23503":
        fk = next((c for c in table.foreign_key_constraints if c.name == constraint), None)
        if fk is None:  # a row of another table points to this one: the deleting answer stands
            return None
        fields = [api_name(column) for column in fk.column_keys if column != owner]
        target = fk.referred_table.name
        return invalid(
            f"{', '.join(fields)}: no {target} row with this key.",
            [{"location": f"body.{field}", "message": f"No {target} row with this key."} for field in fields],
        )
    if code == "23505":
        declared = [c for c in table.constraints if isinstance(c, ColumnCollectionConstraint)]
        found = [list(c.columns) for c in declared if c.name == constraint]
        found += [list(i.columns) for i in table.indexes if i.name == constraint]
        columns = [c.name for c in found[0] if c.name != owner] if found else []
        if columns:
            return conflict(f"A {table.name} row with this {', '.join(map(api_name, columns))} exists already.")
    return None


def _data_problem(error: DBAPIError) -> Problem | None:
    """A value PostgreSQL could not read as its column's type (class 22), or a full-text filter's
    query or language it could not read: the client's to fix."""
    cause = getattr(error.orig, "__cause__", None)
    reason = (str(cause) if cause else str(error.orig).split(": ", 1)[-1]).splitlines()[0]
    if (sqlstate(error) or "").startswith("22"):
        return invalid(f"A value does not fit its field: {reason}")
    if sqlstate(error) in ("42601", "42704") and ("tsquery" in reason or "text search configuration" in reason):
        return invalid(f"A full-text filter cannot be read: {reason}")
    return None


def _defers_checks(table: Table) -> bool:
    """Whether a foreign key of the schema is checked at COMMIT unless told otherwise (a deferrable one
    that is initially immediate is checked at each statement already)."""
    return any(
        fk.deferrable and (fk.initially or "").upper() == "DEFERRED"
        for other in table.metadata.tables.values()
        for fk in other.foreign_key_constraints
    )


def _autocommit(conn: AsyncConnection) -> bool:
    if isinstance(conn, ReadConnection):
        return True
    sync = conn.sync_connection
    return sync is not None and sync.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


async def _write(conn: AsyncConnection, resource: Resource, statement: Any, *, deleting: bool = False) -> Any:
    try:
        if _defers_checks(resource.table) and not _autocommit(conn):
            # A deferred check would fail at COMMIT, after the answer is chosen: check now, one row at a time.
            # (A statement in autocommit commits by itself: its checks fail the statement.)
            await conn.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        return await conn.execute(statement)
    except IntegrityError as error:  # the constraints are immediate: the statement itself breaks them
        raise _integrity_problem(error, resource, deleting=deleting) from error
    except DBAPIError as error:
        if sqlstate(error) == "21000":  # ON CONFLICT DO UPDATE reaching one row twice
            raise invalid(
                f"Two rows of the request have the same key; each {resource.table.name} row can be written once."
            ) from error
        if (problem := _data_problem(error)) is None:
            raise
        raise problem from error
