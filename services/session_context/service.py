from fastapi import APIRouter

from fountain_common.service import ServiceDefinition

from .tables import SCHEMA, metadata


def build_router() -> APIRouter:
    from .generated.api import build_router as build_generated_router
    from .operations import SessionContextOperations

    return build_generated_router(SessionContextOperations)


SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="sessioncontext.fountain.coach",
    port=8104,
    metadata=metadata,
    build_router=build_router,
)
