"""The authorization server metadata (RFC 8414), also served as the OIDC discovery document.

Endpoints are absolute, under the server's base URL for the request (``canonical.py``:
``TEKCIFY_PUBLIC_URL``, the canonical URL, or the URL the request came to). The grants
listed are those the token endpoint accepts (``services/grants.py``), so the document
never promises a grant that is refused; the authorization endpoint, the ``code``
response type and PKCE (``S256`` only) are listed when a grant that uses them is
registered.

The OpenID Connect Discovery 1.0 §3 fields are all there and true: the issuer (the base
URL), the algorithm id tokens are signed with (``id_token_alg``: RS256 with HS256
access tokens, else the access tokens' own), the claims id tokens and UserInfo may hold,
the ``prompt`` values the pages honour, and ``false`` for request objects, which are
refused (``request_not_supported``).
"""

from __future__ import annotations

from typing import Any, Final

from ..settings import Settings
from .grants import GRANTS
from .userinfo import EMAIL_CLAIMS, PROFILE_CLAIMS

__all__ = ["CLIENT_AUTH_METHODS", "ID_TOKEN_CLAIMS", "PATHS", "metadata"]

#: How clients authenticate at the token, introspection and revocation endpoints.
CLIENT_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "none")

#: The server's paths, relative to its base URL.
PATHS: Final = {
    "authorization_endpoint": "/api/oauth/authorize",
    "token_endpoint": "/api/oauth/token",
    "introspection_endpoint": "/api/oauth/token/introspect",
    "revocation_endpoint": "/api/oauth/revoke",
    "userinfo_endpoint": "/api/oauth/userinfo",
    "jwks_uri": "/api/.well-known/jwks.json",
    # RP-initiated logout 1.0 (services/end_session.py).
    "end_session_endpoint": "/api/oauth/logout",
}


#: The claims of id tokens and UserInfo (``services/oidc/id_tokens.py``, ``userinfo.py``).
ID_TOKEN_CLAIMS: Final = (
    "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "amr", "acr", "sid",
)


def metadata(settings: Settings, base_url: str, id_token_alg: str = "RS256") -> dict[str, Any]:
    """The metadata document, its endpoints under ``base_url``."""
    base = base_url.rstrip("/")
    with_code = any(grant.uses_authorization_endpoint for grant in GRANTS.values())
    # OIDC Discovery §3: the issuer is the URL the document is under (the access tokens'
    # ``iss``, TEKCIFY_ACCESS_TOKEN_ISSUER, is another thing: README, OpenID Connect).
    document: dict[str, Any] = {"issuer": base}
    if with_code:
        document["authorization_endpoint"] = base + PATHS["authorization_endpoint"]
    document.update(
        {
            "token_endpoint": base + PATHS["token_endpoint"],
            "token_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "introspection_endpoint": base + PATHS["introspection_endpoint"],
            "introspection_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "revocation_endpoint": base + PATHS["revocation_endpoint"],
            "revocation_endpoint_auth_methods_supported": list(CLIENT_AUTH_METHODS),
            "userinfo_endpoint": base + PATHS["userinfo_endpoint"],
            "jwks_uri": base + PATHS["jwks_uri"],
            "end_session_endpoint": base + PATHS["end_session_endpoint"],
            "grant_types_supported": list(GRANTS),
            "response_types_supported": ["code"] if with_code else [],
            "scopes_supported": list(settings.scopes),
            "claims_supported": ["sub", *ID_TOKEN_CLAIMS, *EMAIL_CLAIMS, *PROFILE_CLAIMS],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [id_token_alg],
            "claim_types_supported": ["normal"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "require_request_uri_registration": False,
            "acr_values_supported": ["0"],
        }
    )
    if with_code:
        document["response_modes_supported"] = ["query"]
        document["prompt_values_supported"] = ["none", "login", "consent", "select_account"]
        document["code_challenge_methods_supported"] = ["S256"]
        # RFC 9207 §3: every authorization response carries iss.
        document["authorization_response_iss_parameter_supported"] = True
    return document
