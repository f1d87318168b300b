"""The Session and Context Service's operations.

Only the probes are answered so far: every /v1 operation of the contract answers 501 problem+json
(the generated default) until its implementation lands.
"""

from fountain_common.operations import RequestScope

from .generated.api import Operations


class SessionContextOperations(RequestScope, Operations):
    pass
