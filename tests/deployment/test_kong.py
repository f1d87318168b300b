"""kong/kong.yml: valid declarative configuration, and routes that reach exactly what the specs
declare, on the right host, with real access control. Kong's routing is emulated (kong_emulator);
mutated configurations prove that the checks catch a wrong host, a missing version prefix, a
stripped path and a loosened access rule."""

import copy
import json
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from fountain_cli import deployment, gateway, registry, tokens
from fountain_common.observability import REQUEST_ID_HEADER
from tests.deployment.kong_emulator import AmbiguousRoute, handle, routes_of
from tests.tokens import hs256_signed

SCHEMA = json.loads((Path(__file__).parent / "data" / "kong_declarative.schema.json").read_text())
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
READ_METHODS = {"GET", "HEAD"}
OPEN_PATHS = {"/health", "/ready"}
UNKNOWN_HOST = "unknown.fountain.coach"

WRITER_KEY = "w" * 40
READER_KEY = "r" * 40
CONSUMERS = [gateway.Consumer("ci", "writer", WRITER_KEY), gateway.Consumer("dashboard", "reader", READER_KEY)]
GATEWAY_SECRET = "s" * 43
# The deployment's token signing key, and a key nobody deployed (a forger's).
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FORGED_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

# Fields of the plugins' Kong 3.x schemas (a misspelt field makes Kong refuse the whole file).
PLUGIN_FIELDS = {
    "key-auth": {
        "key_names",
        "hide_credentials",
        "anonymous",
        "key_in_header",
        "key_in_query",
        "key_in_body",
        "run_on_preflight",
        "realm",
    },
    "jwt": {
        "uri_param_names",
        "cookie_names",
        "header_names",
        "key_claim_name",
        "secret_is_base64",
        "claims_to_verify",
        "anonymous",
        "run_on_preflight",
        "maximum_expiration",
        "realm",
    },
    "acl": {"allow", "deny", "hide_groups_header", "always_use_authenticated_groups", "include_consumer_groups"},
    "rate-limiting": {
        "second",
        "minute",
        "hour",
        "day",
        "month",
        "year",
        "limit_by",
        "header_name",
        "path",
        "policy",
        "fault_tolerant",
        "hide_client_headers",
        "error_code",
        "error_message",
        "sync_rate",
        "redis",
    },
    "correlation-id": {"header_name", "generator", "echo_downstream"},
    "request-transformer": {"http_method", "remove", "rename", "replace", "add", "append"},
    "prometheus": {
        "per_consumer",
        "status_code_metrics",
        "latency_metrics",
        "bandwidth_metrics",
        "upstream_health_metrics",
        "ai_metrics",
    },
}


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return yaml.safe_load(gateway.KONG_FILE.read_text())


@pytest.fixture(scope="module")
def deployed(committed: dict[str, Any]) -> dict[str, Any]:
    """The configuration Kong loads: the committed file plus the consumers and the proof header of
    the deployment."""
    public_key = tokens.public_pem(SIGNING_KEY)
    return gateway.with_gateway_proof(gateway.with_consumers(committed, CONSUMERS, public_key), GATEWAY_SECRET)


def _declared_templates() -> dict[str, dict[str, set[str]]]:
    """service -> path template -> methods, straight from the specs."""
    declared: dict[str, dict[str, set[str]]] = {}
    for service in registry.all_services():
        spec = yaml.safe_load(service.spec_path.read_text())
        for path, item in spec["paths"].items():
            methods = {m.upper() for m in item if m.upper() in ALL_METHODS}
            declared.setdefault(service.name, {})[path] = methods
    return declared


def _template_regex(template: str) -> re.Pattern[str]:
    # OpenAPI: a path parameter stands for one non-empty segment.
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _is_declared(templates: dict[str, set[str]], method: str, path: str) -> bool:
    return any(method in methods and _template_regex(t).fullmatch(path) for t, methods in templates.items())


def _sample(template: str, value: str = "1") -> str:
    return re.sub(r"\{[^}]+\}", value, template)


