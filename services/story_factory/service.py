from fountain_common.service import ServiceDefinition

from .generated.api import build_router
from .operations import StoryFactoryOperations
from .tables import SCHEMA, metadata

SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="storyfactory.fountain.coach",
    port=8105,
    metadata=metadata,
    build_router=build_router,
    operations=StoryFactoryOperations,
)
