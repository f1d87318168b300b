"""A small OpenAI-compatible chat endpoint, a real HTTP server on a free port, standing in for the
external model the studio's AI assist asks."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeModel:
    """What the stand-in endpoint answers next, and what it was asked."""

    url: str
    content: str = "{}"
    status: int = 200
    delay: float = 0.0  # seconds to wait before answering: a model too slow
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def fake_model() -> Iterator[FakeModel]:
    """A stand-in for an OpenAI-compatible API: POST {url}/chat/completions answers `content`."""
    fake = FakeModel("")

    class ChatCompletions(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append({"path": self.path, **body})
            fake.headers.append(dict(self.headers))
            time.sleep(fake.delay)
            answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": fake.content}}]}
            data = json.dumps(answer if fake.status == 200 else {"error": "overloaded"}).encode()
            try:
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the studio stopped waiting (a model too slow): nobody reads the answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
