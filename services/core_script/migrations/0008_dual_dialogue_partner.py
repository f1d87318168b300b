"""a dual dialogue keeps its partner

Upgrade: the database refuses, at commit, a transaction that leaves the right-hand side of a dual
dialogue without its partner (a dialogue, not dual itself, just before it in its section), as the API
does with 409. A dual line that an earlier version left without a partner (a move or delete of the
line before it) loses its `dual` first: it was already exported as a plain dialogue, so no reader sees
a change. The count is reported as a notice.

Downgrade: the check is removed; nothing else changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 11:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows that can part a pair are checked: a dual line inserted, a line moved or changed in kind or
# dual, a line deleted; each at its old and new place (its partner) and the next (the line it may
# partner). An import inserts few dual lines among many, so it checks few rows.
CHECK_FUNCTION = """
CREATE FUNCTION core_script.story_lines_dual_partner_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    orphan bigint;
BEGIN
    SELECT l.id INTO orphan
    FROM core_script.story_lines AS l
    LEFT JOIN core_script.story_lines AS b ON b.heading_id = l.heading_id AND b.position = l.position - 1
    WHERE l.dual
      AND (b.id IS NULL OR b.kind <> 'dialogue' OR b.dual)
      AND ((TG_OP <> 'DELETE' AND l.heading_id = NEW.heading_id AND l.position IN (NEW.position, NEW.position + 1))
        OR (TG_OP <> 'INSERT' AND l.heading_id = OLD.heading_id AND l.position IN (OLD.position, OLD.position + 1)))
    LIMIT 1;
    IF orphan IS NOT NULL THEN
        RAISE EXCEPTION 'story line % is a dual dialogue without a dialogue (not dual itself) just before it '
            'in its section', orphan
            USING ERRCODE = 'check_violation', CONSTRAINT = 'story_lines_dual_partner';
    END IF;
    RETURN NULL;
END $$;
"""
TRIGGERS = {
    "story_lines_dual_partner_inserted": "INSERT ON core_script.story_lines",
    "story_lines_dual_partner_changed": "UPDATE ON core_script.story_lines",
    "story_lines_dual_partner_deleted": "DELETE ON core_script.story_lines",
}
CONDITIONS = {
    "story_lines_dual_partner_inserted": "WHEN (NEW.dual)",
    "story_lines_dual_partner_changed": (
        "WHEN (NEW.dual OR NEW.kind <> OLD.kind OR NEW.heading_id <> OLD.heading_id OR NEW.position <> OLD.position)"
    ),
    "story_lines_dual_partner_deleted": "",
}


def upgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE
            orphans bigint;
        BEGIN
            WITH cleared AS (
                UPDATE core_script.story_lines AS l SET dual = false, revision = l.revision + 1, updated_at = now()
                WHERE l.dual AND NOT EXISTS (
                    SELECT 1 FROM core_script.story_lines AS b
                    WHERE b.heading_id = l.heading_id AND b.position = l.position - 1
                      AND b.kind = 'dialogue' AND NOT b.dual
                )
                RETURNING 1
            )
            SELECT count(*) INTO orphans FROM cleared;
            IF orphans > 0 THEN
                RAISE NOTICE 'core_script 0008: % dual dialogue line(s) had no partner and are plain dialogue now', orphans;
            END IF;
        END $$;
        """
    )
    op.execute(CHECK_FUNCTION)
    for name, event in TRIGGERS.items():
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} DEFERRABLE INITIALLY DEFERRED "
            f"FOR EACH ROW {CONDITIONS[name]} EXECUTE FUNCTION core_script.story_lines_dual_partner_check()"
        )


def downgrade() -> None:
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON core_script.story_lines")
    op.execute("DROP FUNCTION core_script.story_lines_dual_partner_check()")
