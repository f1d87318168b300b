"""The Session and Context Service's tables, all in its own PostgreSQL schema `session_context`.

The bounds of the spec are repeated as constraints, so the database refuses what the API refuses
even when written to by other means. The context data check is a function (migration 0002) because
a CHECK cannot hold a subquery over the keys of a JSON object.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from fountain_common.idempotency import idempotency_table
from fountain_common.ownership import OWNER_MAX_LENGTH, UNOWNED

SCHEMA = "session_context"
metadata = MetaData(schema=SCHEMA)

CONTEXT_MAX_LENGTH = 10000
DATA_MAX_KEYS = 100
DATA_KEY_MAX_LENGTH = 200
DATA_VALUE_MAX_LENGTH = 4000

# `owner` is the account the session belongs to (fountain_common/ownership.py); `user_id` is a number
# the /v1 contract lets the client choose, which says nothing about who may read the session.
sessions = Table(
    "sessions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("owner", String(OWNER_MAX_LENGTH), nullable=False, server_default=UNOWNED),
    Column("user_id", BigInteger, nullable=False),
    # The one text context of a session: what /v1 reads and writes, and /v2 shows as `context`.
    Column("context", Text, nullable=False, server_default=""),
    # Bumped on every change to the row; the ETag of /v2.
    Column("revision", BigInteger, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("user_id >= 1", name="sessions_user_id_positive"),
    CheckConstraint(f"char_length(context) <= {CONTEXT_MAX_LENGTH}", name="sessions_context_length"),
    Index("sessions_user_id_idx", "user_id", "id"),
    Index("sessions_owner_idx", "owner", "id"),
)

# The context of one character in one session (Story Factory's Context). Deleting a session deletes
# its contexts (ON DELETE CASCADE), so no context outlives its session. A context belongs to its
# session's account.
contexts = Table(
    "contexts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("session_id", BigInteger, ForeignKey(sessions.c.id, ondelete="CASCADE"), nullable=False),
    Column("character_id", BigInteger, nullable=False),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("revision", BigInteger, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("session_id", "character_id", name="contexts_session_character_key"),
    CheckConstraint("character_id >= 1", name="contexts_character_id_positive"),
    CheckConstraint("session_context.context_data_is_valid(data)", name="contexts_data_valid"),
    Index("contexts_character_id_idx", "character_id"),
)

idempotency_keys = idempotency_table(metadata)
