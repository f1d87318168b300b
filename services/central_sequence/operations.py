"""The Central Sequence Service's implementation: its /v1 and /v2 operations together."""

from .v1 import CentralSequenceV1
from .v2 import CentralSequenceV2


class CentralSequenceOperations(CentralSequenceV1, CentralSequenceV2):
    pass