def _probe_paths(declared: dict[str, dict[str, set[str]]]) -> list[str]:
    """Declared paths, and paths next to them that no spec declares."""
    literals = {segment for ts in declared.values() for t in ts for segment in t.split("/") if "{" not in segment}
    paths = {"/", "/v1", "/v2", "/v1/", "/docs", "/openapi.json", "/metrics", "/healthz", "/health/", "/ready/x"}
    for templates in declared.values():
        for template in templates:
            sample = _sample(template)
            paths |= {sample, sample + "/", sample + "/extra", sample + "x"}
            paths.add(re.sub(r"^/v[0-9]+", "", sample) or "/")  # no version prefix
            paths.add(re.sub(r"^/v[0-9]+", "/v9", sample))  # a version no spec has
            paths.add("/api" + sample)
            segments = sample.split("/")
            paths |= {"/".join(segments[:i]) for i in range(2, len(segments))}  # parents
            if "{" in template:  # a parameter spelled like another path's literal segment
                paths |= {_sample(template, literal) for literal in literals if literal}
    return sorted(paths)


def routing_problems(config: dict[str, Any]) -> list[str]:
    """Everything wrong with how `config` routes: unreachable operations, undeclared paths or
    methods that reach a service, wrong upstream URL, missing or loose access control."""
    declared = _declared_templates()
    services = {s.name: s for s in registry.all_services()}
    owner_by_host = {s.host: s.name for s in services.values()}
    routes = routes_of(config)
    problems: list[str] = []

    def expect(condition: bool, message: str) -> None:
        if not condition and len(problems) < 200:
            problems.append(message)

    for host in [*sorted(owner_by_host), UNKNOWN_HOST]:
        owner = owner_by_host.get(host)
        templates = declared.get(owner, {}) if owner else {}
        for path in _probe_paths(declared):
            for method in ALL_METHODS:
                request = f"{method} {host}{path}"
                try:
                    as_writer = handle(config, host, method, path, {"apikey": WRITER_KEY}, routes)
                except AmbiguousRoute as error:
                    expect(False, str(error))
                    continue
                if not (owner and _is_declared(templates, method, path)):
                    expect(as_writer.status == 404, f"{request} is not declared but reaches {as_writer.route}")
                    continue
                service = services[owner]
                expected_url = f"http://{deployment.compose_service_name(service)}:{service.port}{path}"
                expect(as_writer.status == 200, f"{request} is declared but the gateway answers {as_writer.status}")
                expect(
                    as_writer.upstream_url == expected_url,
                    f"{request} is proxied to {as_writer.upstream_url}, expected {expected_url}",
                )
                as_reader = handle(config, host, method, path, {"apikey": READER_KEY}, routes)
                anonymous = handle(config, host, method, path, routes=routes)
                wrong_key = handle(config, host, method, path, {"apikey": "x" * 40}, routes)
                if path in OPEN_PATHS:
                    expect(anonymous.status == 200, f"{request}: probes must stay open, got {anonymous.status}")
                    continue
                expect(anonymous.status == 401, f"{request} without a key: {anonymous.status}, expected 401")
                expect(wrong_key.status == 401, f"{request} with an unknown key: {wrong_key.status}, expected 401")
                reader_status = 200 if method in READ_METHODS else 403
                expect(
                    as_reader.status == reader_status,
                    f"{request} as reader: {as_reader.status}, expected {reader_status}",
                )
    return problems


def test_committed_file_is_what_the_specs_produce() -> None:
    assert gateway.generated_differences() == []
    assert gateway.KONG_FILE.read_text().startswith("# Generated by `fountain gateway`")


@pytest.mark.parametrize("which", ["committed", "deployed"])
def test_validates_as_kong_declarative_configuration(which: str, request: pytest.FixtureRequest) -> None:
    config = request.getfixturevalue(which)
    jsonschema.Draft4Validator(SCHEMA).validate(config)
    assert config["_format_version"] == "3.0"


def test_the_schema_check_rejects_an_unknown_route_field(committed: dict[str, Any]) -> None:
    broken = copy.deepcopy(committed)
    broken["services"][0]["routes"][0]["strip_paths"] = False
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(SCHEMA).validate(broken)


def test_every_operation_reaches_its_service_and_nothing_else_does(deployed: dict[str, Any]) -> None:
    assert routing_problems(deployed) == []


