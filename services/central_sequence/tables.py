"""The Central Sequence Service's tables, all in its own PostgreSQL schema `central_sequence`."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from fountain_common.idempotency import idempotency_table

SCHEMA = "central_sequence"
metadata = MetaData(schema=SCHEMA)

# One row: the last number handed out. Every change to the numbering locks this row first, which
# serialises numbering across all service processes and keeps the numbers gapless.
sequence_counter = Table(
    "sequence_counter",
    metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("last_value", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="sequence_counter_single_row"),
)

elements = Table(
    "elements",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("element_type", String(64), nullable=False),
    Column("element_id", BigInteger, nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    # Bumped on every change to the row; the ETag of /v2.
    Column("revision", BigInteger, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("element_type", "element_id", name="elements_element_key"),
    # Checked at the end of each statement, so one UPDATE can swap or shift numbers.
    UniqueConstraint("sequence_number", name="elements_sequence_number_key", deferrable=True, initially="IMMEDIATE"),
)

# Versions 2 and later; version 1 is the element as first numbered and has no data.
element_versions = Table(
    "element_versions",
    metadata,
    Column("element_pk", BigInteger, ForeignKey(elements.c.id, ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("data", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

idempotency_keys = idempotency_table(metadata)
