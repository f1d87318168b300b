"""`fountain gateway`: writing and checking the generated files, and rendering the deploy-time
configuration with the consumers of GATEWAY_CONSUMERS."""

import stat
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fountain_cli import gateway, tokens
from fountain_cli.main import app
from tests.deployment.kong_emulator import handle, service_url

runner = CliRunner()
WRITER_KEY = "W" * 43
READER_KEY = "r-" * 20


def test_check_passes_on_the_committed_files() -> None:
    result = runner.invoke(app, ["gateway", "--check"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout


def test_check_and_codegen_check_fail_on_a_stale_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stale = tmp_path / "kong.yml"
    stale.write_text(gateway.KONG_FILE.read_text().replace("~/v1/sequence$", "/v1/sequence"))
    monkeypatch.setattr(gateway, "KONG_FILE", stale)
    result = runner.invoke(app, ["gateway", "--check"])
    assert result.exit_code == 1
    assert "(differs)" in result.stderr
    codegen_check = runner.invoke(app, ["codegen", "central_sequence", "--check"])
    assert codegen_check.exit_code == 1
    assert "kong.yml (differs)" in codegen_check.stderr


def test_gateway_rewrites_a_stale_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    kong, compose = tmp_path / "kong" / "kong.yml", tmp_path / "docker-compose.yml"
    compose.write_text(gateway.COMPOSE_FILE.read_text())
    monkeypatch.setattr(gateway, "KONG_FILE", kong)
    monkeypatch.setattr(gateway, "COMPOSE_FILE", compose)
    assert gateway.write_generated() == [kong]
    assert kong.read_text() == gateway.to_yaml(gateway.kong_config())
    assert gateway.write_generated() == []


def _render(
    tmp_path: Path, consumers: str, secret: str | None = None, token_public_key: str | None = None
) -> tuple[int, str, Path]:
    output = tmp_path / "declarative" / "kong.yml"
    env = {"GATEWAY_CONSUMERS": consumers, "GATEWAY_SECRET": secret, "GATEWAY_TOKEN_PUBLIC_KEY": token_public_key}
    result = runner.invoke(app, ["gateway", "render", "--output", str(output)], env=env)
    return result.exit_code, result.output, output


def test_render_adds_the_proof_header_from_gateway_secret(tmp_path: Path) -> None:
    secret = "p" * 43
    code, output, path = _render(tmp_path, f"ci:writer:{WRITER_KEY}", secret)
    assert code == 0, output
    assert "requests carry X-Fountain-Gateway" in output
    config = yaml.safe_load(path.read_text())
    sent = handle(config, "character.fountain.coach", "GET", "/v1/characters", {"apikey": WRITER_KEY})
    assert sent.upstream_headers["x-fountain-gateway"] == secret
    assert sent.upstream_headers["x-consumer-groups"] == "writer"
    # Open probes get the proof too, but no identity: the probes check none.
    probe = handle(config, "character.fountain.coach", "GET", "/health", {"X-Fountain-Gateway": "forged"})
    assert probe.upstream_headers["x-fountain-gateway"] == secret


def test_render_without_gateway_secret_adds_no_proof(tmp_path: Path) -> None:
    code, output, path = _render(tmp_path, f"ci:writer:{WRITER_KEY}")
    assert code == 0, output
    assert "no GATEWAY_SECRET" in output
    assert "request-transformer" not in path.read_text()


def test_render_refuses_a_short_gateway_secret(tmp_path: Path) -> None:
    code, output, path = _render(tmp_path, f"ci:writer:{WRITER_KEY}", "short")
    assert code == 2 and "GATEWAY_SECRET must be 32 to 128 characters" in output
    assert not path.exists()


def test_render_adds_consumers_that_kong_authorises_by_role(tmp_path: Path) -> None:
    admin_key = "a" * 43
    code, output, path = _render(
        tmp_path, f"ci:writer:{WRITER_KEY}, dashboard:reader:{READER_KEY} root:admin:{admin_key}"
    )
    assert code == 0, output
    assert "3 consumer(s): ci (writer), dashboard (reader), root (admin)" in output
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    config = yaml.safe_load(path.read_text())
    host, path_ = "character.fountain.coach", "/v1/characters"
    assert handle(config, host, "POST", path_, {"apikey": WRITER_KEY}).status == 200
    assert handle(config, host, "GET", path_, {"apikey": READER_KEY}).status == 200
    assert handle(config, host, "POST", path_, {"apikey": READER_KEY}).status == 403
    assert handle(config, host, "POST", path_, {"apikey": admin_key}).status == 200
    assert handle(config, host, "GET", path_, {"apikey": admin_key}).status == 200
    assert handle(config, host, "GET", path_).status == 401
    assert path.read_text().startswith("# Rendered by `fountain gateway render`")


@pytest.mark.parametrize(
    ("consumers", "message"),
    [
        ("", "no consumer given"),
        (f"ci:owner:{WRITER_KEY}", "role 'owner' must be one of reader, writer, admin"),
        ("ci:writer:short", "the key must be 32 to 128 characters"),
        (f"ci:writer:{WRITER_KEY} ci:reader:{READER_KEY}", "repeated: ci"),
        (f"ci:writer:{WRITER_KEY} bot:reader:{WRITER_KEY}", "every consumer needs its own key"),
        (f"CI:writer:{WRITER_KEY}", "consumer name 'CI'"),
        (f"ci:writer:{WRITER_KEY}:extra", "is not name:role:key"),
    ],
)
def test_render_refuses_bad_consumers(tmp_path: Path, consumers: str, message: str) -> None:
    code, output, path = _render(tmp_path, consumers)
    assert code == 2
    assert message in output
    assert not path.exists()


def test_new_keys_are_accepted_and_different() -> None:
    keys = {runner.invoke(app, ["gateway", "new-key"]).stdout.strip() for _ in range(3)}
    assert len(keys) == 3
    consumers = gateway.parse_consumers(" ".join(f"c{i}:reader:{key}" for i, key in enumerate(sorted(keys))))
    assert [c.key for c in consumers] == sorted(keys)


def test_a_new_service_appears_in_both_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from dataclasses import dataclass

    from fastapi import APIRouter
    from sqlalchemy import MetaData

    from fountain_cli import deployment, registry
    from fountain_common.service import ServiceDefinition

    spec = tmp_path / "notes.yaml"
    spec.write_text(
        "openapi: 3.1.0\npaths:\n  /health:\n    get: {operationId: getHealth}\n"
        "  /v2/notes/{noteId}:\n    get: {operationId: getNote}\n    delete: {operationId: deleteNote}\n"
    )

    @dataclass(frozen=True)
    class NewService(ServiceDefinition):
        @property
        def spec_path(self) -> Path:
            return spec

    notes = NewService("story_notes", "notes.fountain.coach", 8106, MetaData(), APIRouter, object)
    existing = registry.all_services()
    monkeypatch.setattr(registry, "all_services", lambda: [*existing, notes])

    kong = gateway.kong_config()
    service = next(s for s in kong["services"] if s["name"] == "story_notes")
    assert service_url(kong, service) == "http://story-notes:8106"
    routes = {r["name"]: (r["hosts"], r["paths"], r["methods"]) for r in service["routes"]}
    assert routes == {
        "story_notes.health.open": (["notes.fountain.coach"], ["~/health$"], ["GET"]),
        "story_notes.v2-notes-noteId.read": (["notes.fountain.coach"], ["~/v2/notes/[^/]+$"], ["GET"]),
        "story_notes.v2-notes-noteId.write": (["notes.fountain.coach"], ["~/v2/notes/[^/]+$"], ["DELETE"]),
    }
    compose = deployment.compose_config()["services"]
    assert compose["story-notes"]["command"][:3] == ["fountain", "serve", "story_notes"]
    assert compose["kong"]["depends_on"]["story-notes"] == {"condition": "service_healthy"}


def test_an_unversioned_path_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from fountain_cli import registry

    spec = tmp_path / "character.yaml"
    spec.write_text("openapi: 3.1.0\npaths:\n  /characters:\n    get: {operationId: listCharacters}\n")
    character = registry.load_service("character")
    monkeypatch.setattr(type(character), "spec_path", property(lambda self: spec))
    with pytest.raises(ValueError, match="path /characters is neither versioned"):
        gateway.kong_config()


def test_render_lets_consumers_in_with_tokens_of_the_deployment_s_key(tmp_path: Path) -> None:
    """The one-line public key `fountain accounts token-key` prints is what render takes."""
    key, _ = tokens.signing_key(tmp_path / "signing.pem")
    code, output, path = _render(
        tmp_path, f"ci:writer:{WRITER_KEY} dashboard:reader:{READER_KEY}", "p" * 43, tokens.public_key_line(key)
    )
    assert code == 0, output
    assert "tokens accepted" in output
    config = yaml.safe_load(path.read_text())
    host, path_ = "character.fountain.coach", "/v1/characters"

    def bearer(name: str, signing_key: tokens.rsa.RSAPrivateKey = key) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.issue(signing_key, name, timedelta(minutes=5))}"}

    assert handle(config, host, "POST", path_, bearer("ci")).status == 200
    assert handle(config, host, "POST", path_, bearer("dashboard")).status == 403
    other = tokens.rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert handle(config, host, "GET", path_, bearer("ci", other)).status == 401
    # Without the public key: keys only.
    code, output, path = _render(tmp_path, f"ci:writer:{WRITER_KEY}", "p" * 43)
    assert code == 0 and "keys only" in output
    assert handle(yaml.safe_load(path.read_text()), host, "POST", path_, bearer("ci")).status == 401


def test_render_refuses_a_public_key_that_is_none(tmp_path: Path) -> None:
    code, output, path = _render(tmp_path, f"ci:writer:{WRITER_KEY}", "p" * 43, "not a key")
    assert code == 2 and "GATEWAY_TOKEN_PUBLIC_KEY: not a public key" in output
    assert not path.exists()
