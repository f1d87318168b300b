"""elements, versions and the sequence counter

Revision ID: 0001
Revises:
Create Date: 2026-11-21 22:29:34.673329
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
    op.create_table('elements',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('element_type', sa.String(length=64), nullable=False),
    sa.Column('element_id', sa.BigInteger(), nullable=False),
    sa.Column('sequence_number', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('revision', sa.BigInteger(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('element_type', 'element_id', name='elements_element_key'),
    sa.UniqueConstraint('sequence_number', deferrable=True, initially='IMMEDIATE', name='elements_sequence_number_key'),
    schema='central_sequence'
    )
    op.create_table('idempotency_keys',
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=False),
    sa.Column('response_body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('response_headers', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    schema='central_sequence',
    comment='Responses of POST requests sent with an Idempotency-Key, replayed to retries.'
    )
    op.create_index('idempotency_keys_created_at_idx', 'idempotency_keys', ['created_at'], unique=False, schema='central_sequence')
    op.create_table('sequence_counter',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('last_value', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('id = 1', name='sequence_counter_single_row'),
    sa.PrimaryKeyConstraint('id'),
    schema='central_sequence'
    )
    # The counter starts at 0: the first element numbered gets 1.
    op.execute("INSERT INTO central_sequence.sequence_counter (id, last_value) VALUES (1, 0)")
    op.create_table('element_versions',
    sa.Column('element_pk', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['element_pk'], ['central_sequence.elements.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('element_pk', 'version'),
    schema='central_sequence'
    )


def downgrade() -> None:
    op.drop_index('idempotency_keys_created_at_idx', table_name='idempotency_keys', schema='central_sequence')
    op.drop_table('element_versions', schema='central_sequence')
    op.drop_table('sequence_counter', schema='central_sequence')
    op.drop_table('idempotency_keys', schema='central_sequence')
    op.drop_table('elements', schema='central_sequence')
