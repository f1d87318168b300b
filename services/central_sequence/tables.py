"""The Central Sequence Service's tables, all in its own PostgreSQL schema `central_sequence`."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from fountain_common.idempotency import idempotency_table
from fountain_common.ownership import OWNER_MAX_LENGTH, UNOWNED

SCHEMA = "central_sequence"
metadata = MetaData(schema=SCHEMA)

# One row per scope (typically one story): the last number handed out in it, which is also how many
# elements it holds. Every change to a scope's numbering locks its row first, which serialises
# numbering within the scope across all service processes and keeps its numbers gapless, while
# other scopes go on undisturbed. Scope names are per account: each account (`owner`) has a namespace
# of its own, so two accounts may each number in a `default` or a `script-1`. Elements and their
# versions belong to their scope's account.
scopes = Table(
    "scopes",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("owner", String(OWNER_MAX_LENGTH), nullable=False, server_default=UNOWNED),
    Column("name", String(128), nullable=False),
    Column("last_value", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Also the index of an account's scopes in the order they are listed (by name).
    UniqueConstraint("owner", "name", name="scopes_owner_name_key"),
    CheckConstraint("last_value >= 0", name="scopes_last_value_not_negative"),
)

# The scope /v1 numbers in (each account its own); the migration to scopes put every element
# numbered before into it.
DEFAULT_SCOPE = "default"

elements = Table(
    "elements",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("scope_id", BigInteger, ForeignKey(scopes.c.id, ondelete="CASCADE"), nullable=False),
    Column("element_type", String(64), nullable=False),
    Column("element_id", BigInteger, nullable=False),
    Column("sequence_number", BigInteger, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    # Bumped on every change to the row; the ETag of /v2.
    Column("revision", BigInteger, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The same element (a character, say) may be numbered in several stories, once in each.
    UniqueConstraint("scope_id", "element_type", "element_id", name="elements_element_key"),
    # Checked at the end of each statement, so one UPDATE can swap or shift numbers. Its index is also
    # the one every shift and ordered read of a scope uses.
    UniqueConstraint(
        "scope_id",
        "sequence_number",
        name="elements_sequence_number_key",
        deferrable=True,
        initially="IMMEDIATE",
    ),
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
