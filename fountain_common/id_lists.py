"""Id-list filters of /v2 lists (`?ids=3,1,7`): many resources in one request instead of one each.

The spec bounds a list by a pattern, but FastAPI validates only the last occurrence of a repeated
parameter; every occurrence is checked here, and the ids of all of them are combined.
"""

import re
from collections.abc import Sequence

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
