"""What Kong does with a request, for a declarative configuration: which route takes it (host,
method, path prefix or regex, priority), whether jwt, key-auth and acl let it through, and which
upstream URL it is proxied to. Kong itself cannot run in the test environment.

Authentication follows Kong's plugins: jwt runs before key-auth (priority 1450, then 1250). An auth
plugin with `anonymous` set lets a request it cannot authenticate go on as that consumer (with no
credential), and skips its own check when an earlier plugin already authenticated one: a key or a
token, either. acl answers 401 to a consumer without credential outside its groups (Kong >= 2.0),
403 to an authenticated one.

Route choice follows Kong's router: a route matches when each field it sets matches; of the
matching routes, those with more matching fields win, then regex paths over prefix paths, then the
higher regex_priority, then the longer path. Two routes left equal are ambiguous (Kong would pick
by creation order): the emulator refuses them so that a test fails.
"""

import functools
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt


class AmbiguousRoute(AssertionError):
    pass


@dataclass(frozen=True)
class Route:
    service: str
    service_url: str
    name: str
    hosts: tuple[str, ...]
    methods: tuple[str, ...]
    paths: tuple[str, ...]
    regex_priority: int
    strip_path: bool
    plugins: dict[str, dict[str, Any]] = field(hash=False, compare=False)


def service_url(config: dict[str, Any], service: dict[str, Any]) -> str:
    """Where Kong sends a service's requests: its `url`, or, when its host names an upstream, the
    upstream's one target (Kong balances over the addresses DNS answers for it)."""
    if "url" in service:
        return str(service["url"])
    upstreams = {u["name"]: u for u in config.get("upstreams", [])}
    host = service["host"]
    if host in upstreams:
        targets = upstreams[host].get("targets", [])
        assert len(targets) == 1, f"upstream {host}: expected one target, found {len(targets)}"
        host = targets[0]["target"]
    else:
        host = f"{host}:{service.get('port', 80)}"
    return f"{service.get('protocol', 'http')}://{host}{service.get('path') or ''}"


def routes_of(config: dict[str, Any]) -> list[Route]:
    routes = []
    for service in config.get("services", []):
        for route in service.get("routes", []):
            routes.append(
                Route(
                    service=service["name"],
                    service_url=service_url(config, service),
                    name=route["name"],
                    hosts=tuple(route.get("hosts", ())),
                    methods=tuple(route.get("methods", ())),
                    paths=tuple(route.get("paths", ())),
                    regex_priority=route.get("regex_priority", 0),
                    # Kong's default is to strip the matched prefix.
                    strip_path=route.get("strip_path", True),
                    plugins={p["name"]: p.get("config", {}) for p in route.get("plugins", [])},
                )
            )
    return routes


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    if pattern.endswith(".*"):
        return host.startswith(pattern[:-1])
    return host == pattern


@functools.cache
def _regex(path: str) -> re.Pattern[str]:
    return re.compile(path[1:])


def _path_match(route: Route, path: str) -> tuple[bool, str] | None:
    """(is regex, the path that matched) for the best matching path of the route."""
    best: tuple[bool, str] | None = None
    for candidate in route.paths:
        if candidate.startswith("~"):
            # Kong anchors regex paths at the start of the path.
            if _regex(candidate).match(path):
                return (True, candidate)
        elif path.startswith(candidate) and (best is None or len(candidate) > len(best[1])):
            best = (False, candidate)
    return best


def route_for(config: dict[str, Any] | list[Route], host: str, method: str, path: str) -> Route | None:
    host = host.lower().rsplit(":", 1)[0]
    ranked = []
    for route in config if isinstance(config, list) else routes_of(config):
        if route.hosts and not any(_host_matches(h, host) for h in route.hosts):
            continue
        if route.methods and method not in route.methods:
            continue
        matched = _path_match(route, path) if route.paths else (False, "")
        if matched is None:
            continue
        fields = sum(1 for attribute in (route.hosts, route.methods, route.paths) if attribute)
        is_regex, matched_path = matched
        ranked.append(((fields, is_regex, route.regex_priority, len(matched_path)), route))
    if not ranked:
        return None
    ranked.sort(key=lambda item: item[0], reverse=True)
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
        raise AmbiguousRoute(
            f"{method} {host}{path} matches {ranked[0][1].name} and {ranked[1][1].name} with equal priority"
        )
    return ranked[0][1]


