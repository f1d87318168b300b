"""script owners and shares

Upgrade: every script belongs to an account (`owner`); the scripts that exist get '' (no account:
with identities checked only admins reach them until `fountain accounts claim` hands them over).
A table of the accounts each script is shared with, as reader or writer (empty). A reservation of a
script being created names its owner too (whose namespace its scope is in).

Downgrade: drops the shares and the owners; every script is everybody's again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "core_script"


def upgrade() -> None:
    op.add_column(
        "scripts", sa.Column("owner", sa.String(length=64), server_default="", nullable=False), schema=SCHEMA
    )
    op.create_index("scripts_owner_idx", "scripts", ["owner", "id"], unique=False, schema=SCHEMA)
    op.add_column(
        "script_reservations",
        sa.Column("owner", sa.String(length=64), server_default="", nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "script_shares",
        sa.Column("script_id", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('reader', 'writer')", name="script_shares_role"),
        sa.ForeignKeyConstraint(["script_id"], [f"{SCHEMA}.scripts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("script_id", "account"),
        schema=SCHEMA,
    )
    op.create_index(
        "script_shares_account_idx", "script_shares", ["account", "script_id"], unique=False, schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("script_shares_account_idx", table_name="script_shares", schema=SCHEMA)
    op.drop_table("script_shares", schema=SCHEMA)
    op.drop_column("script_reservations", "owner", schema=SCHEMA)
    op.drop_index("scripts_owner_idx", table_name="scripts", schema=SCHEMA)
    op.drop_column("scripts", "owner", schema=SCHEMA)
