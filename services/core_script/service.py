from fastapi import APIRouter

from fountain_common.service import ServiceDefinition

from .tables import SCHEMA, metadata


def build_router() -> APIRouter:
    from .generated.api import build_router as build_generated_router
    from .operations import CoreScriptOperations

    return build_generated_router(CoreScriptOperations)


SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="scriptmanagement.fountain.coach",
    port=8103,
    metadata=metadata,
    build_router=build_router,
)