def test_every_operation_has_exactly_one_route(deployed: dict[str, Any]) -> None:
    routes = routes_of(deployed)
    for service in registry.all_services():
        for operation in gateway.spec_operations(service):
            path = _sample(operation.path)
            matching = [
                r for r in routes if service.host in r.hosts and operation.method in r.methods and _matches(r, path)
            ]
            assert len(matching) == 1, f"{operation.operation_id}: {[r.name for r in matching]}"
            route = matching[0]
            assert route.service == service.name
            assert route.strip_path is False
            assert route.paths[0].startswith(("~/v1/", "~/v2/")) or path in OPEN_PATHS


def _matches(route: Any, path: str) -> bool:
    return any(re.match(p[1:], path) for p in route.paths)


def test_routes_by_host_version_prefix_and_access_class(committed: dict[str, Any]) -> None:
    hosts = {s.name: s.host for s in registry.all_services()}
    assert sorted(hosts.values()) == sorted(
        f"{name}.fountain.coach"
        for name in ("centralsequence", "character", "scriptmanagement", "sessioncontext", "storyfactory")
    )
    for service in committed["services"]:
        for route in service["routes"]:
            assert route["hosts"] == [hosts[service["name"]]]
            assert route["strip_path"] is False
            path = route["paths"][0]
            plugins = {p["name"]: p["config"] for p in route.get("plugins", [])}
            if route["name"].endswith(".open"):
                assert path in ("~/health$", "~/ready$") and not plugins
                continue
            assert re.match(r"^~/v[12]/", path), path
            assert set(plugins) == {"jwt", "key-auth", "acl"}
            assert plugins["key-auth"]["key_names"] == ["apikey"]
            assert plugins["key-auth"]["key_in_query"] is False
            # Either a key or a token: both fall back on a consumer the acl admits nowhere.
            assert plugins["key-auth"]["anonymous"] == plugins["jwt"]["anonymous"] == gateway.ANONYMOUS_CONSUMER
            assert plugins["jwt"]["key_claim_name"] == "iss" and plugins["jwt"]["claims_to_verify"] == ["exp"]
            assert plugins["jwt"]["uri_param_names"] == [] and plugins["jwt"]["cookie_names"] == []
            if route["name"].endswith(".read"):
                assert set(route["methods"]) <= READ_METHODS
                assert sorted(plugins["acl"]["allow"]) == ["admin", "reader", "writer"]
            else:
                assert route["name"].endswith(".write")
                assert not set(route["methods"]) & READ_METHODS
                assert sorted(plugins["acl"]["allow"]) == ["admin", "writer"]


def test_global_plugins(committed: dict[str, Any]) -> None:
    plugins = {p["name"]: p["config"] for p in committed["plugins"]}
    assert set(plugins) == {"correlation-id", "prometheus", "rate-limiting"}
    assert plugins["rate-limiting"] == {
        "minute": 1000,
        "hour": 5000,
        "limit_by": "consumer",
        "policy": "local",
        "fault_tolerant": True,
    }
    assert plugins["correlation-id"]["header_name"].lower() == REQUEST_ID_HEADER
    assert plugins["correlation-id"]["generator"] in ("uuid", "uuid#counter", "tracker")
    assert plugins["correlation-id"]["echo_downstream"] is True


def test_plugin_fields_exist_in_kong(deployed: dict[str, Any]) -> None:
    everywhere = list(deployed["plugins"]) + [
        p for s in deployed["services"] for r in s["routes"] for p in r.get("plugins", [])
    ]
    for plugin in everywhere:
        assert plugin["name"] in PLUGIN_FIELDS
        assert set(plugin["config"]) <= PLUGIN_FIELDS[plugin["name"]], plugin


def test_deployed_consumers_have_a_key_a_token_credential_and_one_role(deployed: dict[str, Any]) -> None:
    public_key = tokens.public_pem(SIGNING_KEY)
    consumers = {c["username"]: c for c in deployed["consumers"]}
    assert sorted(consumers) == [gateway.ANONYMOUS_CONSUMER, "ci", "dashboard"]
    for name, key, role in (("ci", WRITER_KEY, "writer"), ("dashboard", READER_KEY, "reader")):
        assert consumers[name]["keyauth_credentials"] == [{"key": key}]
        assert consumers[name]["acls"] == [{"group": role}]
        (credential,) = consumers[name]["jwt_secrets"]
        assert (credential["key"], credential["algorithm"], credential["rsa_public_key"]) == (name, "RS256", public_key)
    # Never let in: no credential of its own, in no group.
    assert consumers[gateway.ANONYMOUS_CONSUMER] == {"username": gateway.ANONYMOUS_CONSUMER}
    # Without a public key, no token credential: keys only.
    committed = {k: v for k, v in deployed.items() if k != "consumers"}
    assert not any("jwt_secrets" in c for c in gateway.with_consumers(committed, CONSUMERS)["consumers"])


