"""JSON Schema's `integer`, exactly: a JSON number with no fractional part.

Pydantic's lax int also takes the strings "12" and booleans, which the contract forbids; its strict
int refuses 12.0, which JSON Schema counts as an integer. Generated models use this type instead: a
strict int, or else a strict float with no fractional part. Both run in pydantic's core; Python is
called only for a float (12.0), not for every integer of every model, which matters for a story of
thousands of lines.
"""

from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


def _whole(value: float) -> int:
    if value.is_integer():
        return int(value)
    raise PydanticCustomError("int_type", "Input should be a valid integer")


class _JsonInteger:
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.union_schema(
            [
                core_schema.int_schema(strict=True),
                core_schema.no_info_after_validator_function(_whole, core_schema.float_schema(strict=True)),
            ],
            custom_error_type="int_type",  # one error, as for any integer, not one per choice
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "integer"}


JsonInt = Annotated[int, _JsonInteger]
