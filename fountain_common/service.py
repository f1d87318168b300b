"""What the platform needs to know of a service: its name (also its PostgreSQL schema), public host,
local port, spec, tables, migrations, routes and operations."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import MetaData
from starlette.datastructures import State

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from fountain_common.upstream import Upstreams

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceDefinition:
    name: str
    host: str
    port: int
    metadata: MetaData
    build_router: Callable[[], APIRouter]  # the generated routes (generated/api.py)
    operations: Callable[[State], Any]  # the hand-written implementation, built once per app
    # Cleans up after writes that died half-way and were never retried (`fountain sweep`); answers a
    # line for each one cleaned up.
    sweep: "Callable[[AsyncEngine, Upstreams], Awaitable[list[str]]] | None" = None

    @property
    def schema(self) -> str:
        return self.name

    @property
    def spec_path(self) -> Path:
        return REPO_ROOT / "specs" / f"{self.name}.yaml"

    @property
    def package_dir(self) -> Path:
        return REPO_ROOT / "services" / self.name

    @property
    def migrations_dir(self) -> Path:
        return self.package_dir / "migrations"