def test_no_key_is_committed(committed: dict[str, Any]) -> None:
    assert "consumers" not in committed
    assert "key:" not in gateway.KONG_FILE.read_text().replace("key_", "")


# Each mutation is a mistake the routing checks must catch.


def _route(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for s in config["services"] for r in s["routes"] if r["name"] == name)


def _mutated(config: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(config)
    _route(mutated, name).update(changes)
    return mutated


SCRIPTS = "core_script.v1-scripts"
SCRIPT = "core_script.v1-scripts-scriptId"
HOST = "scriptmanagement.fountain.coach"


@pytest.mark.parametrize(
    ("name", "changes", "expected"),
    [
        (f"{SCRIPTS}.read", {"hosts": ["character.fountain.coach"]}, f"GET {HOST}/v1/scripts is declared"),
        (f"{SCRIPTS}.read", {"paths": ["~/scripts$"]}, f"GET {HOST}/v1/scripts is declared"),
        (f"{SCRIPTS}.read", {"paths": ["~/v1/scripts"]}, f"GET {HOST}/v1/scripts/extra is not declared"),
        (f"{SCRIPTS}.read", {"paths": ["/v1/scripts"]}, f"GET {HOST}/v1/scripts/ is not declared"),
        (f"{SCRIPTS}.read", {"strip_path": True}, "is proxied to http://core-script:8103/, expected"),
        (f"{SCRIPTS}.read", {"methods": ["GET", "DELETE"]}, f"DELETE {HOST}/v1/scripts is not declared"),
        (f"{SCRIPT}.write", {"plugins": []}, f"PUT {HOST}/v1/scripts/1 without a key: 200"),
        ("central_sequence.health.open", {"paths": ["/health"]}, "/healthz is not declared"),
    ],
    ids=[
        "wrong host",
        "no version prefix",
        "unanchored regex",
        "prefix path",
        "stripped path",
        "extra method",
        "no key-auth",
        "open prefix",
    ],
)
def test_routing_checks_catch(deployed: dict[str, Any], name: str, changes: dict[str, Any], expected: str) -> None:
    problems = routing_problems(_mutated(deployed, name, **changes))
    assert any(expected in problem for problem in problems), problems[:5]


def test_routing_checks_catch_a_reader_allowed_to_write(deployed: dict[str, Any]) -> None:
    mutated = copy.deepcopy(deployed)
    acl = next(p for p in _route(mutated, f"{SCRIPT}.write")["plugins"] if p["name"] == "acl")
    acl["config"]["allow"] = ["reader", "writer"]
    problems = routing_problems(mutated)
    assert f"PUT {HOST}/v1/scripts/1 as reader: 200, expected 403" in problems


def test_routing_checks_catch_a_wrong_upstream(deployed: dict[str, Any]) -> None:
    mutated = copy.deepcopy(deployed)
    next(u for u in mutated["upstreams"] if u["name"] == "character.upstream")["targets"][0]["target"] = (
        "character:8103"
    )
    assert any("expected http://character:8102/" in problem for problem in routing_problems(mutated))


def test_overlapping_templates_are_ordered_by_priority(deployed: dict[str, Any]) -> None:
    # POST /sections/reorder and PUT /sections/{headingId}: both templates match .../sections/reorder.
    reorder = handle(
        deployed, "scriptmanagement.fountain.coach", "POST", "/v1/scripts/1/sections/reorder", {"apikey": WRITER_KEY}
    )
    assert reorder.route is not None and reorder.route.name == "core_script.v1-scripts-scriptId-sections-reorder.write"
    heading = handle(
        deployed, "scriptmanagement.fountain.coach", "PUT", "/v1/scripts/1/sections/reorder", {"apikey": WRITER_KEY}
    )
    assert (
        heading.route is not None and heading.route.name == "core_script.v1-scripts-scriptId-sections-headingId.write"
    )


def test_path_regex_and_priority() -> None:
    assert gateway.path_regex("/v1/characters/{characterId}/paraphrases") == "~/v1/characters/[^/]+/paraphrases$"
    assert gateway.path_regex("/v2/files/{name}.json") == "~/v2/files/[^/]+\\.json$"
    assert gateway.regex_priority("/v1/scripts/{scriptId}/sections/reorder") > gateway.regex_priority(
        "/v1/scripts/{scriptId}/sections/{headingId}"
    )


def test_proxied_requests_land_on_the_operation_the_spec_names(deployed: dict[str, Any]) -> None:
    """What Kong forwards is matched against the service's real routes: the same operationId answers."""
    from urllib.parse import urlsplit

    from starlette.routing import Match

    for service in registry.all_services():
        app_routes = service.build_router().routes
        for operation in gateway.spec_operations(service):
            outcome = handle(deployed, service.host, operation.method, _sample(operation.path), {"apikey": WRITER_KEY})
            assert outcome.status == 200 and outcome.upstream_url is not None, operation
            scope = {"type": "http", "method": operation.method, "path": urlsplit(outcome.upstream_url).path}
            served = [r for r in app_routes if r.matches(scope)[0] == Match.FULL]
            assert [getattr(r, "operation_id", None) for r in served][:1] == [operation.operation_id], operation


def test_each_service_balances_over_its_replicas_and_checks_their_health(committed: dict[str, Any]) -> None:
    """Every Kong service sends to an upstream whose one target is the compose service (Docker's DNS
    answers it with every replica); each replica's /health is checked actively, and connection
    failures of real traffic take a replica out."""
    upstreams = {u["name"]: u for u in committed["upstreams"]}
    assert len(upstreams) == len(committed["services"]) == len(registry.all_services())
    for service in registry.all_services():
        kong_service = next(s for s in committed["services"] if s["name"] == service.name)
        assert "url" not in kong_service
        upstream = upstreams[kong_service["host"]]
        assert upstream["targets"] == [
            {"target": f"{deployment.compose_service_name(service)}:{service.port}", "weight": 100}
        ]
        active = upstream["healthchecks"]["active"]
        assert active["type"] == "http" and active["http_path"] == "/health"
        assert active["healthy"]["interval"] > 0 and active["unhealthy"]["interval"] > 0
        passive = upstream["healthchecks"]["passive"]["unhealthy"]
        assert passive["tcp_failures"] > 0 and passive["http_failures"] == 0


@pytest.mark.parametrize(
    ("key", "method", "status"),
    [(WRITER_KEY, "POST", 201), (READER_KEY, "GET", 200), (READER_KEY, "POST", 403)],
)
def test_a_service_trusts_the_caller_kong_names(deployed: dict[str, Any], key: str, method: str, status: int) -> None:
    """What Kong forwards (the key hidden, the consumer and its role named, the proof added) is what a
    service with the same secret admits, and the role its spec gives the operation decides."""
    from starlette.types import Scope

    from fountain_common.identity import PROOF_HEADER, authorize
    from fountain_common.problems import Problem

    outcome = handle(deployed, "character.fountain.coach", method, "/v2/characters", {"apikey": key})
    assert outcome.status == 200 or (method, status) == ("POST", 403)
    if outcome.status != 200:
        return  # Kong refuses a reader's POST itself
    headers = outcome.upstream_headers
    assert "apikey" not in headers and headers[PROOF_HEADER.lower()] == GATEWAY_SECRET
    scope: Scope = {"method": method, "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
    roles = gateway.access_groups("/v2/characters", method)
    assert roles is not None
    caller = authorize(scope, roles, GATEWAY_SECRET)
    assert caller.username == outcome.consumer
    # A service whose roles are stricter than Kong's still refuses (the spec is what it checks).
    with pytest.raises(Problem) as refused:
        authorize(scope, ("admin",), GATEWAY_SECRET)
    assert refused.value.status == 403


def test_a_client_cannot_send_the_proof_through_kong(deployed: dict[str, Any]) -> None:
    forged = {"apikey": READER_KEY, "X-Fountain-Gateway": "guess", "X-Consumer-Groups": "admin"}
    outcome = handle(deployed, "character.fountain.coach", "GET", "/v2/characters", forged)
    assert outcome.upstream_headers["x-fountain-gateway"] == GATEWAY_SECRET
    assert outcome.upstream_headers["x-consumer-groups"] == "reader"


def _token(name: str, key: rsa.RSAPrivateKey = SIGNING_KEY, ttl: int = 600, issued: float | None = None) -> str:
    return tokens.issue(key, name, timedelta(seconds=ttl), now=issued)


CHARACTERS = ("character.fountain.coach", "/v2/characters")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("headers", "method", "status", "consumer"),
    [
        (_bearer(_token("ci")), "POST", 200, "ci"),
        (_bearer(_token("dashboard")), "GET", 200, "dashboard"),
        (_bearer(_token("dashboard")), "POST", 403, "dashboard"),
        # A valid key is enough beside a token that is not valid, and the other way round.
        ({**_bearer(_token("ci", FORGED_KEY)), "apikey": READER_KEY}, "GET", 200, "dashboard"),
        ({**_bearer(_token("ci")), "apikey": "x" * 40}, "POST", 200, "ci"),
        # Neither: refused as a request without credentials, 401 (not the acl's 403).
        ({}, "GET", 401, None),
        (_bearer(_token("ci", FORGED_KEY)), "GET", 401, None),
        (_bearer(_token("ci", issued=time.time() - 7200)), "GET", 401, None),
        (_bearer(_token("nobody")), "GET", 401, None),
        ({**_bearer(_token("ci", FORGED_KEY)), "apikey": "x" * 40}, "GET", 401, None),
        ({"Authorization": "Basic Y2k6c2VjcmV0"}, "GET", 401, None),
    ],
    ids=[
        "writer-token",
        "reader-token-read",
        "reader-token-write",
        "key-beside-forged-token",
        "token-beside-wrong-key",
        "neither",
        "forged-signature",
        "expired",
        "unknown-iss",
        "forged-token-and-wrong-key",
        "other-scheme",
    ],
)
def test_a_key_or_a_token_lets_a_consumer_in(
    deployed: dict[str, Any], headers: dict[str, str], method: str, status: int, consumer: str | None
) -> None:
    outcome = handle(deployed, *CHARACTERS[:1], method, CHARACTERS[1], headers)
    assert outcome.status == status
    assert outcome.consumer == consumer
    if status == 200:
        # The service learns who, with the role and the proof, and never sees the token.
        sent = outcome.upstream_headers
        assert sent["x-consumer-username"] == consumer
        assert sent["x-consumer-groups"] == {"ci": "writer", "dashboard": "reader"}[consumer]
        assert sent["x-fountain-gateway"] == GATEWAY_SECRET
        assert "authorization" not in sent


def test_tokens_kong_refuses_however_they_are_made(deployed: dict[str, Any]) -> None:
    """`alg: none`, HS256 signed with the public key as the secret, a token longer than the longest
    `fountain accounts token` makes, and one without `exp`: all 401."""
    claims = {"iss": "ci", "sub": "ci", "iat": int(time.time()), "exp": int(time.time()) + 600, "jti": "x"}
    public_pem = tokens.public_pem(SIGNING_KEY).encode()
    unsigned = jwt.encode(claims, None, algorithm="none")
    header, payload, _ = jwt.encode(claims, SIGNING_KEY, algorithm="RS256").split(".")
    hmac_signed = hs256_signed(claims, public_pem)
    too_long = _token("ci", ttl=gateway.TOKEN_MAX_SECONDS + 3600)
    no_exp = jwt.encode({k: v for k, v in claims.items() if k != "exp"}, SIGNING_KEY, algorithm="RS256")
    for token in (unsigned, f"{header}.{payload}.", hmac_signed, too_long, no_exp):
        assert handle(deployed, CHARACTERS[0], "GET", CHARACTERS[1], _bearer(token)).status == 401, token
    # The same claims, signed as they should be, pass: the refusals above are the tokens' doing.
    good = jwt.encode(claims, SIGNING_KEY, algorithm="RS256")
    assert handle(deployed, CHARACTERS[0], "GET", CHARACTERS[1], _bearer(good)).status == 200
