"""The upstream providers people may sign in with (``TEKCIFY_SOCIAL_PROVIDERS_FILE``).

A TOML file, one table per provider under ``[providers]``; the table's name is the
provider's name in URLs and on the wire (``SocialProvider.provider``):

.. code-block:: toml

    [providers.google]            # preset: Google's OpenID Connect discovery
    client_id = "1234.apps.googleusercontent.com"
    client_secret_env = "GOOGLE_CLIENT_SECRET"   # or client_secret = "..."

    [providers.microsoft]         # preset: Microsoft identity platform v2.0
    tenant = "common"             # or "organizations", "consumers", a tenant id
    client_id = "..."
    client_secret = "..."

    [providers.github]            # preset: GitHub OAuth 2 and its user API
    client_id = "..."
    client_secret = "..."
    # github_url = "https://github.example.com"   # GitHub Enterprise Server

    [providers.corp]              # any OpenID Connect provider, by its discovery URL
    discovery_url = "https://sso.example.com/.well-known/openid-configuration"
    display_name = "Example SSO"
    client_id = "..."
    client_secret = "..."
    scopes = ["openid", "email", "profile"]

A table named ``google``, ``microsoft`` or ``github`` uses that preset; another name
uses one with ``preset = "google"`` (and so on) or is a generic provider with
``discovery_url``. :func:`parse_providers_file` refuses anything else with a sentence
that names the table and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from .toml_file import read_table

__all__ = ["GITHUB", "PRESETS", "Provider", "github_endpoints", "parse_providers_file"]

_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_TENANT: Final = re.compile(r"[A-Za-z0-9._-]{1,100}")
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_KEYS: Final = frozenset({
    "preset", "display_name", "discovery_url", "client_id", "client_secret",
    "client_secret_env", "scopes", "tenant", "github_url",
})
_MAX_PROVIDERS: Final = 20

#: GitHub is OAuth 2 without OpenID Connect: these endpoints, then its user API.
GITHUB: Final = {
    "authorization_endpoint": "https://github.com/login/oauth/authorize",
    "token_endpoint": "https://github.com/login/oauth/access_token",
    "user_endpoint": "https://api.github.com/user",
    "emails_endpoint": "https://api.github.com/user/emails",
}


def github_endpoints(github_url: str) -> dict[str, str]:
    """The endpoints of GitHub (``https://github.com``) or of a GitHub Enterprise Server
    at ``github_url`` (its REST API under ``/api/v3``)."""
    if github_url == "https://github.com":
        return dict(GITHUB)
    return {
        "authorization_endpoint": f"{github_url}/login/oauth/authorize",
        "token_endpoint": f"{github_url}/login/oauth/access_token",
        "user_endpoint": f"{github_url}/api/v3/user",
        "emails_endpoint": f"{github_url}/api/v3/user/emails",
    }

#: The presets: (display name, kind, discovery URL template, default scopes).
PRESETS: Final[dict[str, tuple[str, Literal["oidc", "github"], str, tuple[str, ...]]]] = {
    "google": (
        "Google", "oidc", "https://accounts.google.com/.well-known/openid-configuration",
        ("openid", "email", "profile"),
    ),
    "microsoft": (
        "Microsoft", "oidc",
        "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration",
        ("openid", "email", "profile"),
    ),
    "github": ("GitHub", "github", "", ("read:user", "user:email")),
}


@dataclass(frozen=True, slots=True)
class Provider:
    """One upstream provider: ``kind`` ``oidc`` (by ``discovery_url``) or ``github``.

    For ``github``, ``discovery_url`` is the GitHub (Enterprise Server) URL, by default
    ``https://github.com``. ``multi_tenant`` is Microsoft's ``common``,
    ``organizations`` or ``consumers``, whose discovery names the issuer
    ``https://login.microsoftonline.com/{tenantid}/v2.0``: the id token's ``tid`` fills
    it in.
    """

    name: str
    display_name: str
    kind: Literal["oidc", "github"]
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    multi_tenant: bool = False

    def __repr__(self) -> str:  # never the secret
        return f"Provider(name={self.name!r}, kind={self.kind!r}, client_id={self.client_id!r})"


def _text(table: Mapping[str, Any], where: str, key: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip() or len(value) > 2048:
        raise ValueError(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _discovery_url(where: str, value: str, key: str = "discovery_url") -> str:
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    # Plain http only to this machine (a provider started by a test or a local one).
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return value
    raise ValueError(
        f"{where}: {key} must be an https:// URL (http:// only on 127.0.0.1)"
    )


def _provider(name: str, table: Any, env: Mapping[str, str]) -> Provider:
    where = f"[providers.{name}]"
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{where}: a provider's name is 1 to 32 of a-z, 0-9, _ and -, starting with a "
            "letter or digit"
        )
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ValueError(f"{where}: {unknown[0][:40]!r} is not a setting (allowed: "
                         + ", ".join(sorted(_KEYS)) + ")")
    preset_name = table.get("preset", name if name in PRESETS else None)
    client_id = _text(table, where, "client_id")
    if "client_secret" in table and "client_secret_env" in table:
        raise ValueError(f"{where}: give client_secret or client_secret_env, not both")
    if "client_secret_env" in table:
        variable = _text(table, where, "client_secret_env")
        secret = env.get(variable, "").strip()
        if not secret:
            raise ValueError(f"{where}: client_secret_env names {variable}, which is not set")
    else:
        secret = _text(table, where, "client_secret")
    scopes_given = table.get("scopes")
    if scopes_given is not None and (
        not isinstance(scopes_given, list) or not scopes_given
        or not all(isinstance(s, str) and re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}", s)
                   for s in scopes_given)
    ):
        raise ValueError(f"{where}: scopes must be a list of scope names")
    if preset_name is not None:
        if preset_name not in PRESETS:
            raise ValueError(f"{where}: preset must be one of " + ", ".join(PRESETS))
        if "discovery_url" in table:
            raise ValueError(f"{where}: a preset has its own discovery_url; remove it")
        display, kind, template, scopes = PRESETS[preset_name]
        tenant = ""
        if preset_name == "microsoft":
            tenant = _text(table, where, "tenant", "common")
            if not _TENANT.fullmatch(tenant):
                raise ValueError(f"{where}: tenant must be common, organizations, consumers "
                                 "or a tenant id")
        elif "tenant" in table:
            raise ValueError(f"{where}: tenant is for the microsoft preset only")
        if "github_url" in table and preset_name != "github":
            raise ValueError(f"{where}: github_url is for the github preset only")
        discovery = template.format(tenant=tenant)
        if preset_name == "github":
            discovery = _discovery_url(
                where, _text(table, where, "github_url", "https://github.com"), "github_url"
            ).rstrip("/")
        return Provider(
            name=name, display_name=_text(table, where, "display_name", display), kind=kind,
            discovery_url=discovery, client_id=client_id,
            client_secret=secret, scopes=tuple(scopes_given or scopes),
            multi_tenant=tenant in {"common", "organizations", "consumers"},
        )
    if "discovery_url" not in table:
        raise ValueError(
            f"{where}: give discovery_url (an OpenID Connect provider's "
            "/.well-known/openid-configuration) or preset = google, microsoft or github"
        )
    scopes = tuple(scopes_given or ("openid", "email", "profile"))
    if "openid" not in scopes:
        raise ValueError(f"{where}: scopes must include openid")
    return Provider(
        name=name, display_name=_text(table, where, "display_name", name.capitalize()),
        kind="oidc", discovery_url=_discovery_url(where, _text(table, where, "discovery_url")),
        client_id=client_id, client_secret=secret, scopes=scopes,
    )


def parse_providers_file(
    path: Path, env: Mapping[str, str] | None = None
) -> tuple[Provider, ...]:
    """The providers of the TOML file ``path``, in the file's order.

    ``client_secret_env`` reads ``env`` (the process environment by default). Raises
    :class:`ValueError` saying what is wrong and where.
    """
    tables = read_table(path, "providers", "[providers.NAME] tables")
    if not isinstance(tables, dict) or not tables:
        raise ValueError("it has no [providers.NAME] table")
    if len(tables) > _MAX_PROVIDERS:
        raise ValueError(f"it has more than {_MAX_PROVIDERS} providers")
    environment = os.environ if env is None else env
    return tuple(_provider(name, table, environment) for name, table in tables.items())
