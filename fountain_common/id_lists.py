"""Id-list filters of /v2 lists (`?ids=3,1,7`): many resources in one request instead of one each.

The spec bounds a list by a pattern, but FastAPI validates only the last occurrence of a repeated
parameter; every occurrence is checked here, and the ids of all of them are combined. `one_of` turns
them into one SQL condition.
"""

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from fountain_common.problems import invalid

BIGINT_MAX = 2**63 - 1  # ids are bigint: a larger number names no resource
_ID_LIST = re.compile(r"[1-9][0-9]{0,18}(,[1-9][0-9]{0,18})*")


def parse_id_list(name: str, values: Sequence[str], *, max_ids: int) -> set[int] | None:
    """The ids given in every occurrence of query parameter `name`; None when it is absent.

    Unknown ids simply match nothing, and so do ids too large to exist; malformed lists and more than
    `max_ids` distinct ids are 422 (400 on /v1) naming the parameter."""
    if not values:
        return None
    location = f"query.{name}"
    ids: set[int] = set()
    for value in values:
        if not _ID_LIST.fullmatch(value):
            message = "Ids must be positive integers separated by commas, without spaces"
            raise invalid(f"{location}: {message}, got {value[:40]!r}.", [{"location": location, "message": message}])
        ids.update(int(part) for part in value.split(","))
    if len(ids) > max_ids:
        message = f"At most {max_ids} ids"
        raise invalid(f"{location}: {message}, got {len(ids)}.", [{"location": location, "message": message}])
    return {i for i in ids if i <= BIGINT_MAX}


def one_of(column: ColumnElement[Any], ids: Iterable[int]) -> ColumnElement[bool]:
    """`column = ANY($1)` with the ids as one array parameter. `column IN (...)` binds every id on its
    own, and SQLAlchemy renders those binds anew on every execution: for the hundreds of ids a story
    reads at once that cost more CPU than the query."""
    return column == any_(bindparam(None, sorted(ids), type_=ARRAY(column.type), unique=True))
