"""One ASGI app that serves every service in one process and routes by Host header, as the gateway does."""

import json
from contextlib import AsyncExitStack

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send


class HostDispatcher:
    def __init__(self, apps: dict[str, FastAPI]) -> None:
        self.apps = apps

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
        if app is None:
            await self._unknown_host(host, send)
            return
        await app(scope, receive, send)

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

    async def _unknown_host(self, host: str, send: Send) -> None:
        body = json.dumps(
            {
                "type": "https://fountain.coach/problems/unknown-host",
                "title": "Unknown host",
                "status": 404,
                "detail": f"No FountainAI service answers for host {host!r}. Send one of: {', '.join(sorted(self.apps))}.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
