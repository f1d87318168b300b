"""sessions and character contexts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:39:38.640544
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The bounds of the spec's ContextData: a JSON object of at most 100 entries, keys of 1-200
# characters, string values of at most 4000. A CHECK cannot hold a subquery, so it calls this.
CONTEXT_DATA_IS_VALID = """
CREATE FUNCTION session_context.context_data_is_valid(data jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT jsonb_typeof(data) = 'object'
       AND (SELECT count(*) FROM jsonb_each(data)) <= 100
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_each(data) AS entry(key, value)
           WHERE char_length(entry.key) NOT BETWEEN 1 AND 200
              OR jsonb_typeof(entry.value) <> 'string'
              OR char_length(entry.value #>> '{}') > 4000
       )
$$
"""


def upgrade() -> None:
    op.execute(CONTEXT_DATA_IS_VALID)
    op.create_table('sessions',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('context', sa.Text(), server_default='', nullable=False),
    sa.Column('revision', sa.BigInteger(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('char_length(context) <= 10000', name='sessions_context_length'),
    sa.CheckConstraint('user_id >= 1', name='sessions_user_id_positive'),
    sa.PrimaryKeyConstraint('id'),
    schema='session_context'
    )
    op.create_index('sessions_user_id_idx', 'sessions', ['user_id', 'id'], unique=False, schema='session_context')
    op.create_table('contexts',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=False),
    sa.Column('character_id', sa.BigInteger(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('revision', sa.BigInteger(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('character_id >= 1', name='contexts_character_id_positive'),
    sa.CheckConstraint('session_context.context_data_is_valid(data)', name='contexts_data_valid'),
    sa.ForeignKeyConstraint(['session_id'], ['session_context.sessions.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'character_id', name='contexts_session_character_key'),
    schema='session_context'
    )
    op.create_index('contexts_character_id_idx', 'contexts', ['character_id'], unique=False, schema='session_context')


def downgrade() -> None:
    op.drop_index('contexts_character_id_idx', table_name='contexts', schema='session_context')
    op.drop_table('contexts', schema='session_context')
    op.drop_index('sessions_user_id_idx', table_name='sessions', schema='session_context')
    op.drop_table('sessions', schema='session_context')
    op.execute("DROP FUNCTION session_context.context_data_is_valid(jsonb)")
