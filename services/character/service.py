from fastapi import APIRouter

from fountain_common.service import ServiceDefinition

from .tables import SCHEMA, metadata


def build_router() -> APIRouter:
    from .generated.api import build_router as build_generated_router
    from .operations import CharacterOperations

    return build_generated_router(CharacterOperations)


SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="character.fountain.coach",
    port=8102,
    metadata=metadata,
    build_router=build_router,
)