@dataclass(frozen=True)
class Outcome:
    status: int  # 200: proxied upstream; otherwise the status Kong answers itself
    route: Route | None = None
    upstream_url: str | None = None
    consumer: str | None = None
    # The headers the service receives (lower-case names): what the client sent, less the key, with
    # the consumer named by key-auth and acl, after the request-transformer plugins.
    upstream_headers: dict[str, str] = field(default_factory=dict)


def _consumer_by_key(config: dict[str, Any], key: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for consumer in config.get("consumers", []):
        for credential in consumer.get("keyauth_credentials", []):
            if credential["key"] == key:
                return consumer, credential
    return None


def _key_auth(
    config: dict[str, Any], conf: dict[str, Any], headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    key_names = conf.get("key_names", ["apikey"])
    key = next((headers[name.lower()] for name in key_names if name.lower() in headers), None)
    return _consumer_by_key(config, key) if key is not None else None


def _jwt_auth(
    config: dict[str, Any], conf: dict[str, Any], headers: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Kong's jwt plugin: the token of a `Bearer` header, the credential whose key is the token's
    key claim, the header's `alg` equal to the credential's algorithm, the signature checked with
    its key (rsa_public_key for RS*, secret for HS*), then claims_to_verify (no leeway) and
    maximum_expiration."""
    assert not conf.get("uri_param_names") and not conf.get("cookie_names"), "only header tokens are emulated"
    token = None
    for name in conf.get("header_names", ["authorization"]):
        match = re.match(r"\s*[Bb]earer\s+(.+)", headers.get(name.lower(), ""))
        if match:
            token = match.group(1)
    if token is None:
        return None
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    claim_name = conf.get("key_claim_name", "iss")
    secret_key = claims.get(claim_name) or header.get(claim_name)
    found = next(
        (
            (consumer, credential)
            for consumer in config.get("consumers", [])
            for credential in consumer.get("jwt_secrets", [])
            if credential["key"] == secret_key
        ),
        None,
    )
    if found is None:
        return None
    consumer, credential = found
    algorithm = credential.get("algorithm", "HS256")
    if header.get("alg") != algorithm:
        return None
    verifying_key = credential["secret"] if algorithm.startswith("HS") else credential["rsa_public_key"]
    to_verify = conf.get("claims_to_verify") or []
    try:
        jwt.decode(
            token,
            verifying_key,
            algorithms=[algorithm],
            options={
                "verify_exp": "exp" in to_verify,
                "verify_nbf": "nbf" in to_verify,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "require": list(to_verify),
            },
        )
    except jwt.PyJWTError:
        return None
    maximum = conf.get("maximum_expiration", 0)
    if maximum and claims["exp"] - time.time() > maximum:
        return None
    return consumer, credential


_AUTHENTICATORS = {"jwt": _jwt_auth, "key-auth": _key_auth}  # in Kong's order of priority


def _consumer_named(config: dict[str, Any], reference: str) -> dict[str, Any]:
    """`anonymous` names a consumer by id or username (Kong 3.x); Kong answers 500 when none exists."""
    for consumer in config.get("consumers", []):
        if reference in (consumer.get("id"), consumer.get("username")):
            return consumer
    raise AssertionError(f"anonymous consumer {reference!r} does not exist: Kong would answer 500")


def handle(
    config: dict[str, Any],
    host: str,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    routes: list[Route] | None = None,
) -> Outcome:
    """Kong's answer to a request: 404 when no route takes it, 401 without a valid key on a route
    with key-auth, 403 when the consumer's groups are not allowed by the route's acl, else 200 with
    the URL the request is proxied to. `routes`: routes_of(config), when the caller has them."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    route = route_for(routes if routes is not None else config, host, method, path)
    if route is None:
        return Outcome(404)
    consumer = None
    credential = None
    plugin_used = None
    for plugin, authenticate in _AUTHENTICATORS.items():
        if plugin not in route.plugins:
            continue
        conf = route.plugins[plugin]
        if conf.get("anonymous") and credential is not None:
            continue  # a logical OR between auth plugins, and one already authenticated the consumer
        found = authenticate(config, conf, headers)
        if found is not None:
            (consumer, credential), plugin_used = found, plugin
        elif conf.get("anonymous"):
            consumer = _consumer_named(config, conf["anonymous"])
        else:
            return Outcome(401, route)
    if "acl" in route.plugins:
        if consumer is None:
            return Outcome(401, route)
        groups = {acl["group"] for acl in consumer.get("acls", [])}
        allow = set(route.plugins["acl"].get("allow", []))
        deny = set(route.plugins["acl"].get("deny", []))
        if (allow and not groups & allow) or groups & deny:
            if credential is None:
                return Outcome(401, route)  # anonymous: nothing authenticated it
            return Outcome(403, route, consumer=consumer["username"])
    elif consumer is not None and credential is None:
        raise AssertionError(f"route {route.name}: an anonymous consumer would reach the service")
    upstream = urlsplit(route.service_url)
    forwarded = path
    if route.strip_path:
        matched = _path_match(route, path)
        assert matched is not None
        is_regex, pattern = matched
        prefix = _regex(pattern).match(path).group(0) if is_regex else pattern  # type: ignore[union-attr]
        forwarded = "/" + path[len(prefix) :].lstrip("/")
    base = upstream.path.rstrip("/")
    return Outcome(
        200,
        route,
        f"{upstream.scheme}://{upstream.netloc}{base}{forwarded}",
        consumer["username"] if consumer else None,
        _upstream_headers(config, route, headers, consumer, credential, plugin_used),
    )


def _upstream_headers(
    config: dict[str, Any],
    route: Route,
    headers: dict[str, str],
    consumer: dict[str, Any] | None,
    credential: dict[str, Any] | None = None,
    plugin_used: str | None = None,
) -> dict[str, str]:
    sent = dict(headers)
    if consumer is not None:
        # key-auth and jwt replace whatever the client said about the consumer; key-auth hides the key
        # (jwt has no such option: the token goes on unless a request-transformer removes it).
        sent = {k: v for k, v in sent.items() if not k.startswith(("x-consumer-", "x-credential-"))}
        if plugin_used == "key-auth" and route.plugins["key-auth"].get("hide_credentials"):
            for name in route.plugins["key-auth"].get("key_names", ["apikey"]):
                sent.pop(name.lower(), None)
        sent["x-consumer-id"] = consumer.get("id", f"uuid-of-{consumer['username']}")
        sent["x-consumer-username"] = consumer["username"]
        if credential is not None:
            # jwt names the credential by its key (the token's `iss`), key-auth by its id.
            sent["x-credential-identifier"] = (
                credential["key"] if plugin_used == "jwt" else credential.get("id", f"id-of-{consumer['username']}")
            )
        acl = route.plugins.get("acl")
        if acl is not None and not acl.get("hide_groups_header", False):
            sent["x-consumer-groups"] = ", ".join(group["group"] for group in consumer.get("acls", []))
    transformers = [p.get("config", {}) for p in config.get("plugins", []) if p["name"] == "request-transformer"]
    transformers += [route.plugins["request-transformer"]] if "request-transformer" in route.plugins else []
    for transformer in transformers:
        # Kong's order: remove, rename, replace, add (only when absent), append.
        for name in transformer.get("remove", {}).get("headers", []):
            sent.pop(name.lower(), None)
        for entry in transformer.get("add", {}).get("headers", []):
            name, _, value = entry.partition(":")
            sent.setdefault(name.lower(), value)
    return sent
