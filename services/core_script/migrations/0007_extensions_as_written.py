"""a cue's extensions as written

Upgrade: a story line keeps its cue's extensions as a list (`extensions`, JSON), each as written;
the one `extension` a line held becomes a list of it. Existing lines are unchanged otherwise.

Downgrade: refused, changing nothing, while any line has more than one extension (the older column
holds one). Otherwise each line's one extension goes back to `extension`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "core_script"
TEXT_KINDS = "'transition', 'centered', 'note', 'lyrics', 'section', 'synopsis'"


def _element_shape(no_extension: str) -> str:
    return (
        "CASE kind"
        " WHEN 'action' THEN action_id IS NOT NULL AND character_id IS NULL AND spoken_word_id IS NULL"
        " WHEN 'dialogue' THEN character_id IS NOT NULL AND spoken_word_id IS NOT NULL"
        " WHEN 'pageBreak' THEN action_id IS NULL AND character_id IS NULL AND spoken_word_id IS NULL"
        " ELSE text IS NOT NULL AND action_id IS NULL AND character_id IS NULL AND spoken_word_id IS NULL END"
        f" AND (kind = 'dialogue' OR (context_id IS NULL AND {no_extension} AND parentheticals = '[]'::jsonb))"
        f" AND (kind IN ({TEXT_KINDS}) OR text IS NULL)"
    )


EXTENSIONS = (
    "jsonb_typeof(extensions) = 'array' AND jsonb_array_length(extensions) <= 5"
    " AND NOT jsonb_path_exists(extensions, "
    "'$[*] ? (@.type() != \"string\" || !(@ like_regex \"^[^()\\r\\n]{1,50}$\"))')"
)


def _drop_shape_and_length() -> None:
    op.drop_constraint("story_lines_element_shape", "story_lines", schema=SCHEMA)
    op.drop_constraint("story_lines_text_length", "story_lines", schema=SCHEMA)


def upgrade() -> None:
    op.add_column(
        "story_lines",
        sa.Column("extensions", JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        schema=SCHEMA,
    )
    op.execute(
        "UPDATE core_script.story_lines SET extensions = jsonb_build_array(extension) WHERE extension IS NOT NULL"
    )
    _drop_shape_and_length()
    op.drop_column("story_lines", "extension", schema=SCHEMA)
    op.create_check_constraint(
        "story_lines_element_shape", "story_lines", _element_shape("extensions = '[]'::jsonb"), schema=SCHEMA
    )
    op.create_check_constraint(
        "story_lines_text_length", "story_lines", "char_length(text) BETWEEN 1 AND 10000", schema=SCHEMA
    )
    op.create_check_constraint("story_lines_extensions", "story_lines", EXTENSIONS, schema=SCHEMA)


def downgrade() -> None:
    # Refuse before changing anything: the older column holds one extension.
    op.execute(
        """
        DO $$
        DECLARE
            several bigint;
        BEGIN
            SELECT count(*) INTO several FROM core_script.story_lines WHERE jsonb_array_length(extensions) > 1;
            IF several > 0 THEN
                RAISE EXCEPTION 'cannot downgrade core_script below 0007: % story line(s) have more than one '
                    'extension; the older column holds one. Edit or export them first.', several;
            END IF;
        END $$;
        """
    )
    op.add_column("story_lines", sa.Column("extension", sa.Text(), nullable=True), schema=SCHEMA)
    op.execute("UPDATE core_script.story_lines SET extension = extensions ->> 0")
    op.drop_constraint("story_lines_extensions", "story_lines", schema=SCHEMA)
    _drop_shape_and_length()
    op.drop_column("story_lines", "extensions", schema=SCHEMA)
    op.create_check_constraint(
        "story_lines_element_shape", "story_lines", _element_shape("extension IS NULL"), schema=SCHEMA
    )
    op.create_check_constraint(
        "story_lines_text_length",
        "story_lines",
        "char_length(extension) BETWEEN 1 AND 50 AND char_length(text) BETWEEN 1 AND 10000",
        schema=SCHEMA,
    )
