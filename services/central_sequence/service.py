from fountain_common.service import ServiceDefinition

from .generated.api import build_router
from .operations import CentralSequenceOperations
from .tables import SCHEMA, metadata

SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="centralsequence.fountain.coach",
    port=8101,
    metadata=metadata,
    build_router=build_router,
    operations=CentralSequenceOperations,
)
