"""The Session and Context Service's tables, all in its own PostgreSQL schema `session_context`."""

from sqlalchemy import MetaData

from fountain_common.idempotency import idempotency_table

SCHEMA = "session_context"
metadata = MetaData(schema=SCHEMA)

idempotency_keys = idempotency_table(metadata)
