"""The Core Script Management Service's implementation: its /v1 and /v2 operations together."""

from .v1 import CoreScriptV1
from .v2 import CoreScriptV2


class CoreScriptOperations(CoreScriptV1, CoreScriptV2):
    pass
