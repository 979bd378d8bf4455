"""Server settings, read from the environment by pydantic-settings and passed in.

``create_app(settings)`` takes a :class:`Settings`; nothing reads the environment at
import time. :func:`load_settings` turns a bad value into a :class:`SettingsError` whose
message names the variable and says what it accepts, so start-up stops with a sentence
an operator can act on rather than a traceback.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from contextvars import ContextVar
from email.utils import parseaddr
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings, SettingsConfigDict

from .hosts import parse_hosts, split_host
from .proxies import parse_networks
from .smtp_url import SmtpTarget, parse_smtp_url
from .social_providers import Provider, parse_providers_file
from .toml_file import read_table

__all__ = [
    "DEFAULT_SCOPES", "SIGNING_ALGORITHMS", "Settings", "SettingsError", "load_settings",
    "parse_extra_scopes", "parse_scopes_file",
]

SIGNING_ALGORITHMS: Final = ("HS256", "RS256", "ES256", "EdDSA")

#: The scopes every server knows (``http-api.md``, Applications); operators add more
#: with ``TEKCIFY_EXTRA_SCOPES``.
DEFAULT_SCOPES: Final = (
    "openid", "profile", "email", "offline_access", "read:profile", "write:profile",
)
# RFC 6749 §3.3 scope-token (%x21 / %x23-5B / %x5D-7E); the comma separates names here.
_SCOPE_NAME: Final = re.compile(r"[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]{1,64}")
_MAX_EXTRA_SCOPES: Final = 100
_MAX_SCOPE_TEXT: Final = 120


def _checked_name(scope: str) -> str:
    if not _SCOPE_NAME.fullmatch(scope):
        raise ValueError(f"{scope[:80]!r} is not a scope name")
    return scope


def _checked_description(scope: str, text: str) -> str:
    text = " ".join(text.split())
    if not text or len(text) > _MAX_SCOPE_TEXT or not text.isprintable() or any(
        unicodedata.category(char) == "Cf" for char in text
    ):
        raise ValueError(
            f"the description of {scope[:64]!r} must be 1 to {_MAX_SCOPE_TEXT} "
            "printable characters"
        )
    return text


def parse_extra_scopes(value: str) -> dict[str, str]:
    """``TEKCIFY_EXTRA_SCOPES`` as ``{name: description or ""}``, in order.

    Entries are separated by commas; an entry is ``name=description`` or names separated
    by spaces (the older form). Raises :class:`ValueError` naming the first bad entry.
    """
    described: dict[str, str] = {}
    for entry in value.split(","):
        name, equals, text = entry.partition("=")
        names = name.split()
        if equals:
            if len(names) != 1:
                raise ValueError(f"{entry.strip()[:80]!r} is not name=description")
            text = _checked_description(names[0], text)
        for scope in names:
            _checked_name(scope)
            described[scope] = text if equals else described.get(scope, "")
    if len(described) > _MAX_EXTRA_SCOPES:
        raise ValueError("too many scopes")
    return described


def parse_scopes_file(path: Path) -> dict[str, str]:
    """The ``[scopes]`` table of the TOML file ``path`` (``TEKCIFY_SCOPES_FILE``).

    .. code-block:: toml

        [scopes]
        "read:orders" = "Read your orders"

    Names and descriptions follow :func:`parse_extra_scopes`'s rules (a description may
    hold commas here). Raises :class:`ValueError` saying what is wrong, with the line
    for a syntax error.
    """
    table = read_table(path, "scopes", "a [scopes] table")
    if not isinstance(table, dict):
        raise ValueError('it has no [scopes] table of "name" = "description"')
    described: dict[str, str] = {}
    for scope, text in table.items():
        _checked_name(scope)
        if not isinstance(text, str):
            raise ValueError(f"the description of {scope[:64]!r} is not a string")
        described[scope] = _checked_description(scope, text)
    if len(described) > _MAX_EXTRA_SCOPES:
        raise ValueError(f"it has more than {_MAX_EXTRA_SCOPES} scopes")
    return described

_MIB: Final = 1024 * 1024
#: The environment :func:`load_settings` was given, for settings that name other variables
#: (``client_secret_env`` in ``TEKCIFY_SOCIAL_PROVIDERS_FILE``); unset: the process's.
_GIVEN_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("given_env", default=None)


def _env(name: str, accepts: str, **kwargs: Any) -> Any:
    """A field read from the environment variable ``name``; ``accepts`` is for errors."""
    extra: JsonDict = {"env": name, "accepts": accepts}
    return Field(validation_alias=name, json_schema_extra=extra, **kwargs)


class SettingsError(ValueError):
    """Raised when a setting has a value the server cannot start with.

    ``problems`` holds one line per bad variable: its name, the value (never for a
    secret) and what it accepts.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    """Everything the server can be told; each field is one environment variable.

    Build it from the environment with :func:`load_settings` (or ``Settings()``), or
    pass fields by name in tests: ``Settings(data_dir=tmp_path, argon2_memory_cost=8)``.
    """

    model_config = SettingsConfigDict(
        validate_by_name=True,
        validate_by_alias=True,
        extra="ignore",
        frozen=True,
    )

    jwt_access_secret: SecretStr | None = _env(
        "JWT_ACCESS_SECRET",
        "the HS256 shared secret: a non-empty string that is not a PEM key (unset: one is "
        "generated and kept in TEKCIFY_DATA_DIR)",
        default=None,
    )
    database_url: str | None = _env(
        "TEKCIFY_DATABASE_URL",
        "a sqlite:///path or postgresql://user:pass@host/db URL (unset: SQLite in "
        "TEKCIFY_DATA_DIR)",
        default=None,
    )
    data_dir: Path = _env(
        "TEKCIFY_DATA_DIR", "a directory path for the database and keys", default=Path(".tekcify")
    )
    # The access tokens' ``iss`` (the Node verifier's contract), not the OIDC issuer: that
    # one is the public URL (``routers/images.py`` ``BaseUrl``). TEKCIFY_ISSUER is the
    # deprecated name of the variable; TEKCIFY_ACCESS_TOKEN_ISSUER wins when both are set.
    issuer: str = Field(
        validation_alias=AliasChoices("TEKCIFY_ACCESS_TOKEN_ISSUER", "TEKCIFY_ISSUER"),
        json_schema_extra={
            "env": "TEKCIFY_ACCESS_TOKEN_ISSUER",
            "accepts": "a non-empty string: the iss of access tokens (TEKCIFY_ISSUER, its "
            "deprecated name, is read too)",
        },
        default="tekcify-auth", min_length=1,
    )
    audience: str = _env(
        "TEKCIFY_AUDIENCE", "a non-empty string", default="tekcify-api", min_length=1
    )
    signing_alg: Literal["HS256", "RS256", "ES256", "EdDSA"] | None = _env(
        "TEKCIFY_SIGNING_ALG",
        "one of " + ", ".join(SIGNING_ALGORITHMS) + ": the first start records it in the "
        "database and later starts must name the same one (unset: the recorded one, HS256 "
        "on a new database; switch with `tekcify-auth keys switch-alg ALG`)",
        default=None,
    )
    key_encryption_secret: SecretStr | None = _env(
        "TEKCIFY_KEY_ENCRYPTION_SECRET",
        "a string of at least 32 characters that encrypts the private signing keys in the "
        "database; the same on every instance (unset: one is generated and kept in "
        "TEKCIFY_DATA_DIR)",
        default=None, min_length=32,
    )
    key_reload_interval: float = _env(
        "TEKCIFY_KEY_RELOAD_INTERVAL",
        "a number of seconds from 0 to 300: how often a running server re-reads the signing "
        "keys from the database, so it signs with a key rotated elsewhere (0: on every use)",
        default=5.0, ge=0, le=300,
    )
    jwks_max_age: int = _env(
        "TEKCIFY_JWKS_MAX_AGE",
        "a whole number of seconds from 0 to 86400: how long resource servers may cache the "
        "JWKS (its Cache-Control max-age); `keys rotate` publishes the next key this long "
        "(plus the reload interval and 10 s) before it signs; keep it at least the resource "
        "servers' JWKS refetch cooldown (30 s by default)",
        default=300, ge=0, le=86_400,
    )
    public_url: str | None = _env(
        "TEKCIFY_PUBLIC_URL",
        "an absolute http:// or https:// URL without query or fragment",
        default=None,
    )
    canonical_url: str | None = _env(
        "TEKCIFY_CANONICAL_URL",
        "an http:// or https:// URL of a host and port only, without path, query or "
        "fragment: without TEKCIFY_PUBLIC_URL, the URL named to requests for localhost, "
        "127.0.0.1, [::1] or its own host at its port, where the sign-in pages redirect "
        "those hosts before setting cookies; tekcify-auth serve sets it from --host and "
        "--port (unset: each request's own URL)",
        default=None,
    )
    allowed_hosts: str = _env(
        "TEKCIFY_ALLOWED_HOSTS",
        "host names or addresses, each with an optional :port, separated by commas (at most "
        "100): the Host header values answered when TEKCIFY_PUBLIC_URL is unset, besides "
        "localhost, 127.0.0.1, [::1] and the server's own address at its port (unset: those "
        "only)",
        default="",
    )
    trusted_proxies: str = _env(
        "TEKCIFY_TRUSTED_PROXIES",
        "IP addresses or CIDR networks separated by commas (at most 100): the reverse "
        "proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (unset: none)",
        default="",
    )
    access_token_ttl: int = _env(
        "TEKCIFY_ACCESS_TOKEN_TTL",
        "a whole number of seconds from 1 to 86400",
        default=900, ge=1, le=86_400, strict=False,
    )
    refresh_token_ttl: int = _env(
        "TEKCIFY_REFRESH_TOKEN_TTL",
        "a whole number of seconds from 60 to 31536000 (one year)",
        default=30 * 86_400, ge=60, le=365 * 86_400,
    )
    refresh_retry_grace: float = _env(
        "TEKCIFY_REFRESH_RETRY_GRACE",
        "a number of seconds from 0 (off) to 60",
        default=0.0, ge=0, le=60,
    )
    authorization_code_ttl: int = _env(
        "TEKCIFY_AUTHORIZATION_CODE_TTL",
        "a whole number of seconds from 1 to 60: how long an authorization code can be "
        "redeemed",
        default=60, ge=1, le=60,
    )
    workers: int = _env(
        "TEKCIFY_WORKERS",
        "a whole number from 1 to 256: how many worker processes serve together (set by "
        "`tekcify-auth serve --workers` for its workers); without Redis, more than one "
        "share their login limits through a file in TEKCIFY_DATA_DIR",
        default=1, ge=1, le=256,
    )
    purge_interval: int = _env(
        "TEKCIFY_PURGE_INTERVAL",
        "a whole number of seconds from 60 to 86400, or 0 to never purge in the server "
        "(then run `tekcify-auth db purge` yourself): how often each server deletes expired "
        "codes, refresh tokens and ended sessions",
        default=3600,
    )
    purge_retention: int = _env(
        "TEKCIFY_PURGE_RETENTION",
        "a whole number of seconds from 3600 to 31536000: how long revoked and ended "
        "sessions and expired codes are kept before the purge deletes them",
        default=30 * 86_400, ge=3600, le=365 * 86_400,
    )
    login_session_ttl: int = _env(
        "TEKCIFY_LOGIN_SESSION_TTL",
        "a whole number of seconds from 60 to 86400: how long a sign-in on the "
        "authorization pages keeps the browser signed in",
        default=3600, ge=60, le=86_400,
    )
    redis_url: str | None = _env(
        "TEKCIFY_REDIS_URL", "a redis://, rediss:// or unix:// URL", default=None
    )
    smtp_url: SecretStr | None = _env(
        "TEKCIFY_SMTP_URL",
        "smtp://[user:password@]host[:port] (STARTTLS, port 587 by default) or "
        "smtps://[user:password@]host[:port] (implicit TLS, port 465 by default); user and "
        "password percent-encoded (unset: mail is written as .eml files to "
        "TEKCIFY_DATA_DIR/outbox)",
        default=None,
    )
    smtp_tls_verify: bool = _env(
        "TEKCIFY_SMTP_TLS_VERIFY",
        "true or false: check the SMTP server's TLS certificate and host name",
        default=True,
    )
    smtp_timeout: float = _env(
        "TEKCIFY_SMTP_TIMEOUT",
        "a number of seconds from 1 to 300: how long the SMTP server may take to answer "
        "(one message's whole exchange is cut off after three times this)",
        default=30.0, ge=1, le=300,
    )
    mail_from: str = _env(
        "TEKCIFY_MAIL_FROM",
        "an address, optionally with a display name: Tekcify <no-reply@example.com>",
        default="Tekcify <no-reply@localhost>", min_length=3, max_length=320,
    )
    mail_poll_interval: float = _env(
        "TEKCIFY_MAIL_POLL_INTERVAL",
        "a number of seconds from 0.01 to 60, or 0 for this process never to deliver mail "
        "(another instance of the fleet does): how often the server looks for mail due in "
        "the queue",
        default=1.0, ge=0, le=60,
    )
    require_verified_email: bool = _env(
        "TEKCIFY_REQUIRE_VERIFIED_EMAIL",
        "true or false: keep users whose email is not verified out of POST "
        "/api/auth/login and the OAuth sign-in pages",
        default=False,
    )
    activity_retention_days: int = _env(
        "TEKCIFY_ACTIVITY_RETENTION_DAYS",
        "a whole number of days from 1 to 3650: how long security activity is kept",
        default=365, ge=1, le=3650,
    )
    argon2_time_cost: int = _env(
        "TEKCIFY_ARGON2_TIME_COST", "a whole number from 1 to 20", default=3, ge=1, le=20
    )
    argon2_parallelism: int = _env(
        "TEKCIFY_ARGON2_PARALLELISM", "a whole number from 1 to 16", default=4, ge=1, le=16
    )
    argon2_memory_cost: int = _env(
        "TEKCIFY_ARGON2_MEMORY_COST",
        "a number of KiB from 8 to 4194304 (at least 8 times the parallelism)",
        default=65_536, ge=8, le=4_194_304,
    )
    login_window: float = _env(
        "TEKCIFY_LOGIN_WINDOW",
        "a number of seconds from 1 to 86400: the sliding window failed logins count in",
        default=900.0, ge=1, le=86_400,
    )
    login_max_failures: int = _env(
        "TEKCIFY_LOGIN_MAX_FAILURES",
        "a whole number from 1 to 1000: failed logins per account and address per window",
        default=5, ge=1, le=1000,
    )
    login_max_failures_per_address: int = _env(
        "TEKCIFY_LOGIN_MAX_FAILURES_PER_ADDRESS",
        "a whole number from 1 to 100000: failed logins per client address per window",
        default=50, ge=1, le=100_000,
    )
    login_max_failures_per_account: int = _env(
        "TEKCIFY_LOGIN_MAX_FAILURES_PER_ACCOUNT",
        "a whole number from 1 to 100000: failed logins per account, from addresses that "
        "never logged in to it, per window",
        default=100, ge=1, le=100_000,
    )
    login_max_successes_per_account: int = _env(
        "TEKCIFY_LOGIN_MAX_SUCCESSES_PER_ACCOUNT",
        "a whole number from 1 to 100000: successful logins per account per window (each "
        "costs a password hash and a session; then 429 with Retry-After)",
        default=60, ge=1, le=100_000,
    )
    mfa_max_failures: int = _env(
        "TEKCIFY_MFA_MAX_FAILURES",
        "a whole number from 1 to 1000: wrong second-factor codes (TOTP or backup code) per "
        "account per login window, counted in the login limits' store (Redis when set); "
        "then 429 with Retry-After",
        default=10, ge=1, le=1000,
    )
    login_ipv6_prefix: int = _env(
        "TEKCIFY_LOGIN_IPV6_PREFIX",
        "a whole number from 32 to 128: the login limiter counts IPv6 clients by network of "
        "this prefix length, one client usually holding a whole /64 (128: each address "
        "apart)",
        default=64, ge=32, le=128,
    )
    registration: Literal["open", "closed", "invite"] = _env(
        "TEKCIFY_REGISTRATION",
        "open, closed or invite: who may register through POST /api/auth/register and the "
        "registration page (closed: nobody, 403; invite: with an invite code made by "
        "`tekcify-auth invites create`); `tekcify-auth users create` always works",
        default="open",
    )
    registration_window: float = _env(
        "TEKCIFY_REGISTRATION_WINDOW",
        "a number of seconds from 1 to 86400: the sliding window registrations count in",
        default=3600.0, ge=1, le=86_400,
    )
    registration_max_per_address: int = _env(
        "TEKCIFY_REGISTRATION_MAX_PER_ADDRESS",
        "a whole number from 1 to 100000: registration attempts per client address (IPv6: "
        "per TEKCIFY_LOGIN_IPV6_PREFIX network) per window; then 429 with Retry-After",
        default=10, ge=1, le=100_000,
    )
    registration_max_per_network: int = _env(
        "TEKCIFY_REGISTRATION_MAX_PER_NETWORK",
        "a whole number from 1 to 100000: registration attempts per network (IPv4 /24, "
        "IPv6 /56) per window; then 429 with Retry-After",
        default=50, ge=1, le=100_000,
    )
    hide_existing_accounts: bool = _env(
        "TEKCIFY_HIDE_EXISTING_ACCOUNTS",
        "true or false: registration answers an existing email as it does a new one (201), "
        "and mails the account's owner a notice, instead of the contract's 409",
        default=False,
    )
    client_auth_max_failures: int = _env(
        "TEKCIFY_CLIENT_AUTH_MAX_FAILURES",
        "a whole number from 1 to 100000: failed client authentications (token, "
        "introspection, revocation) per client address per TEKCIFY_LOGIN_WINDOW; then 429 "
        "with Retry-After, even for the right secret",
        default=20, ge=1, le=100_000,
    )
    client_auth_max_failures_per_client: int = _env(
        "TEKCIFY_CLIENT_AUTH_MAX_FAILURES_PER_CLIENT",
        "a whole number from 1 to 100000: failed client authentications per client_id, "
        "from every address, per TEKCIFY_LOGIN_WINDOW; then 429 with Retry-After",
        default=100, ge=1, le=100_000,
    )
    max_sessions_per_account: int = _env(
        "TEKCIFY_MAX_SESSIONS_PER_ACCOUNT",
        "a whole number from 1 to 10000: live sessions per account; opening one more "
        "revokes the least recently used",
        default=50, ge=1, le=10_000,
    )
    max_body_bytes: int = _env(
        "TEKCIFY_MAX_BODY_BYTES",
        "a number of bytes from 1024 to 104857600",
        default=_MIB, ge=1024, le=100 * _MIB,
    )
    db_timeout: float = _env(
        "TEKCIFY_DB_TIMEOUT",
        "a number of seconds from 0.05 to 120: how long to wait for a database lock or "
        "connection before answering 503",
        default=5.0, ge=0.05, le=120,
    )
    migrate_on_start: bool = _env(
        "TEKCIFY_MIGRATE_ON_START", "true or false", default=True
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = _env(
        "TEKCIFY_LOG_LEVEL", "one of DEBUG, INFO, WARNING, ERROR", default="INFO"
    )
    log_format: Literal["json", "text"] = _env(
        "TEKCIFY_LOG_FORMAT",
        "json or text: json writes every log record as one JSON object per line",
        default="text",
    )
    metrics_port: int | None = _env(
        "TEKCIFY_METRICS_PORT",
        "a port from 1 to 65535: serve /metrics there, on the listen host, instead of the "
        "main port (`tekcify-auth serve` only; unset: /metrics on the main port, with "
        "TEKCIFY_METRICS_TOKEN)",
        default=None, ge=1, le=65_535,
    )
    metrics_token: SecretStr | None = _env(
        "TEKCIFY_METRICS_TOKEN",
        "a string of at least 16 characters: the bearer token a scraper must send to "
        "/metrics (Authorization: Bearer ...), wherever it is served (unset: no token)",
        default=None, min_length=16,
    )
    metrics: bool = _env(
        "TEKCIFY_METRICS",
        "true or false: serve Prometheus metrics at /metrics (needs the [metrics] extra, "
        "and TEKCIFY_METRICS_PORT or TEKCIFY_METRICS_TOKEN)",
        default=False,
    )
    otel_exporter_otlp_endpoint: str | None = _env(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "the OTLP endpoint traces are exported to, e.g. http://collector:4317 (needs the "
        "[otel] extra; the other OTEL_* variables apply as usual; unset: no tracing)",
        default=None,
    )
    extra_scopes: str = _env(
        "TEKCIFY_EXTRA_SCOPES",
        f"up to {_MAX_EXTRA_SCOPES} scope names separated by commas (or spaces), each 1 to 64 "
        "printable ASCII characters other than \" and \\ (RFC 6749 §3.3), each optionally "
        "followed by =description, the words the consent page shows (up to "
        f"{_MAX_SCOPE_TEXT} characters, no commas), e.g. \"read:orders=Read your orders, "
        "write:orders=Place orders for you\"; they are added to the default scopes "
        + " ".join(DEFAULT_SCOPES),
        default="",
    )

    scopes_file: Path | None = _env(
        "TEKCIFY_SCOPES_FILE",
        "the path of a TOML file (UTF-8) with a [scopes] table of \"name\" = \"description\" "
        "lines, e.g. \"read:orders\" = \"Read your orders\": more scopes for "
        f"TEKCIFY_EXTRA_SCOPES's rules (up to {_MAX_EXTRA_SCOPES}, descriptions of 1 to "
        f"{_MAX_SCOPE_TEXT} characters); a description in TEKCIFY_EXTRA_SCOPES wins",
        default=None,
    )
    _file_scopes: dict[str, str] = PrivateAttr(default_factory=dict)

    social_providers_file: Path | None = _env(
        "TEKCIFY_SOCIAL_PROVIDERS_FILE",
        "the path of a TOML file (UTF-8) of [providers.NAME] tables, one per upstream "
        "provider people may sign in with: google, microsoft (tenant) and github presets, or "
        "any OpenID Connect provider by discovery_url; each with client_id and client_secret "
        "(or client_secret_env); see README, \"Social sign-in\"",
        default=None,
    )
    _social: tuple[Provider, ...] = PrivateAttr(default=())

    @field_validator("jwt_access_secret")
    @classmethod
    def _secret_usable(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        if not raw.strip():
            raise ValueError("empty")
        if "-----BEGIN" in raw:
            raise ValueError("looks like a PEM key")
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _no_metrics_token(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_port", "otel_exporter_otlp_endpoint", mode="before")
    @classmethod
    def _unset_blank(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics")
    @classmethod
    def _metrics_guarded(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("metrics_port") and not info.data.get("metrics_token"):
            raise ValueError(
                "set TEKCIFY_METRICS_PORT (a port of its own) or TEKCIFY_METRICS_TOKEN (a "
                "bearer token) too, so that /metrics is not open to everyone"
            )
        return value

    @field_validator("signing_alg", mode="before")
    @classmethod
    def _unset_alg(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("argon2_memory_cost")
    @classmethod
    def _memory_fits_parallelism(cls, value: int, info: ValidationInfo) -> int:
        parallelism = info.data.get("argon2_parallelism")
        if isinstance(parallelism, int) and value < 8 * parallelism:
            raise ValueError("less than 8 KiB per lane")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError("not a URL")
        scheme = scheme.lower()
        if scheme in {"postgres", "postgresql", "postgresql+psycopg"}:
            return "postgresql+psycopg://" + rest
        if scheme in {"sqlite", "sqlite+pysqlite"}:
            return "sqlite://" + rest
        raise ValueError("unsupported database")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("not an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("has a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("canonical_url")
    @classmethod
    def _canonical_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        host = split_host(parts.netloc)
        if parts.scheme not in {"http", "https"} or host is None:
            raise ValueError("not an http(s) URL of a host")
        if parts.path not in {"", "/"} or parts.query or parts.fragment:
            raise ValueError("has a path, query or fragment")
        name, port = host
        return f"{parts.scheme}://{name}" + ("" if port is None else f":{port}")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if urlsplit(value.strip()).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("not a redis URL")
        return value.strip()

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_smtp_url(value.get_secret_value())  # raises ValueError saying what is wrong
        return SecretStr(value.get_secret_value().strip())

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        value = value.strip()
        if any(c in value for c in "\r\n\x00") or "@" not in parseaddr(value)[1]:
            raise ValueError("not an address")
        return value

    @field_validator("mail_poll_interval")
    @classmethod
    def _mail_poll_interval(cls, value: float) -> float:
        if value != 0 and value < 0.01:
            raise ValueError("must be 0 or from 0.01 to 60")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        return ",".join(str(network) for network in parse_networks(value))

    @field_validator("allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: str) -> str:
        return ",".join(parse_hosts(value))

    @field_validator("purge_interval")
    @classmethod
    def _purge_interval(cls, value: int) -> int:
        if value != 0 and not 60 <= value <= 86_400:
            raise ValueError("must be 0 or from 60 to 86400")
        return value

    @field_validator("extra_scopes")
    @classmethod
    def _extra_scopes(cls, value: str) -> str:
        described = parse_extra_scopes(value)
        return ", ".join(f"{name}={text}" if text else name for name, text in described.items())

    @field_validator("scopes_file", mode="before")
    @classmethod
    def _no_scopes_file(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("scopes_file")
    @classmethod
    def _scopes_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            parse_scopes_file(value)  # refused here, naming the variable and the problem
        return value

    @model_validator(mode="after")
    def _read_scopes_file(self) -> Settings:
        if self.scopes_file is not None:
            self._file_scopes = parse_scopes_file(self.scopes_file)
        return self

    @field_validator("social_providers_file", mode="before")
    @classmethod
    def _no_social_file(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("social_providers_file")
    @classmethod
    def _social_file(cls, value: Path | None) -> Path | None:
        if value is not None:  # refused here, naming the variable and the problem
            parse_providers_file(value, _GIVEN_ENV.get())
        return value

    @model_validator(mode="after")
    def _read_social_file(self) -> Settings:
        # client_secret_env reads the environment load_settings was given (the process's).
        if self.social_providers_file is not None:
            self._social = parse_providers_file(self.social_providers_file, _GIVEN_ENV.get())
        return self

    @property
    def social_providers(self) -> tuple[Provider, ...]:
        """The upstream providers of ``TEKCIFY_SOCIAL_PROVIDERS_FILE`` (none without it)."""
        return self._social

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def effective_database_url(self) -> str:
        """The configured database, or SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tekcify.sqlite3').resolve()}"

    def _extra_scopes_described(self) -> dict[str, str]:
        # The file's scopes, then the variable's; the variable's description wins.
        described = dict(self._file_scopes)
        for name, text in parse_extra_scopes(self.extra_scopes).items():
            described[name] = text or described.get(name, "")
        return described

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope the server knows: :data:`DEFAULT_SCOPES`, then ``TEKCIFY_SCOPES_FILE``'s
        and ``TEKCIFY_EXTRA_SCOPES``'s."""
        return tuple(dict.fromkeys((*DEFAULT_SCOPES, *self._extra_scopes_described())))

    @property
    def scope_descriptions(self) -> dict[str, str]:
        """The consent page's words for the extra scopes that were given some."""
        return {name: text for name, text in self._extra_scopes_described().items() if text}

    @property
    def allowed_host_list(self) -> tuple[str, ...]:
        """The hosts of ``TEKCIFY_ALLOWED_HOSTS`` (empty: only the server's own)."""
        return parse_hosts(self.allowed_hosts)

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The networks of ``TEKCIFY_TRUSTED_PROXIES`` (empty: no proxy is trusted)."""
        return parse_networks(self.trusted_proxies)

    @property
    def smtp_target(self) -> SmtpTarget | None:
        """Where mail is sent (``TEKCIFY_SMTP_URL``), or ``None`` for the outbox folder."""
        if self.smtp_url is None:
            return None
        return parse_smtp_url(self.smtp_url.get_secret_value())

    @property
    def outbox(self) -> Path:
        """The folder of ``.eml`` files when ``TEKCIFY_SMTP_URL`` is unset."""
        return self.data_dir / "outbox"

    @property
    def secret_file(self) -> Path:
        """Where the generated HS256 secret is kept when ``JWT_ACCESS_SECRET`` is unset."""
        return self.data_dir / "jwt_access_secret"


#: Settings whose refusals say what is wrong, besides what they accept.
_EXPLAINED: Final = frozenset({
    "extra_scopes", "scopes_file", "smtp_url", "metrics", "social_providers_file",
})


#: The longest setting value a start-up error repeats (a file path fits).
_SHOWN_MAX: Final = 240


def _describe(errors: list[Any], env: Mapping[str, str] | None) -> list[str]:
    by_alias = {
        (f.json_schema_extra or {}).get("env"): (name, f)  # type: ignore[union-attr]
        for name, f in Settings.model_fields.items()
    }
    problems: list[str] = []
    for error in errors:
        loc = str(error["loc"][0]) if error["loc"] else ""
        name, field = by_alias.get(loc, (loc, None))
        if field is None:
            for alias, (fname, f) in by_alias.items():
                if fname == loc:
                    loc, field = str(alias), f
                    break
        accepts = str((field.json_schema_extra or {}).get("accepts", "")) if field else ""  # type: ignore[union-attr]
        value = error.get("input")
        if name in (
            "jwt_access_secret", "key_encryption_secret", "smtp_url", "metrics_token"
        ) or isinstance(
            value, dict
        ):
            shown = ""
        else:  # never echo a password that sits in a URL
            # Long enough for a file path; a longer value is cut visibly, not silently.
            raw = str(value)
            clipped = raw if len(raw) <= _SHOWN_MAX else raw[: _SHOWN_MAX - 1] + "…"
            shown = "=" + re.sub(r"//[^/@]*@", "//***@", clipped)
        reason = ""
        if name in _EXPLAINED and isinstance((error.get("ctx") or {}).get("error"), ValueError):
            reason = f" ({error['ctx']['error']})"
        problems.append(f"{loc}{shown} is not valid{reason}: expected {accepts}")
    return problems


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read the settings from the process environment (or ``env``), plus ``overrides``.

    Raises :class:`SettingsError` naming each bad variable and what it accepts.
    """
    try:
        if env is None:
            return Settings(**overrides)
        given = {key.upper(): value for key, value in env.items()}
        token = _GIVEN_ENV.set(given)
        try:
            return Settings.model_validate({**given, **overrides})
        finally:
            _GIVEN_ENV.reset(token)
    except ValidationError as exc:
        raise SettingsError(_describe(exc.errors(), env)) from None
