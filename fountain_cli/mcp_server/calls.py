"""The MCP server's calls to the story services: HTTP to their /v2 APIs, through the connection pool,
address rules, timeouts and retries of fountain_common/upstream.py, like any other client.

What goes wrong becomes a `ToolError`, whose text the agent reads: a service's problem+json as its
detail and the fields at fault, an unreachable or failing service by name and address.
"""

import uuid
from typing import Any

import httpx
from mcp.server.mcpserver.exceptions import ToolError

from fountain_common.problems import Problem
from fountain_common.settings import Settings
from fountain_common.upstream import Upstreams, upstream_service

# How many fields at fault an error names; a screenplay import may name many lines.
MAX_FIELDS_NAMED = 10
JSON = dict[str, Any]


def new_key() -> str:
    """An Idempotency-Key for one tool call, when the agent gave none."""
    return str(uuid.uuid4())


def refusal(service: str, call: str, response: httpx.Response) -> ToolError:
    """A 4xx answer as a tool error that says what to fix: the problem's detail and its fields."""
    title = upstream_service(service).title
    try:
        problem: Any = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return ToolError(f"{title} refused {call}: {response.status_code} {response.reason_phrase}.")
    said = problem.get("detail") or problem.get("title") or response.reason_phrase
    lines = [f"{title} refused {call} ({response.status_code} {problem.get('title', response.reason_phrase)}): {said}"]
    errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)]
    for error in errors[:MAX_FIELDS_NAMED]:
        lines.append(f"- {error.get('location')}: {error.get('message')}")
    if len(errors) > MAX_FIELDS_NAMED:
        lines.append(f"- and {len(errors) - MAX_FIELDS_NAMED} more")
    return ToolError("\n".join(lines))


class StoryServices:
    """The five services as one tool sees them: `send` one request, get its answer or a ToolError."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.upstreams = Upstreams(settings, transport, caller="mcp")

    def where(self, service: str) -> str:
        """The address a service is reached at, for messages."""
        base_url, headers = self.upstreams.address(upstream_service(service))
        return f"{base_url} (Host: {headers['Host']})" if "Host" in headers else base_url

    async def send(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        text: str | None = None,
        key: str | None = None,
        media_type: str | None = None,
    ) -> httpx.Response:
        """One request to `service`. A write with `key` sends it as Idempotency-Key and may be retried
        with it after a lost answer; a 2xx (of `media_type`, when given) is answered, anything else
        raised."""
        headers: dict[str, str] = {}
        if key is not None:
            headers["Idempotency-Key"] = key
        content = None
        if text is not None:
            content = text.encode("utf-8")
            headers["Content-Type"] = "text/plain; charset=utf-8"
        sent_params = {name: value for name, value in (params or {}).items() if value is not None}
        try:
            response = await self.upstreams.request(
                service,
                method,
                path,
                params=sent_params or None,
                json=json,
                content=content,
                headers=headers,
                idempotent=True if key is not None else None,
            )
        except Problem as problem:  # unreachable, too slow, or failing after the retries
            if isinstance(problem.__cause__, httpx.TransportError):
                raise ToolError(
                    f"{problem.detail} {upstream_service(service).title} is expected at {self.where(service)}: "
                    "start the services with `make run` (or `fountain serve`), or point `fountain mcp` at them "
                    "with --url."
                ) from None
            raise ToolError(problem.detail or problem.title) from None
        if not response.is_success:
            raise refusal(service, f"{method} {path}", response)
        if media_type is not None and not response.headers.get("content-type", "").startswith(media_type):
            raise self.not_fountain(service, method, path, response)
        return response

    def not_fountain(self, service: str, method: str, path: str, response: httpx.Response) -> ToolError:
        """Something else answers at that address (a wrong --url, a captive portal)."""
        return ToolError(
            f"{upstream_service(service).title} answered {method} {path} with "
            f"{response.headers.get('content-type', 'no content type')}, not what it serves: is "
            f"{self.where(service)} a FountainAI service or gateway?"
        )

    async def json(self, service: str, method: str, path: str, **options: Any) -> JSON:
        response = await self.send(service, method, path, media_type="application/json", **options)
        try:
            answer: JSON = response.json()
        except ValueError:
            raise self.not_fountain(service, method, path, response) from None
        return answer

    async def aclose(self) -> None:
        await self.upstreams.aclose()
