"""The Story Factory Service's tables, all in its own PostgreSQL schema `story_factory`."""

from sqlalchemy import MetaData

from fountain_common.idempotency import idempotency_table

SCHEMA = "story_factory"
metadata = MetaData(schema=SCHEMA)

idempotency_keys = idempotency_table(metadata)
