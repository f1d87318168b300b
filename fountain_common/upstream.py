"""Calls from one FountainAI service to another, over HTTP only.

Where a service is reached, first match wins:
1. `FOUNTAIN_<SERVICE>_URL`, e.g. `http://character:8102` in docker-compose: straight to the service.
2. `FOUNTAIN_GATEWAY_URL`: a gateway that routes by Host header (the Kong proxy, or the all-in-one
   `fountain serve`, which sets it to itself); the request carries the service's public host.
3. Otherwise the service's public host over HTTPS (`https://character.fountain.coach`), as in the
   service's spec (`servers[0]`).

Every call has a timeout. Requests that are safe to repeat (GET, PUT, DELETE, and a POST the caller
marks idempotent) are retried a bounded number of times (tenacity) on a transport error, a timeout or
a 502/503/504. What still fails becomes a problem naming the upstream: 504 when it did not answer in
time, 502 for anything else.

Services call each other through typed clients generated from the called service's spec
(services/<caller>/generated/clients/): `Upstreams.call` sends their typed arguments and checks the
answer against the spec's models, so a body that breaks the contract is a 502 naming the upstream,
and a 4xx is an `UpstreamRefused` the caller may catch where it means something (404: no such id).

A call acts for the caller of the request it serves: with FOUNTAIN_GATEWAY_SECRET set, it carries
that caller's identity and roles as the gateway named them, with the proof, never a broader role;
so a reader calling Story Factory is a reader in Core Script too (fountain_common/identity.py).
"""

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import structlog
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from fountain_common.identity import PROOF_HEADER, current_caller
from fountain_common.metrics import record_upstream
from fountain_common.observability import REQUEST_ID_HEADER, current_request_id
from fountain_common.problems import Problem
from fountain_common.service import REPO_ROOT
from fountain_common.settings import Settings

log = structlog.get_logger("fountain.upstream")
T = TypeVar("T")

SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({502, 503, 504})
# Backoff before retry n (1-based) is BACKOFF_SECONDS * 2**(n-1), plus up to 50% of BACKOFF_SECONDS.
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


class UpstreamRefused(Problem):
    """A 4xx answer from another service. Uncaught, it is a 502 naming that service: a caller that
    sends what the upstream refuses has broken the contract between them."""

    def __init__(self, service: UpstreamService, call: str, status: int, answer: Any, detail: str) -> None:
        super().__init__(
            502,
            "bad-gateway",
            "Bad gateway",
            f"{service.title} failed: {call} answered {status} {detail}".rstrip(".") + ".",
            extensions={"upstream": service.name},
        )
        self.upstream_status = status
        self.answer = answer


class _Retryable(Exception):
    """A failure after which a repeatable request is sent again; `problem` is what the caller gets
    when no attempt is left."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def _should_retry(error: BaseException) -> bool:
    return isinstance(error, _Retryable)


def _problem_detail(response: httpx.Response) -> tuple[Any, str]:
    """The answer's JSON body (None if it has none) and what it says went wrong."""
    detail = response.reason_phrase or "error"
    try:
        body = response.json()
    except ValueError:
        return None, detail
    if isinstance(body, dict) and (said := body.get("detail") or body.get("message")):
        detail = f"{detail}: {said}"
    return body, detail


def _query_value(value: Any) -> Any:
    """An id list as the specs take it (`3,1,7`); anything else as it is."""
    if isinstance(value, Collection) and not isinstance(value, str):
        return ",".join(str(item) for item in sorted(value))
    return value


