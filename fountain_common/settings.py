"""Configuration, read once from the environment (prefix FOUNTAIN_)."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOUNTAIN_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="External PostgreSQL URL. Unset: an embedded PostgreSQL is started under data_dir.",
    )
    data_dir: Path = Field(default=Path("var"), description="Where the embedded PostgreSQL keeps its data.")
    accounts_file: Path | None = Field(
        default=None,
        description="Accounts and hashed API keys `fountain serve` checks (`fountain accounts`). "
        "Unset: accounts.json under data_dir.",
    )
    token_key_file: Path | None = Field(
        default=None,
        description="Private RSA key signing the tokens of `fountain accounts token` (made on first use, "
        "mode 0600). Unset: token-signing-key.pem beside the accounts file.",
    )
    database_name: str = Field(default="fountain", description="Database used on the embedded server.")
    # At most 30 connections a process, as many as 20 + 10 overflow gave, but kept once opened:
    # overflow connections are opened for a request and closed after it, which under a steady load
    # above the pool's size means a new PostgreSQL backend per request.
    pool_size: int = Field(default=30, ge=1, le=500)
    pool_overflow: int = Field(default=0, ge=0, le=500)
    log_level: str = Field(default="INFO")
    log_format: str = Field(
        default="auto", pattern="^(auto|json|console)$", description="auto: console on a terminal, JSON otherwise."
    )
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    # FastAPI's own OpenTelemetry checks for configured providers on every request even when none is:
    # off unless asked for, since the services' metrics are the Prometheus ones at /metrics.
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's OpenTelemetry spans, metrics and logs per request, sent to the providers the "
        "OTEL_* environment configures (FASTAPI_OTEL_AUTO_CONFIGURE=true). Off: none, at no cost per request.",
    )

    # Limits: what one request may ask of a process, and how long the database may take to answer.
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest request body accepted; a larger one is 413."
    )
    # Replies nest a stored value a few levels deeper than it was sent (in a page, in a version), and
    # pydantic serializes at most ~250 levels: a deeper value could be stored but never read back.
    max_json_depth: int = Field(
        default=64, ge=2, le=128, description="Deepest nesting of arrays and objects accepted in a JSON body."
    )
    database_statement_timeout_seconds: float = Field(
        default=10.0, gt=0, le=600, description="Longest a statement may run; then the request answers 503."
    )
    database_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="Longest wait to open a database connection."
    )
    database_pool_timeout_seconds: float = Field(
        default=5.0, gt=0, le=120, description="Longest wait for a free pooled connection; then 503."
    )

    # Where the other services are (see fountain_common/upstream.py): a service's own URL wins, then
    # the gateway, then the service's public host over HTTPS.
    central_sequence_url: str | None = Field(default=None, description="Base URL of the Central Sequence Service.")
    character_url: str | None = Field(default=None, description="Base URL of Character Management.")
    core_script_url: str | None = Field(default=None, description="Base URL of Core Script Management.")
    session_context_url: str | None = Field(default=None, description="Base URL of Session and Context.")
    story_factory_url: str | None = Field(default=None, description="Base URL of Story Factory.")
    gateway_url: str | None = Field(
        default=None, description="A gateway routing by Host header, for services without their own URL."
    )
    gateway_api_key: str | None = Field(default=None, description="Key sent as `apikey` to the gateway.")
    gateway_secret: str | None = Field(
        default=None,
        description="Secret the gateway sends in X-Fountain-Gateway to prove the caller it names (X-Consumer-*) "
        "is checked. Set: every secured operation needs that proof and a role its spec admits (401/403). "
        "Unset: nothing is checked.",
    )
    upstream_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    upstream_retries: int = Field(default=2, ge=0, le=5, description="Retries of a repeatable upstream request.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
