"""Create, read, list, update and delete rows of one table over HTTP: the logic every scaffolded
service shares (`fountain scaffold`). A service describes each table once as a `Resource`; its
operations call these functions with the connection their route opened (a write transaction for
create, update and delete) and wrap the answers in their generated models.

API field names are the columns' names in camelCase. A read answers the fields asked for
(`?select=name,total`) and embeds related rows (`?embed=artist,track(genre)`): the row a foreign key
points to, the rows that point to this one, and rows linked through a join table, nested as deep as
asked, with one query per embedded relation whatever the number of rows. select= names an embedded
row's fields by the path of relations to it (`?select=name,album.title,album.track.name`). Lists
filter with PostgREST's operators (`?total=gte.10`, `?name=ilike.*rock*`, `?composer=is.null`,
`?genreId=in.(1,2)`) and order by several fields (`?orderBy=-total.nullslast,invoiceId`).

Values keep their exact type on the wire: NUMERIC as a string holding the exact decimal, bytea as
base64, timestamps in RFC 3339, intervals, network addresses and text search vectors as
PostgreSQL writes them.

The modules, one concern each: resources (a table as a `Resource`, its `Embed`s), values (column
types, request values parsed, read values answered), embeds (?select= and ?embed=), filters (filters
and ordering), writes (running a write, database errors as problems), rows (a page, and one row by
its key), batches (many rows in one statement).
"""

from fountain_common.crud.batches import create_rows, delete_rows, update_rows, upsert_rows
from fountain_common.crud.resources import Embed, Resource
from fountain_common.crud.rows import create_row, delete_row, get_row, list_rows, update_row

__all__ = [
    "Embed",
    "Resource",
    "create_row",
    "create_rows",
    "delete_row",
    "delete_rows",
    "get_row",
    "list_rows",
    "update_row",
    "update_rows",
    "upsert_rows",
]
