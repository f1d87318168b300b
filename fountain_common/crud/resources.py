"""How a scaffolded service describes one of its tables to the CRUD engine: a `Resource` (the
table and its URL path) and the `Embed`s its rows can embed, with the API's name for a column.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table


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
