"""One ASGI app that serves every service in one process and routes by Host header, as the gateway does.

A browser cannot set the Host header, so any other host (127.0.0.1, localhost) gets an index page
at / linking every service, and each service under a path prefix: /<service>/docs is the /docs of
that service, with the prefix as the app's root_path."""

import html
import json
from contextlib import AsyncExitStack

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from fountain_common.docs_pages import ASSETS_PATH


class HostDispatcher:
    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.apps = apps
        self.by_prefix = {app.state.service.name: app for app in apps.values()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        host = ""
        for name, value in scope.get("headers", []):
            if name == b"host":
                host = value.decode("latin-1").rsplit(":", 1)[0].lower() if not value.startswith(b"[") else ""
                break
        app = self.apps.get(host)
        if app is not None:
            await app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope["path"].removeprefix(root)
        if path == "/" and scope["type"] == "http":
            await self._index(scope, root, send)
            return
        prefix = path.split("/", 2)[1]
        app = self.by_prefix.get(prefix)
        if app is not None:
            if path in (f"/{prefix}", f"/{prefix}/"):  # the service itself: its documentation
                await _respond(send, 307, "text/plain", b"", [(b"location", f"{root}/{prefix}/docs".encode())])
                return
            await app(
                {**scope, "root_path": f"{root}/{prefix}"}, receive, _prefixing_locations(send, f"{root}/{prefix}")
            )
            return
        await self._unknown_host(host, path, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        stack = AsyncExitStack()
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            for app in self.apps.values():
                await stack.enter_async_context(app.router.lifespan_context(app))
        except Exception as error:  # report the failure to the server instead of hanging
            await stack.aclose()
            await send({"type": "lifespan.startup.failed", "message": repr(error)})
            return
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        await stack.aclose()
        await send({"type": "lifespan.shutdown.complete"})

    async def _index(self, scope: Scope, root: str, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(
                send,
                405,
                "application/problem+json",
                _problem("method-not-allowed", "Method not allowed", 405, "The index page answers GET only."),
                [(b"allow", b"GET, HEAD")],
            )
            return
        rows = []
        for prefix, app in sorted(self.by_prefix.items()):
            base = html.escape(f"{root}/{prefix}")
            public_host = html.escape(app.state.service.host)
            links = " · ".join(
                f'<a href="{base}/{page}">{label}</a>'
                for page, label in (
                    ("docs", "Swagger UI"),
                    ("redoc", "ReDoc"),
                    ("openapi.json", "OpenAPI"),
                    ("health", "health"),
                    ("ready", "ready"),
                )
            )
            rows.append(
                f'<li id="{html.escape(prefix)}"><h2>{html.escape(app.title)} <small>{html.escape(app.version)}</small></h2>'
                f"<p>{links}</p>"
                f"<p>Under <code>{base}/</code> here, or with the header <code>Host: {public_host}</code>"
                f" as the gateway routes it.</p></li>"
            )
        favicon = html.escape(f"{root}/{next(iter(sorted(self.by_prefix)))}{ASSETS_PATH}/favicon.png")
        page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{favicon}">
<title>FountainAI services</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
ul {{ list-style: none; padding: 0; }}
li {{ border-top: 1px solid #ddd; padding: 0.5rem 0; }}
h2 {{ font-size: 1.15rem; margin: 0.5rem 0; }}
small {{ color: #666; font-weight: normal; }}
code {{ background: #f4f4f4; padding: 0 0.2rem; }}
</style>
</head>
<body>
<h1>FountainAI services</h1>
<p>Every service of this <code>fountain serve</code>, with its API documentation and health checks.</p>
<ul>
{chr(10).join(rows)}
</ul>
</body>
</html>
"""
        await _respond(send, 200, "text/html; charset=utf-8", page.encode())

    async def _unknown_host(self, host: str, path: str, send: Send) -> None:
        detail = (
            f"No FountainAI service answers for host {host!r} at {path!r}. Send one of: {', '.join(sorted(self.apps))};"
            f" or put the service first in the path ({', '.join(f'/{p}/' for p in sorted(self.by_prefix))}):"
            " / lists them."
        )
        await _respond(send, 404, "application/problem+json", _problem("unknown-host", "Unknown host", 404, detail))


def _prefixing_locations(send: Send, prefix: str) -> Send:
    """The service's Location headers name its own paths (/v2/characters/7): put them under the prefix."""

    async def send_prefixed(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [
                (name, prefix.encode() + value)
                if name.lower() == b"location" and value.startswith(b"/") and not value.startswith(b"//")
                else (name, value)
                for name, value in message.get("headers", [])
            ]
        await send(message)

    return send_prefixed


def _problem(kind: str, title: str, status: int, detail: str) -> bytes:
    return json.dumps(
        {"type": f"https://fountain.coach/problems/{kind}", "title": title, "status": status, "detail": detail}
    ).encode()


async def _respond(
    send: Send, status: int, content_type: str, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
