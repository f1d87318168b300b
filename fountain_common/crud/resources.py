"""How a scaffolded service describes one of its tables to the CRUD engine: a `Resource` (the
table and its URL path) and the `Embed`s its rows can embed, with the API's name for a column.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, ColumnElement, Table

from fountain_common.ownership import owner_of_new_rows, sees_every_row, visible


def api_name(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class Embed:
    """A related table a reader may embed with ?embed=<name>: the row `column` points to (`target`'s
    `target_column` equals it), or with `many` the rows of `target` whose `target_column` equals this
    row's `column`; with `through`, the rows of `target` linked by a join table whose `through_source`
    equals this row's `column` and whose `through_target` equals the target's `target_column`."""

    name: str
    column: str
    target: Table
    target_column: str
    many: bool = False
    through: Table | None = None
    through_source: str = ""
    through_target: str = ""


# The relations of every table of a service by table name, so embedded rows embed theirs in turn.
Relations = Mapping[str, Sequence[Embed]]


@dataclass(frozen=True)
class Resource:
    table: Table
    path: str  # the collection's URL path; a row is at path/<key>[/<key>...], one segment per key column
    relations: Relations = field(default_factory=dict)
    # The column naming the account each row belongs to (fountain_common/ownership.py), or None. With
    # it the caller reads, lists, embeds, changes and deletes only the rows it may touch (another
    # account's row is answered as a missing one), and the rows it makes are its own: no request sets
    # the column. Embedded rows of a table with a column of the same name are limited the same way.
    owner: str | None = None

    @property
    def keys(self) -> list[Column[Any]]:
        return list(self.table.primary_key.columns)

    @property
    def key(self) -> Column[Any]:
        return self.keys[0]

    @property
    def embeds(self) -> Sequence[Embed]:
        return self.relations.get(self.table.name, ())

    def columns_by_field(self) -> dict[str, Column[Any]]:
        return {api_name(c.name): c for c in self.table.columns}

    def visible_rows(self) -> list[ColumnElement[bool]]:
        """The conditions that keep a statement to the rows the caller may touch: none without an owner
        column, for an admin, or with no identity checked."""
        return owned_by_caller(self.table, self.owner)

    def new_owner(self) -> dict[str, str]:
        """The owner column's value for the rows this request makes, or nothing without one."""
        return {} if self.owner is None else {self.owner: owner_of_new_rows()}


def owned_by_caller(table: Table, owner: str | None) -> list[ColumnElement[bool]]:
    """`table`'s rows the caller may touch, when it has the owner column `owner`."""
    if owner is None or owner not in table.c or sees_every_row():
        return []
    return [visible(table.c[owner])]
