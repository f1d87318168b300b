"""Liveness and readiness, the same for every service."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from fountain_common.migrations import head_revision
from fountain_common.problems import unavailable
from fountain_common.service import ServiceDefinition


async def check_ready(engine: AsyncEngine, service: ServiceDefinition) -> None:
    """Raise 503 unless the database answers and the service's schema is at the newest migration."""
    try:
        async with engine.connect() as conn:
            current = (
                await conn.execute(text(f'SELECT version_num FROM "{service.schema}".alembic_version'))
            ).scalar_one_or_none()
    except Exception as error:  # any failure to reach or read the database means "not ready"
        raise unavailable(f"The database is not reachable or not migrated: {type(error).__name__}.") from error
    head = head_revision(service)
    if current != head:
        raise unavailable(
            f"Schema {service.schema} is at revision {current}, expected {head}: run `fountain db upgrade`."
        )
