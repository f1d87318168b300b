"""session owners: each session belongs to an account, its contexts with it

Sessions that exist belong to no account ('', what `fountain accounts claim` hands over), so a
deployment without identities reads and writes them as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "session_context"


def upgrade() -> None:
    op.add_column(
        "sessions", sa.Column("owner", sa.String(length=64), server_default="", nullable=False), schema=SCHEMA
    )
    op.create_index("sessions_owner_idx", "sessions", ["owner", "id"], unique=False, schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("sessions_owner_idx", table_name="sessions", schema=SCHEMA)
    op.drop_column("sessions", "owner", schema=SCHEMA)
