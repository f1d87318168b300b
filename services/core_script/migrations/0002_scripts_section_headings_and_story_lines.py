"""scripts, section headings and story lines

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:02:11.467417
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scripts',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('author', sa.Text(), server_default='', nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('csound_file_path', sa.Text(), server_default='', nullable=False),
    sa.Column('lilypond_file_path', sa.Text(), server_default='', nullable=False),
    sa.Column('midi_file_path', sa.Text(), server_default='', nullable=False),
    sa.Column('sequence_number', sa.BigInteger(), nullable=False),
    sa.Column('revision', sa.BigInteger(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('char_length(author) <= 200', name='scripts_author_length'),
    sa.CheckConstraint('char_length(csound_file_path) <= 1000 AND char_length(lilypond_file_path) <= 1000 AND char_length(midi_file_path) <= 1000', name='scripts_file_path_length'),
    sa.CheckConstraint('char_length(description) <= 10000', name='scripts_description_length'),
    sa.CheckConstraint('char_length(title) BETWEEN 1 AND 200', name='scripts_title_length'),
    sa.CheckConstraint('sequence_number >= 1', name='scripts_sequence_number_positive'),
    sa.PrimaryKeyConstraint('id'),
    schema='core_script'
    )
    op.create_table('section_headings',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('script_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('sequence_number', sa.BigInteger(), nullable=False),
    sa.Column('revision', sa.BigInteger(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('char_length(title) BETWEEN 1 AND 200', name='section_headings_title_length'),
    sa.CheckConstraint('sequence_number >= 1', name='section_headings_sequence_number_positive'),
    sa.ForeignKeyConstraint(['script_id'], ['core_script.scripts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('id', 'script_id', name='section_headings_id_script_key'),
    sa.UniqueConstraint('sequence_number', deferrable=True, initially='IMMEDIATE', name='section_headings_sequence_number_key'),
    schema='core_script'
    )
    op.create_index('section_headings_script_idx', 'section_headings', ['script_id', 'sequence_number'], unique=False, schema='core_script')
    op.create_table('story_lines',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('script_id', sa.BigInteger(), nullable=False),
    sa.Column('heading_id', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('character_id', sa.BigInteger(), nullable=False),
    sa.Column('action_id', sa.BigInteger(), nullable=False),
    sa.Column('spoken_word_id', sa.BigInteger(), nullable=False),
    sa.Column('context_id', sa.BigInteger(), nullable=True),
    sa.Column('revision', sa.BigInteger(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('character_id >= 1 AND action_id >= 1 AND spoken_word_id >= 1 AND (context_id IS NULL OR context_id >= 1)', name='story_lines_ids_positive'),
    sa.CheckConstraint('position BETWEEN 1 AND 10000', name='story_lines_position_range'),
    sa.ForeignKeyConstraint(['heading_id', 'script_id'], ['core_script.section_headings.id', 'core_script.section_headings.script_id'], name='story_lines_heading_fkey', ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['script_id'], ['core_script.scripts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('heading_id', 'position', deferrable=True, initially='IMMEDIATE', name='story_lines_heading_position_key'),
    schema='core_script'
    )
    op.create_index('story_lines_script_idx', 'story_lines', ['script_id'], unique=False, schema='core_script')


def downgrade() -> None:
    op.drop_index('story_lines_script_idx', table_name='story_lines', schema='core_script')
    op.drop_table('story_lines', schema='core_script')
    op.drop_index('section_headings_script_idx', table_name='section_headings', schema='core_script')
    op.drop_table('section_headings', schema='core_script')
    op.drop_table('scripts', schema='core_script')
