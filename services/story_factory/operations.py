"""The Story Factory Service's implementation: its /v1 and /v2 operations together."""

from .v1 import StoryFactoryV1
from .v2 import StoryFactoryV2


class StoryFactoryOperations(StoryFactoryV1, StoryFactoryV2):
    pass
