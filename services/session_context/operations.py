"""The Session and Context Service's implementation: its /v1 and /v2 operations together."""

from .v1 import SessionContextV1
from .v2 import SessionContextV2


class SessionContextOperations(SessionContextV1, SessionContextV2):
    pass
