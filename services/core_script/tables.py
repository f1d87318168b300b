"""The Core Script Management Service's tables, all in its own PostgreSQL schema `core_script`."""

from sqlalchemy import MetaData

from fountain_common.idempotency import idempotency_table

SCHEMA = "core_script"
metadata = MetaData(schema=SCHEMA)

idempotency_keys = idempotency_table(metadata)
