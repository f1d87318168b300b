"""script reservations: the id of a script being created outlives a create that dies before its commit

Upgrade: a table of the ids of scripts whose create began and has not committed (empty).
Downgrade: drops it; a create killed before then is no longer found by its retry or by `fountain sweep`.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "core_script"


def upgrade() -> None:
    op.create_table(
        "script_reservations",
        sa.Column("script_id", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("script_id"),
        sa.UniqueConstraint("idempotency_key"),
        schema=SCHEMA,
        comment="Ids of scripts whose create began and has not committed.",
    )
    op.create_index(
        "script_reservations_attempted_at_idx", "script_reservations", ["attempted_at"], unique=False, schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("script_reservations_attempted_at_idx", table_name="script_reservations", schema=SCHEMA)
    op.drop_table("script_reservations", schema=SCHEMA)
