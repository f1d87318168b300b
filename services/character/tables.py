"""The Character Management Service's tables, all in its own PostgreSQL schema `character`."""

from sqlalchemy import MetaData

from fountain_common.idempotency import idempotency_table

SCHEMA = "character"
metadata = MetaData(schema=SCHEMA)

idempotency_keys = idempotency_table(metadata)
