"""Idempotency keys: the table every service keeps for POST retries

Revision ID: 0001
Revises:
Create Date: 2026-11-21 22:31:43.917549
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('response_headers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    schema='session_context',
    comment='Responses of POST requests sent with an Idempotency-Key, replayed to retries.'
    )
    op.create_index('idempotency_keys_created_at_idx', 'idempotency_keys', ['created_at'], unique=False, schema='session_context')


def downgrade() -> None:
    op.drop_index('idempotency_keys_created_at_idx', table_name='idempotency_keys', schema='session_context')
    op.drop_table('idempotency_keys', schema='session_context')