class Upstreams:
    """One connection pool per app for all calls to other services; `caller` names the calling
    service in the metrics."""

    # Idle connections are closed after this long: less than the 5 s a uvicorn server keeps an idle
    # connection, so a call never goes out on one the other side is closing.
    KEEPALIVE_SECONDS = 4.0

    def __init__(
        self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None, *, caller: str = ""
    ) -> None:
        self.settings = settings
        self.caller = caller
        self.timeout = settings.upstream_timeout_seconds
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(self.timeout),
            limits=httpx.Limits(
                max_connections=100, max_keepalive_connections=20, keepalive_expiry=self.KEEPALIVE_SECONDS
            ),
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
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        request_id: str | None = None,
    ) -> httpx.Response:
        """The upstream's answer if it is below 500; otherwise (or when it cannot be reached in time,
        after the retries a repeatable request allows) a 502/504 Problem naming the upstream. The body
        is `json`, or `content` as it is (its Content-Type in `headers`)."""
        service = upstream_service(service_name)
        base_url, extra_headers = self.address(service)
        all_headers = {**extra_headers, **(headers or {})}
        caller = current_caller()
        if caller is not None and self.settings.gateway_secret:
            all_headers.update(caller.headers())
            all_headers[PROOF_HEADER] = self.settings.gateway_secret
        request_id = request_id or current_request_id()
        if request_id:
            all_headers[REQUEST_ID_HEADER] = request_id
        repeatable = method.upper() in SAFE_TO_REPEAT if idempotent is None else idempotent
        attempts = 1 + (self.settings.upstream_retries if repeatable else 0)
        where = f"{method.upper()} {path}"

        async def attempt(number: int) -> httpx.Response:
            started = time.perf_counter()
            try:
                response = await self.client.request(
                    method, base_url + path, params=params, json=json, content=content, headers=all_headers
                )
            except httpx.TimeoutException as error:
                record_upstream(self.caller, service.name, "timeout", time.perf_counter() - started)
                log.warning("upstream_timeout", upstream=service.name, call=where, attempt=number)
                raise _Retryable(
                    upstream_timed_out(
                        service, f"no answer to {where} within {self.timeout:g} s ({attempts} attempts)."
                    )
                ) from error
            except httpx.TransportError as error:
                record_upstream(self.caller, service.name, "unreachable", time.perf_counter() - started)
                log.warning(
                    "upstream_unreachable", upstream=service.name, call=where, attempt=number, error=repr(error)
                )
                raise _Retryable(
                    upstream_failed(service, f"{where} could not reach {base_url}: {type(error).__name__}.")
                ) from error
            outcome = "ok" if response.status_code < 400 else "refused" if response.status_code < 500 else "error"
            record_upstream(self.caller, service.name, outcome, time.perf_counter() - started)
            if response.status_code < 500:
                return response
            log.warning("upstream_error", upstream=service.name, call=where, status=response.status_code)
            problem = self.unexpected(service_name, response)
            raise _Retryable(problem) if response.status_code in RETRY_STATUSES else problem

        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(multiplier=BACKOFF_SECONDS, jitter=BACKOFF_SECONDS / 2),
            retry=retry_if_exception(_should_retry),
            reraise=True,
        )
        try:
            async for trial in retrying:
                with trial:
                    return await attempt(trial.retry_state.attempt_number)
        except _Retryable as failure:  # the last attempt failed too
            raise failure.problem from failure.__cause__
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def call(
        self,
        service_name: str,
        method: str,
        path: str,
        answer: TypeAdapter[T],
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
        text: bool = False,
        idempotent: bool | None = None,
    ) -> T:
        """One operation of another service, as its generated client calls it: `path` is the spec's
        template (`/v2/characters/{characterId}`); arguments left None are not sent. The answer is
        checked against `answer` (the spec's success model); a 4xx raises UpstreamRefused."""
        path = path.format_map({name: quote(str(value), safe="") for name, value in (path_params or {}).items()})
        sent_headers = {name: str(value) for name, value in (headers or {}).items() if value is not None}
        if idempotent is None and "Idempotency-Key" in sent_headers:
            idempotent = True
        response = await self.request(
            service_name,
            method,
            path,
            params={name: _query_value(value) for name, value in (params or {}).items() if value is not None},
            json=None if body is None else body.model_dump(mode="json", by_alias=True, exclude_unset=True),
            headers=sent_headers,
            idempotent=idempotent,
        )
        if not response.is_success:
            body_json, detail = _problem_detail(response)
            call = f"{method.upper()} {path}"
            raise UpstreamRefused(upstream_service(service_name), call, response.status_code, body_json, detail)
        try:
            if response.status_code == 204:
                return answer.validate_python(None)
            if text:
                return answer.validate_python(response.text)
            return answer.validate_json(response.content)
        except ValidationError:
            raise self.unexpected(service_name, response) from None

    def unexpected(self, service_name: str, response: httpx.Response) -> Problem:
        """A 502 for an answer the caller cannot use (a 5xx, or a 4xx that means a broken contract)."""
        service = upstream_service(service_name)
        _, detail = _problem_detail(response)
        call = f"{response.request.method} {response.request.url.path}"
        if response.is_success:  # the status was right, the body was not
            return upstream_failed(service, f"the answer to {call} broke its contract.")
        return upstream_failed(service, f"{call} answered {response.status_code} {detail}".rstrip(".") + ".")

    async def aclose(self) -> None:
        await self.client.aclose()
