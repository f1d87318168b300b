"""How `fountain serve` runs uvicorn: the HTTP protocol and the options every service process uses."""

import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fountain_common.problems import PROBLEM_TYPE_BASE

_UNPARSABLE = json.dumps(
    {
        "type": PROBLEM_TYPE_BASE + "malformed-request",
        "title": "Malformed request",
        "status": 400,
        "detail": "The request could not be read as HTTP: its request line or headers are malformed or too long "
        "(a URL with thousands of query parameters is).",
    }
).encode()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering a request it cannot parse (too long a URL or header,
    broken framing) with problem+json like every other error, instead of a text/plain 400."""

    def send_400_response(self, msg: str) -> None:
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: " + str(len(_UNPARSABLE)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + _UNPARSABLE)
        self.transport.close()


def server_options() -> dict[str, Any]:
    """Keyword arguments for uvicorn.run / uvicorn.Config shared by every way a service is served."""
    return {"http": ProblemHttpToolsProtocol, "access_log": False, "log_config": None}
