"""OAuth client authentication (RFC 6749 §2.3) and the parameters of protocol requests.

A client authenticates with **one** of:

* ``client_secret_basic`` — ``Authorization: Basic base64(client_id:client_secret)``,
  each part form-urlencoded first (§2.3.1);
* ``client_secret_post`` — ``client_id`` and ``client_secret`` among the parameters;
* ``none`` — a public client (no secret registered) gives only its ``client_id``.

Both Basic and body credentials at once is ``invalid_request`` (§2.3: "MUST NOT use
more than one authentication method in each request"). A wrong secret, an unknown
client, a secret for a public client or none for a confidential one are all the same
``invalid_client`` 401 with ``WWW-Authenticate: Basic`` (§5.2). Other ``Authorization``
schemes (a Bearer token) are not client credentials and are ignored here.

Parameters come form-encoded (the RFC way) or as a JSON object (the Tekcify way):
:func:`parse_params` turns either into one ``{name: value}`` mapping. Form parameters
the endpoint does not know are ignored and empty ones count as absent (RFC 6749 §3.1,
§3.2); a repeated one is refused. JSON fields the endpoint does not know are refused,
as everywhere in the Tekcify API.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import parse_qsl, unquote_plus

from ..db.lookups import Lookups
from ..errors import OAuthError
from .applications import ClientFacts, find_client, secret_matches

__all__ = [
    "ClientCredentials",
    "authenticate_client",
    "invalid_client",
    "parse_params",
    "read_client_credentials",
]

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]

#: What ``WWW-Authenticate`` says with every ``invalid_client`` answer.
BASIC_CHALLENGE: Final = 'Basic realm="tekcify-auth", charset="UTF-8"'
MAX_PARAMS: Final = 50
MAX_CLIENT_ID_LENGTH: Final = 64
MAX_SECRET_LENGTH: Final = 512


def invalid_client(description: str = "Client authentication failed") -> OAuthError:
    """The 401 ``invalid_client`` error with its ``WWW-Authenticate: Basic`` challenge."""
    return OAuthError(
        "invalid_client", description, status_code=401,
        headers={"WWW-Authenticate": BASIC_CHALLENGE},
    )


def parse_params(
    content_type: str | None, body: bytes, json_names: Mapping[str, str]
) -> dict[str, str]:
    """The request's parameters, from a form-encoded or JSON body.

    ``json_names`` maps each JSON field the endpoint accepts to its parameter name
    (``{"clientId": "client_id"}``). Raises ``invalid_request``.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/x-www-form-urlencoded":
        return _form(body)
    if media == "application/json" or media.endswith("+json"):
        return _json(body, json_names)
    raise OAuthError(
        "invalid_request",
        "Send the parameters form-encoded (application/x-www-form-urlencoded) or as JSON",
    )


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_PARAMS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "The form body cannot be read") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise OAuthError("invalid_request", f"Parameter {name} is repeated")
        params[name] = value
    return {name: value for name, value in params.items() if value != ""}


def _json(body: bytes, names: Mapping[str, str]) -> dict[str, str]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise OAuthError("invalid_request", "Malformed JSON body") from None
    if not isinstance(data, dict):
        raise OAuthError("invalid_request", "The request body must be a JSON object")
    params: dict[str, str] = {}
    for field, value in data.items():
        name = names.get(field)
        if name is None:
            raise OAuthError("invalid_request", f"Unknown field: {field}")
        if value is None:
            continue
        if not isinstance(value, str):
            raise OAuthError("invalid_request", f"Invalid field {field}: expected a string")
        if value != "":
            params[name] = value
    return params


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """Who the client says it is, and how it proves it."""

    client_id: str
    secret: str | None
    method: AuthMethod


def _basic(authorization: str) -> tuple[str, str]:
    _scheme, _, encoded = authorization.strip().partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_client("Malformed HTTP Basic credentials") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise invalid_client("Malformed HTTP Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def read_client_credentials(
    authorization: str | None, params: Mapping[str, str]
) -> ClientCredentials | None:
    """The client's credentials from the ``Authorization`` header or the parameters.

    ``None`` when the request names no client. Raises ``invalid_request`` for two
    methods at once, ``invalid_client`` for malformed Basic credentials.
    """
    body_id, body_secret = params.get("client_id"), params.get("client_secret")
    header = authorization or ""
    if header[:6].lower() == "basic ":
        if body_secret is not None:
            raise OAuthError(
                "invalid_request", "Use one client authentication method, not Basic and the body"
            )
        client_id, secret = _basic(header)
        if body_id is not None and body_id != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Basic credentials")
        return ClientCredentials(client_id, secret, "client_secret_basic")
    if body_id is None:
        if body_secret is not None:
            raise OAuthError("invalid_request", "client_secret without client_id")
        return None
    if body_secret is None:
        return ClientCredentials(body_id, None, "none")
    return ClientCredentials(body_id, body_secret, "client_secret_post")


def authenticate_client(lookups: Lookups, credentials: ClientCredentials) -> ClientFacts:
    """The application the credentials prove; raises ``invalid_client`` (401) otherwise."""
    if (
        not credentials.client_id
        or len(credentials.client_id) > MAX_CLIENT_ID_LENGTH
        or len(credentials.secret or "") > MAX_SECRET_LENGTH
        # No client id holds a NUL, and PostgreSQL refuses one in a query (a 500).
        or "\x00" in credentials.client_id
    ):
        raise invalid_client()
    application = find_client(lookups, credentials.client_id)
    stored = application.client_secret_hash if application is not None else None
    if credentials.secret is None:
        # A public client names itself; a confidential one must prove it is itself.
        if application is None or stored is not None:
            raise invalid_client()
        return application
    # Compared even for an unknown client (against a stand-in), so both failures cost
    # the same work.
    matches = secret_matches(stored, credentials.secret)
    if application is None or not matches:
        raise invalid_client()
    return application
