"""Owners: every character, action and spoken word belongs to an account

Rows made before belong to no account ('').

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 16:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('characters', 'actions', 'spoken_words')


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table, sa.Column('owner', sa.String(length=64), server_default='', nullable=False), schema='character'
        )
        op.create_index(f'{table}_owner_id_idx', table, ['owner', 'id'], unique=False, schema='character')


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f'{table}_owner_id_idx', table_name=table, schema='character')
        op.drop_column(table, 'owner', schema='character')
