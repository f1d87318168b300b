from fountain_common.service import ServiceDefinition

from .generated.api import build_router
from .operations import CoreScriptOperations
from .script_calls import sweep_abandoned_creates
from .tables import SCHEMA, metadata

SERVICE = ServiceDefinition(
    name=SCHEMA,
    host="scriptmanagement.fountain.coach",
    port=8103,
    metadata=metadata,
    build_router=build_router,
    operations=CoreScriptOperations,
    sweep=sweep_abandoned_creates,
)
