"""numbering scopes: one gapless sequence per scope instead of one for the whole system

Upgrade: every element numbered so far keeps its number, in the scope named `default` (the one /v1
numbers in), whose counter continues from the old one; the single counter row goes.

Downgrade: the scopes are merged into one sequence again, `default` first, then the others in the
order they were created, each keeping its own order. An element numbered in several scopes keeps its
first place only; the downgrade refuses (changing nothing) when such a second place carries versions,
since the old schema has nowhere to keep them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "central_sequence"


def upgrade() -> None:
    op.create_table(
        "scopes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("last_value", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("last_value >= 0", name="scopes_last_value_not_negative"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="scopes_name_key"),
        schema=SCHEMA,
    )
    op.execute(
        "INSERT INTO central_sequence.scopes (name, last_value) "
        "SELECT 'default', last_value FROM central_sequence.sequence_counter WHERE id = 1"
    )
    op.add_column("elements", sa.Column("scope_id", sa.BigInteger(), nullable=True), schema=SCHEMA)
    op.execute(
        "UPDATE central_sequence.elements "
        "SET scope_id = (SELECT id FROM central_sequence.scopes WHERE name = 'default')"
    )
    op.alter_column("elements", "scope_id", nullable=False, schema=SCHEMA)
    op.create_foreign_key(
        "elements_scope_id_fkey",
        "elements",
        "scopes",
        ["scope_id"],
        ["id"],
        source_schema=SCHEMA,
        referent_schema=SCHEMA,
        ondelete="CASCADE",
    )
    op.drop_constraint("elements_element_key", "elements", schema=SCHEMA)
    op.drop_constraint("elements_sequence_number_key", "elements", schema=SCHEMA)
    op.create_unique_constraint(
        "elements_element_key", "elements", ["scope_id", "element_type", "element_id"], schema=SCHEMA
    )
    op.create_unique_constraint(
        "elements_sequence_number_key",
        "elements",
        ["scope_id", "sequence_number"],
        schema=SCHEMA,
        deferrable=True,
        initially="IMMEDIATE",
    )
    op.drop_table("sequence_counter", schema=SCHEMA)


def downgrade() -> None:
    # Each element's place in the merged order: scopes `default` first, then by creation.
    op.execute(
        """
        CREATE TEMPORARY TABLE merged ON COMMIT DROP AS
        SELECT e.id, e.version,
               row_number() OVER (PARTITION BY e.element_type, e.element_id
                                  ORDER BY s.name <> 'default', s.id) AS occurrence,
               (s.name <> 'default') AS later_scope, s.id AS scope_order, e.sequence_number
        FROM central_sequence.elements e JOIN central_sequence.scopes s ON s.id = e.scope_id
        """
    )
    op.execute(
        """
        DO $$
        DECLARE lost bigint;
        BEGIN
            SELECT count(*) INTO lost FROM merged WHERE occurrence > 1 AND version > 1;
            IF lost > 0 THEN
                RAISE EXCEPTION 'cannot merge the numbering scopes: % element(s) numbered in several scopes '
                    'carry versions in a later scope, which one sequence cannot keep', lost;
            END IF;
        END $$
        """
    )
    op.execute(
        "DELETE FROM central_sequence.elements WHERE id IN (SELECT id FROM merged WHERE occurrence > 1)"
    )
    op.create_table(
        "sequence_counter",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="sequence_counter_single_row"),
        sa.PrimaryKeyConstraint("id"),
        schema=SCHEMA,
    )
    op.drop_constraint("elements_sequence_number_key", "elements", schema=SCHEMA)
    op.drop_constraint("elements_element_key", "elements", schema=SCHEMA)
    op.execute(
        """
        UPDATE central_sequence.elements e SET sequence_number = n.number
        FROM (SELECT id, row_number() OVER (ORDER BY later_scope, scope_order, sequence_number) AS number
              FROM merged WHERE occurrence = 1) n
        WHERE e.id = n.id
        """
    )
    op.execute(
        "INSERT INTO central_sequence.sequence_counter (id, last_value) "
        "SELECT 1, count(*) FROM central_sequence.elements"
    )
    op.create_unique_constraint("elements_element_key", "elements", ["element_type", "element_id"], schema=SCHEMA)
    op.create_unique_constraint(
        "elements_sequence_number_key",
        "elements",
        ["sequence_number"],
        schema=SCHEMA,
        deferrable=True,
        initially="IMMEDIATE",
    )
    op.drop_constraint("elements_scope_id_fkey", "elements", schema=SCHEMA, type_="foreignkey")
    op.drop_column("elements", "scope_id", schema=SCHEMA)
    op.drop_table("scopes", schema=SCHEMA)
