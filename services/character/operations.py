"""The Character Management Service's implementation: its /v1 and /v2 operations together."""

from .v1 import CharacterV1
from .v2 import CharacterV2


class CharacterOperations(CharacterV1, CharacterV2):
    pass
