from fountain_common.service import ServiceDefinition

from .generated.api import build_router
from .operations import CharacterOperations
from .tables import SCHEMA, metadata

SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="character.fountain.coach",
    port=8102,
    metadata=metadata,
    build_router=build_router,
    operations=CharacterOperations,
)
