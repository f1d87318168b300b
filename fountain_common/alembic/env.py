"""Alembic environment shared by every service; the service's tables and schema come from the config."""

from alembic import context

from fountain_common.migrations import run_migrations

run_migrations(context.config.attributes["metadata"])
