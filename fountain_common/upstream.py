"""Calls from one FountainAI service to another, over HTTP only.

Where a service is reached, first match wins:
1. `FOUNTAIN_<SERVICE>_URL`, e.g. `http://character:8102` in docker-compose: straight to the service.
2. `FOUNTAIN_GATEWAY_URL`: a gateway that routes by Host header (the Kong proxy, or the all-in-one
   `fountain serve`, which sets it to itself); the request carries the service's public host.
3. Otherwise the service's public host over HTTPS (`https://character.fountain.coach`), as in the
   service's spec (`servers[0]`).

Every call has a timeout. Requests that are safe to repeat (GET, PUT, DELETE, and a POST the caller
marks idempotent) are retried a bounded number of times on a transport error, a timeout or a
502/503/504. What still fails becomes a problem naming the upstream: 504 when it did not answer in
time, 502 for anything else. 4xx answers are handed back to the caller, which knows what they mean.
"""

import asyncio
import random
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
import yaml

from fountain_common.observability import REQUEST_ID_HEADER
from fountain_common.problems import Problem
from fountain_common.service import REPO_ROOT
from fountain_common.settings import Settings

log = structlog.get_logger("fountain.upstream")

SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
# Backoff before retry n (1-based) is BACKOFF_SECONDS * 2**(n-1), with up to 50% jitter.
BACKOFF_SECONDS = 0.05


@dataclass(frozen=True)
class UpstreamService:
    name: str  # the service's name, e.g. "character"
    title: str  # what error messages call it, e.g. "Character Management"
    public_host: str  # e.g. "character.fountain.coach"


@cache
def upstream_service(name: str) -> UpstreamService:
    """Name, title and public host of a service, read from its spec (the single source of truth)."""
    spec = yaml.safe_load((REPO_ROOT / "specs" / f"{name}.yaml").read_text())
    host = urlsplit(spec["servers"][0]["url"]).hostname
    if not host:
        raise ValueError(f"specs/{name}.yaml: servers[0].url names no host")
    title = str(spec["info"]["title"]).removesuffix(" API").removeprefix("FountainAI ")
    return UpstreamService(name=name, title=title, public_host=host)


def upstream_failed(service: UpstreamService, detail: str) -> Problem:
    return Problem(
        502, "bad-gateway", "Bad gateway", f"{service.title} failed: {detail}", extensions={"upstream": service.name}
    )


def upstream_timed_out(service: UpstreamService, detail: str) -> Problem:
    return Problem(
        504,
        "gateway-timeout",
        "Gateway timeout",
        f"{service.title} did not answer in time: {detail}",
        extensions={"upstream": service.name},
    )


class Upstreams:
    """One connection pool per app for all calls to other services."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.timeout = settings.upstream_timeout_seconds
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            follow_redirects=False,
        )

    def address(self, service: UpstreamService) -> tuple[str, dict[str, str]]:
        """Base URL and extra headers to reach `service`."""
        headers: dict[str, str] = {}
        if direct := getattr(self.settings, f"{service.name}_url", None):
            return str(direct).rstrip("/"), headers
        if self.settings.gateway_api_key:
            headers["apikey"] = self.settings.gateway_api_key
        if self.settings.gateway_url:
            headers["Host"] = service.public_host
            return self.settings.gateway_url.rstrip("/"), headers
        return f"https://{service.public_host}", headers

    async def request(
        self,
        service_name: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        request_id: str | None = None,
    ) -> httpx.Response:
        """The upstream's answer if it is below 500; otherwise (or when it cannot be reached in time,
        after the retries a repeatable request allows) a 502/504 Problem naming the upstream."""
        service = upstream_service(service_name)
        base_url, extra_headers = self.address(service)
        all_headers = {**extra_headers, **(headers or {})}
        if request_id:
            all_headers[REQUEST_ID_HEADER] = request_id
        repeatable = method.upper() in SAFE_TO_REPEAT if idempotent is None else idempotent
        attempts = 1 + (self.settings.upstream_retries if repeatable else 0)
        where = f"{method.upper()} {path}"
        for attempt in range(1, attempts + 1):
            last_try = attempt == attempts
            try:
                response = await self.client.request(
                    method, base_url + path, params=params, json=json, headers=all_headers
                )
            except httpx.TimeoutException as error:
                log.warning("upstream_timeout", upstream=service.name, call=where, attempt=attempt)
                if last_try:
                    raise upstream_timed_out(
                        service, f"no answer to {where} within {self.timeout:g} s ({attempts} attempts)."
                    ) from error
            except httpx.TransportError as error:
                log.warning(
                    "upstream_unreachable", upstream=service.name, call=where, attempt=attempt, error=repr(error)
                )
                if last_try:
                    raise upstream_failed(
                        service, f"{where} could not reach {base_url}: {type(error).__name__}."
                    ) from error
            else:
                if response.status_code < 500:
                    return response
                log.warning("upstream_error", upstream=service.name, call=where, status=response.status_code)
                if last_try or response.status_code not in RETRY_STATUSES:
                    raise self.unexpected(service_name, response)
            await asyncio.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1) * (1 + random.random() / 2))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def unexpected(self, service_name: str, response: httpx.Response) -> Problem:
        """A 502 for an answer the caller cannot use (a 5xx, or a 4xx that means a broken contract)."""
        service = upstream_service(service_name)
        detail = response.reason_phrase or "error"
        try:
            body = response.json()
            if isinstance(body, dict) and (said := body.get("detail") or body.get("message")):
                detail = f"{detail}: {said}"
        except ValueError:
            pass
        call = f"{response.request.method} {response.request.url.path}"
        if response.is_success:  # the status was right, the body was not
            return upstream_failed(service, f"the answer to {call} broke its contract.")
        return upstream_failed(service, f"{call} answered {response.status_code} {detail}".rstrip(".") + ".")

    async def aclose(self) -> None:
        await self.client.aclose()
