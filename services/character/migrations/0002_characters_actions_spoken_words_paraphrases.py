"""Characters, actions, spoken words and their paraphrases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 23:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _change_tracking() -> list[sa.Column[object]]:
    return [
        sa.Column('revision', sa.BigInteger(), server_default='1', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('characters',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=10000), nullable=False),
    *_change_tracking(),
    sa.CheckConstraint('char_length(name) >= 1', name='characters_name_not_empty'),
    sa.PrimaryKeyConstraint('id'),
    schema='character'
    )
    op.create_table('actions',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('description', sa.String(length=10000), nullable=False),
    *_change_tracking(),
    sa.CheckConstraint('char_length(description) >= 1', name='actions_description_not_empty'),
    sa.PrimaryKeyConstraint('id'),
    schema='character'
    )
    op.create_table('spoken_words',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('text', sa.String(length=10000), nullable=False),
    *_change_tracking(),
    sa.CheckConstraint('char_length(text) >= 1', name='spoken_words_text_not_empty'),
    sa.PrimaryKeyConstraint('id'),
    schema='character'
    )
    op.create_table('paraphrases',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('character_id', sa.BigInteger(), nullable=True),
    sa.Column('action_id', sa.BigInteger(), nullable=True),
    sa.Column('spoken_word_id', sa.BigInteger(), nullable=True),
    sa.Column('text', sa.String(length=10000), nullable=False),
    sa.Column('commentary', sa.String(length=10000), nullable=False),
    *_change_tracking(),
    sa.CheckConstraint('num_nonnulls(character_id, action_id, spoken_word_id) = 1', name='paraphrases_one_original'),
    sa.CheckConstraint('char_length(text) >= 1', name='paraphrases_text_not_empty'),
    sa.ForeignKeyConstraint(['character_id'], ['character.characters.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['action_id'], ['character.actions.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['spoken_word_id'], ['character.spoken_words.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    schema='character'
    )
    op.create_index('paraphrases_character_id_idx', 'paraphrases', ['character_id', 'id'], unique=False, schema='character')
    op.create_index('paraphrases_action_id_idx', 'paraphrases', ['action_id', 'id'], unique=False, schema='character')
    op.create_index('paraphrases_spoken_word_id_idx', 'paraphrases', ['spoken_word_id', 'id'], unique=False, schema='character')


def downgrade() -> None:
    op.drop_index('paraphrases_spoken_word_id_idx', table_name='paraphrases', schema='character')
    op.drop_index('paraphrases_action_id_idx', table_name='paraphrases', schema='character')
    op.drop_index('paraphrases_character_id_idx', table_name='paraphrases', schema='character')
    op.drop_table('paraphrases', schema='character')
    op.drop_table('spoken_words', schema='character')
    op.drop_table('actions', schema='character')
    op.drop_table('characters', schema='character')
