"""dual dialogue, lyrics, sections and synopses

Upgrade: a story line may also be lyrics, a section (with its depth, Fountain's number of `#`) or a
synopsis, each with its text; a dialogue may be the right-hand side of a dual dialogue (`dual`, false
for every existing line). Existing lines are unchanged.

Downgrade: refused, changing nothing, while any line is lyrics, a section or a synopsis, or a dual
dialogue: the older tables cannot hold them. Otherwise the columns and kinds are removed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "core_script"


def _element_shape(text_kinds: str) -> str:
    return (
        "CASE kind"
        " WHEN 'action' THEN action_id IS NOT NULL AND character_id IS NULL AND spoken_word_id IS NULL"
        " WHEN 'dialogue' THEN character_id IS NOT NULL AND spoken_word_id IS NOT NULL"
        " WHEN 'pageBreak' THEN action_id IS NULL AND character_id IS NULL AND spoken_word_id IS NULL"
        " ELSE text IS NOT NULL AND action_id IS NULL AND character_id IS NULL AND spoken_word_id IS NULL END"
        " AND (kind = 'dialogue' OR (context_id IS NULL AND extension IS NULL AND parentheticals = '[]'::jsonb))"
        f" AND (kind IN ({text_kinds}) OR text IS NULL)"
    )


OLD_TEXT_KINDS = "'transition', 'centered', 'note'"
NEW_TEXT_KINDS = "'transition', 'centered', 'note', 'lyrics', 'section', 'synopsis'"
OLD_KINDS = "kind IN ('action', 'dialogue', 'transition', 'centered', 'pageBreak', 'note')"
NEW_KINDS = "kind IN ('action', 'dialogue', 'transition', 'centered', 'pageBreak', 'note', 'lyrics', 'section', 'synopsis')"


def _replace_shape(kinds: str, text_kinds: str) -> None:
    op.drop_constraint("story_lines_element_shape", "story_lines", schema=SCHEMA)
    op.drop_constraint("story_lines_kind", "story_lines", schema=SCHEMA)
    op.create_check_constraint("story_lines_kind", "story_lines", kinds, schema=SCHEMA)
    op.create_check_constraint("story_lines_element_shape", "story_lines", _element_shape(text_kinds), schema=SCHEMA)


def upgrade() -> None:
    op.add_column("story_lines", sa.Column("dual", sa.Boolean(), server_default=sa.false(), nullable=False), schema=SCHEMA)
    op.add_column("story_lines", sa.Column("depth", sa.SmallInteger(), nullable=True), schema=SCHEMA)
    _replace_shape(NEW_KINDS, NEW_TEXT_KINDS)
    op.create_check_constraint(
        "story_lines_dual_dialogue", "story_lines", "NOT dual OR (kind = 'dialogue' AND action_id IS NULL)", schema=SCHEMA
    )
    op.create_check_constraint(
        "story_lines_section_depth",
        "story_lines",
        "(kind = 'section') = (depth IS NOT NULL) AND (depth IS NULL OR depth BETWEEN 1 AND 6)",
        schema=SCHEMA,
    )


def downgrade() -> None:
    # Refuse before changing anything: the older tables would lose these lines or their pairing.
    op.execute(
        """
        DO $$
        DECLARE
            kinds bigint;
            duals bigint;
        BEGIN
            SELECT count(*) INTO kinds FROM core_script.story_lines WHERE kind IN ('lyrics', 'section', 'synopsis');
            SELECT count(*) INTO duals FROM core_script.story_lines WHERE dual;
            IF kinds + duals > 0 THEN
                RAISE EXCEPTION 'cannot downgrade core_script below 0006: % story line(s) are lyrics, a section or '
                    'a synopsis and % are dual dialogue; the older tables cannot hold them. Delete or export them first.',
                    kinds, duals;
            END IF;
        END $$;
        """
    )
    op.drop_constraint("story_lines_section_depth", "story_lines", schema=SCHEMA)
    op.drop_constraint("story_lines_dual_dialogue", "story_lines", schema=SCHEMA)
    _replace_shape(OLD_KINDS, OLD_TEXT_KINDS)
    op.drop_column("story_lines", "depth", schema=SCHEMA)
    op.drop_column("story_lines", "dual", schema=SCHEMA)
