from fountain_common.service import ServiceDefinition

from .generated.api import build_router
from .operations import SessionContextOperations
from .tables import SCHEMA, metadata

SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="sessioncontext.fountain.coach",
    port=8104,
    metadata=metadata,
    build_router=build_router,
    operations=SessionContextOperations,
)
