"""JSON Schema's `integer`, exactly: a JSON number with no fractional part.

Pydantic's lax int also takes the strings "12" and booleans, which the contract forbids; its strict
int refuses 12.0, which JSON Schema counts as an integer. Generated models use this type instead.
"""

from typing import Annotated, Any

from pydantic import BeforeValidator


def _json_integer(value: Any) -> Any:
    if isinstance(value, (bool, str, bytes)):
        raise ValueError("Input should be a valid integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
