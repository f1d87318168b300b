"""scope owners: scope names are per account

Upgrade: every scope gets an `owner` column; the scopes that exist belong to no account ('', what
`fountain accounts claim` hands over), so a deployment without identities numbers as before. The
unique key of a scope becomes (owner, name): each account has a namespace of its own.

Downgrade: one namespace again; refused (changing nothing) while two accounts hold a scope of the
same name, since the old unique key cannot keep both.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "central_sequence"


def upgrade() -> None:
    op.add_column(
        "scopes", sa.Column("owner", sa.String(length=64), server_default="", nullable=False), schema=SCHEMA
    )
    op.drop_constraint("scopes_name_key", "scopes", schema=SCHEMA)
    op.create_unique_constraint("scopes_owner_name_key", "scopes", ["owner", "name"], schema=SCHEMA)


def downgrade() -> None:
    op.execute(
        """
        DO $$
        DECLARE shared_name text;
        BEGIN
            SELECT name INTO shared_name FROM central_sequence.scopes GROUP BY name HAVING count(*) > 1 LIMIT 1;
            IF shared_name IS NOT NULL THEN
                RAISE EXCEPTION 'cannot merge the accounts'' scopes into one namespace: several accounts '
                    'hold a scope named %', shared_name;
            END IF;
        END $$
        """
    )
    op.drop_constraint("scopes_owner_name_key", "scopes", schema=SCHEMA)
    op.create_unique_constraint("scopes_name_key", "scopes", ["name"], schema=SCHEMA)
    op.drop_column("scopes", "owner", schema=SCHEMA)
