"""screenplay elements: story lines of every kind, scene numbers, title pages

Upgrade: a story line gets a kind (action, dialogue, transition, centered, pageBreak, note) and the
columns the kinds need (extension, parentheticals, text); its character, action and spoken word may
be empty where the kind takes none. Every existing line becomes a dialogue element naming what it
named before (its action kept as the action before the cue). Section headings get an optional scene
number, scripts a title page (empty).

Downgrade: refused, changing nothing, while any row holds what the older tables cannot: an element
other than a dialogue naming a character, an action and a spoken word, an extension, a
parenthetical, a scene number or a title page. Otherwise the lines are kept as they were.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 05:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "core_script"

ELEMENT_SHAPE = (
    "CASE kind"
    " WHEN 'action' THEN action_id IS NOT NULL AND character_id IS NULL AND spoken_word_id IS NULL"
    " WHEN 'dialogue' THEN character_id IS NOT NULL AND spoken_word_id IS NOT NULL"
    " WHEN 'pageBreak' THEN action_id IS NULL AND character_id IS NULL AND spoken_word_id IS NULL"
    " ELSE text IS NOT NULL AND action_id IS NULL AND character_id IS NULL AND spoken_word_id IS NULL END"
    " AND (kind = 'dialogue' OR (context_id IS NULL AND extension IS NULL AND parentheticals = '[]'::jsonb))"
    " AND (kind IN ('transition', 'centered', 'note') OR text IS NULL)"
)
OLD_IDS = "character_id >= 1 AND action_id >= 1 AND spoken_word_id >= 1 AND (context_id IS NULL OR context_id >= 1)"
NEW_IDS = (
    "(character_id IS NULL OR character_id >= 1) AND (action_id IS NULL OR action_id >= 1)"
    " AND (spoken_word_id IS NULL OR spoken_word_id >= 1) AND (context_id IS NULL OR context_id >= 1)"
)
JSON_EMPTY = sa.text("'[]'::jsonb")


def upgrade() -> None:
    op.add_column("scripts", sa.Column("title_page", postgresql.JSONB(), server_default=JSON_EMPTY, nullable=False), schema=SCHEMA)
    op.add_column("section_headings", sa.Column("scene_number", sa.Text(), nullable=True), schema=SCHEMA)
    op.create_check_constraint(
        "section_headings_scene_number_length", "section_headings", "char_length(scene_number) BETWEEN 1 AND 20", schema=SCHEMA
    )
    op.add_column("story_lines", sa.Column("kind", sa.Text(), server_default="dialogue", nullable=False), schema=SCHEMA)
    op.add_column("story_lines", sa.Column("extension", sa.Text(), nullable=True), schema=SCHEMA)
    op.add_column(
        "story_lines", sa.Column("parentheticals", postgresql.JSONB(), server_default=JSON_EMPTY, nullable=False), schema=SCHEMA
    )
    op.add_column("story_lines", sa.Column("text", sa.Text(), nullable=True), schema=SCHEMA)
    for column in ("character_id", "action_id", "spoken_word_id"):
        op.alter_column("story_lines", column, existing_type=sa.BigInteger(), nullable=True, schema=SCHEMA)
    op.drop_constraint("story_lines_ids_positive", "story_lines", schema=SCHEMA)
    op.create_check_constraint("story_lines_ids_positive", "story_lines", NEW_IDS, schema=SCHEMA)
    op.create_check_constraint(
        "story_lines_kind",
        "story_lines",
        "kind IN ('action', 'dialogue', 'transition', 'centered', 'pageBreak', 'note')",
        schema=SCHEMA,
    )
    op.create_check_constraint("story_lines_element_shape", "story_lines", ELEMENT_SHAPE, schema=SCHEMA)
    op.create_check_constraint(
        "story_lines_text_length",
        "story_lines",
        "char_length(extension) BETWEEN 1 AND 50 AND char_length(text) BETWEEN 1 AND 10000",
        schema=SCHEMA,
    )


def downgrade() -> None:
    # Refuse before changing anything: the older tables would lose these rows or fields.
    op.execute(
        """
        DO $$
        DECLARE
            lines bigint;
            headings bigint;
            scripts bigint;
        BEGIN
            SELECT count(*) INTO lines FROM core_script.story_lines
            WHERE kind <> 'dialogue' OR action_id IS NULL OR extension IS NOT NULL OR parentheticals <> '[]'::jsonb;
            SELECT count(*) INTO headings FROM core_script.section_headings WHERE scene_number IS NOT NULL;
            SELECT count(*) INTO scripts FROM core_script.scripts WHERE title_page <> '[]'::jsonb;
            IF lines + headings + scripts > 0 THEN
                RAISE EXCEPTION 'cannot downgrade core_script below 0004: % story line(s) are not dialogue with an '
                    'action or carry an extension or parentheticals, % heading(s) have a scene number, % script(s) '
                    'have a title page; the older tables cannot hold them. Delete or export them first.',
                    lines, headings, scripts;
            END IF;
        END $$;
        """
    )
    op.drop_constraint("story_lines_text_length", "story_lines", schema=SCHEMA)
    op.drop_constraint("story_lines_element_shape", "story_lines", schema=SCHEMA)
    op.drop_constraint("story_lines_kind", "story_lines", schema=SCHEMA)
    op.drop_constraint("story_lines_ids_positive", "story_lines", schema=SCHEMA)
    op.create_check_constraint("story_lines_ids_positive", "story_lines", OLD_IDS, schema=SCHEMA)
    for column in ("character_id", "action_id", "spoken_word_id"):
        op.alter_column("story_lines", column, existing_type=sa.BigInteger(), nullable=False, schema=SCHEMA)
    for column in ("text", "parentheticals", "extension", "kind"):
        op.drop_column("story_lines", column, schema=SCHEMA)
    op.drop_constraint("section_headings_scene_number_length", "section_headings", schema=SCHEMA)
    op.drop_column("section_headings", "scene_number", schema=SCHEMA)
    op.drop_column("scripts", "title_page", schema=SCHEMA)
