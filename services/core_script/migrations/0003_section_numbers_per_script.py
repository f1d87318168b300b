"""section numbers per script: each script's headings numbered 2..n+1 in its own scope

Upgrade: each script's headings keep their order and are renumbered 2..n+1 (the script itself is 1
in its scope); numbers are unique per script instead of across all scripts. Every existing script is
marked as having no scope in the Central Sequence Service yet: the first change to its headings
builds it there from these rows (scopes.reconcile_scope), so the two services need not be
migrated together.

Downgrade: the headings are numbered once more across all scripts, script by script in id order,
each keeping its order; the Central Sequence Service is not told (its scopes are merged by its own
downgrade).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "core_script"


def _renumber(over: str, first: int) -> None:
    op.execute(
        f"""
        UPDATE core_script.section_headings h SET sequence_number = n.number
        FROM (SELECT id, row_number() OVER ({over}) + {first - 1} AS number FROM core_script.section_headings) n
        WHERE h.id = n.id AND h.sequence_number <> n.number
        """
    )


def upgrade() -> None:
    op.add_column(
        "scripts",
        sa.Column("sections_scoped", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema=SCHEMA,
    )
    op.drop_index("section_headings_script_idx", table_name="section_headings", schema=SCHEMA)
    op.drop_constraint("section_headings_sequence_number_key", "section_headings", schema=SCHEMA)
    op.drop_constraint("section_headings_sequence_number_positive", "section_headings", schema=SCHEMA)
    _renumber("PARTITION BY script_id ORDER BY sequence_number", first=2)
    op.create_check_constraint("section_headings_after_the_script", "section_headings", "sequence_number >= 2", schema=SCHEMA)
    op.create_unique_constraint(
        "section_headings_sequence_number_key",
        "section_headings",
        ["script_id", "sequence_number"],
        schema=SCHEMA,
        deferrable=True,
        initially="IMMEDIATE",
    )


def downgrade() -> None:
    op.drop_constraint("section_headings_sequence_number_key", "section_headings", schema=SCHEMA)
    op.drop_constraint("section_headings_after_the_script", "section_headings", schema=SCHEMA)
    _renumber("ORDER BY script_id, sequence_number", first=1)
    op.create_check_constraint(
        "section_headings_sequence_number_positive", "section_headings", "sequence_number >= 1", schema=SCHEMA
    )
    op.create_unique_constraint(
        "section_headings_sequence_number_key",
        "section_headings",
        ["sequence_number"],
        schema=SCHEMA,
        deferrable=True,
        initially="IMMEDIATE",
    )
    op.create_index(
        "section_headings_script_idx", "section_headings", ["script_id", "sequence_number"], unique=False, schema=SCHEMA
    )
    op.drop_column("scripts", "sections_scoped", schema=SCHEMA)
