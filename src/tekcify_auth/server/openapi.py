"""The server's OpenAPI document (``/openapi.json``), saying what the server really answers.

FastAPI documents a 422 for request validation and nothing else that can go wrong;
this server answers validation errors with 400 and the Tekcify error body
(``http-api.md``, Conventions), and a route may also answer 401, 403, 404, 409, 413,
429 or 503. :func:`install_openapi` makes ``app.openapi()`` rewrite FastAPI's document
once, so that clients and the schemathesis suite (``tests/fuzz``) hold the server to
the answers it documents:

* every 422 becomes a 400 with the :data:`ERROR_SCHEMA` body (the OAuth protocol
  endpoints, whose routes use :class:`~.errors.OAuthRoute`, answer 400 and 401 with
  the RFC 6749 §5.2 body, :data:`OAUTH_ERROR_SCHEMA`, instead);
* an operation with a request body may answer 400 and 413 (``BodyLimitMiddleware``);
* a Bearer-protected operation answers 401 with ``WWW-Authenticate`` (RFC 6750 §3);
* an operation with a path parameter may answer 404;
* every operation may answer 503 with ``Retry-After`` while the database (or the
  Redis rate-limit store) cannot be reached;
* :data:`ANSWERS` lists what particular operations answer beyond that;
* the OAuth protocol routes, which read and write JSON themselves, get their request
  and answer bodies from :mod:`.schemas.protocol`.

Answers a route documents itself (``responses=``) are kept as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI

from .errors import OAUTH_ERRORS_EXTENSION
from .schemas.protocol import PROTOCOL_SCHEMAS, protocol_operations

__all__ = ["ANSWERS", "ERROR_SCHEMA", "OAUTH_ERROR_SCHEMA", "install_openapi", "tekcify_document"]

#: Name of the ``{statusCode, error, message, details?}`` body in ``components.schemas``.
ERROR_SCHEMA: Final = "TekcifyError"
#: Name of the RFC 6749 §5.2 ``{error, error_description, message}`` body.
OAUTH_ERROR_SCHEMA: Final = "OAuthErrorResponse"

_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    ERROR_SCHEMA: {
        "title": ERROR_SCHEMA,
        "description": "An error of the Tekcify API; clients show ``message``.",
        "type": "object",
        "required": ["statusCode", "error", "message"],
        "properties": {
            "statusCode": {"type": "integer"},
            "error": {"type": "string"},
            "message": {"type": "string"},
            "details": {
                "type": "array",
                "description": "One entry per invalid field (validation errors only)",
                "items": {
                    "type": "object",
                    "required": ["field", "type", "message"],
                    "properties": {
                        "field": {"type": "string"},
                        "type": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
    OAUTH_ERROR_SCHEMA: {
        "title": OAUTH_ERROR_SCHEMA,
        "description": "An OAuth error (RFC 6749 §5.2); ``message`` copies the description.",
        "type": "object",
        "required": ["error", "error_description", "message"],
        "properties": {
            "error": {"type": "string"},
            "error_description": {"type": "string"},
            "message": {"type": "string"},
        },
    },
}

_PAGE: Final = {"text/html": {"schema": {"type": "string"}}}
_TOO_LARGE_PAGE: Final = "The form is too large"

#: The 429 of the endpoints that authenticate clients (``services/client_auth.py``).
_CLIENT_AUTH_LIMITED: Final = (
    "invalid_client: too many failed client authentications from this address or for this "
    "client; refused, even with the right secret, until Retry-After seconds have passed"
)
#: The 403 of a route for the account holder's own session only (``deps.first_party_or``).
_FIRST_PARTY: Final = "insufficient_scope: a token issued to an application"
#: The 403 of a profile route, followed by the scope it needs.
_NEEDS: Final = "insufficient_scope: a client token, or a token without "

#: The 403 of the admin API (``deps.Admin``).
_NOT_ADMIN: Final = (
    "The caller's account is not an administrator, or " + _FIRST_PARTY
)
_TOO_MANY_MAILS: Final = "Too many messages asked for; try again after Retry-After seconds"
_TOO_MANY_CODES: Final = (
    "Too many wrong two-factor codes or passwords; try again after Retry-After seconds"
)
_WRONG_CODE: Final = "A wrong mfaCode (required while MFA is on); or "
_WRONG_PROOF: Final = "A wrong password, mfaCode or sensitive-action token; or "

#: What particular operations answer beyond what their shape implies, by
#: ``(method, path)``: status and the description of a JSON error, or a whole answer.
ANSWERS: Final[Mapping[tuple[str, str], Mapping[int, str | dict[str, Any]]]] = {
    ("post", "/api/auth/register"): {
        403: "Registration is closed (TEKCIFY_REGISTRATION=closed), or needs a usable invite "
        "code (inviteCode, TEKCIFY_REGISTRATION=invite)",
        409: "An account with this email exists (unless TEKCIFY_HIDE_EXISTING_ACCOUNTS)",
        429: "Too many registrations from this address or network; try again after "
        "Retry-After seconds",
    },
    ("post", "/api/auth/login"): {
        401: "Wrong email or password",
        403: "The account is disabled, or its email is not verified "
        "(TEKCIFY_REQUIRE_VERIFIED_EMAIL)",
        429: "Too many failed logins; try again after Retry-After seconds",
    },
    ("post", "/api/auth/refresh"): {
        401: "The refresh token is unknown, expired, revoked or was already used",
    },
    ("post", "/api/auth/sessions/logout"): {
        400: "The access token belongs to no session", 403: _FIRST_PARTY,
    },
    ("get", "/api/auth/sessions"): {403: _FIRST_PARTY},
    ("delete", "/api/auth/sessions"): {403: _FIRST_PARTY},
    ("delete", "/api/auth/sessions/{session_id}"): {
        403: _FIRST_PARTY, 404: "No such live session of the caller",
    },
    ("post", "/api/auth/login/mfa"): {
        401: "The mfaToken is unknown, expired or used, or the code is wrong",
        429: "Too many failed logins or wrong codes; try again after Retry-After seconds",
    },
    ("post", "/api/auth/mfa/setup"): {
        403: "Wrong password, or a sensitive-action token not valid for mfa_setup; or "
        + _FIRST_PARTY,
        404: "The account is gone",
        409: "Two-factor sign-in is already on, or the password changed meanwhile",
        429: "Too many wrong passwords; try again after Retry-After seconds",
    },
    ("post", "/api/auth/mfa/verify-setup"): {
        403: _FIRST_PARTY, 409: "Two-factor sign-in is already on",
        429: _TOO_MANY_CODES,
    },
    ("post", "/api/auth/mfa/disable"): {
        403: _WRONG_PROOF + _FIRST_PARTY, 404: "The account is gone",
        409: "The password changed meanwhile", 429: _TOO_MANY_CODES,
    },
    ("post", "/api/auth/mfa/regenerate-backup-codes"): {
        403: _WRONG_PROOF + _FIRST_PARTY, 404: "The account is gone",
        409: "The password changed meanwhile", 429: _TOO_MANY_CODES,
    },
    ("post", "/api/auth/password/change"): {
        403: _WRONG_CODE + _FIRST_PARTY,
        404: "The account is gone",
        429: "Too many wrong passwords; try again after Retry-After seconds",
    },
    ("get", "/api/user/profile"): {
        403: _NEEDS + "read:profile", 404: "The account is gone",
    },
    ("put", "/api/user/profile"): {
        403: _NEEDS + "write:profile", 404: "The account is gone",
    },
    ("post", "/api/user/profile/picture"): {
        403: _NEEDS + "write:profile", 404: "The account is gone",
    },
    ("get", "/api/user/export-data"): {
        403: _FIRST_PARTY, 404: "The account is gone",
    },
    ("delete", "/api/user/account"): {
        403: "Wrong password or mfaCode, or a sensitive-action token not valid for "
        "delete_account; or " + _FIRST_PARTY,
        404: "The account is gone",
        409: "The password changed meanwhile",
        429: "Too many wrong passwords; try again after Retry-After seconds",
    },
    ("get", "/api/applications"): {403: _FIRST_PARTY},
    ("post", "/api/applications"): {403: _FIRST_PARTY},
    ("get", "/api/applications/public/{client_id}"): {404: "No such application"},
    ("put", "/api/applications/{client_id}"): {
        403: _FIRST_PARTY, 404: "No such application of the caller",
    },
    ("delete", "/api/applications/{client_id}"): {
        403: _FIRST_PARTY, 404: "No such application of the caller",
    },
    ("post", "/api/applications/{client_id}/logo"): {
        403: _FIRST_PARTY, 404: "No such application of the caller",
    },
    ("post", "/api/applications/{client_id}/regenerate-secret"): {
        400: "A public client has no secret",
        403: _FIRST_PARTY,
        404: "No such application of the caller",
    },
    ("post", "/api/oauth/token"): {400: "invalid_request, invalid_grant, ...",
                                   401: "invalid_client", 429: _CLIENT_AUTH_LIMITED},
    ("post", "/api/oauth/token/introspect"): {
        400: "invalid_request", 401: "invalid_client", 429: _CLIENT_AUTH_LIMITED,
    },
    ("post", "/api/oauth/revoke"): {
        400: "invalid_request", 401: "invalid_client", 429: _CLIENT_AUTH_LIMITED,
    },
    ("get", "/api/oauth/authorize"): {
        302: {
            "description": "Back to the redirect_uri with code and state, or an error",
            "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
        },
        400: {"description": "The request cannot be redirected: an error page",
              "content": _PAGE},
    },
    **{(method, "/api/oauth/logout"): {
        303: {
            "description": "Back to the registered post_logout_redirect_uri, with state",
            "headers": {"Location": {"required": True, "schema": {"type": "string"}}},
        },
        400: {"description": "The request is not valid: an error page, no redirect",
              "content": _PAGE},
        413: {"description": _TOO_LARGE_PAGE, "content": _PAGE},
    } for method in ("get", "post")},
    ("get", "/api/auth/account/social"): {403: _FIRST_PARTY},
    ("delete", "/api/auth/account/social/{provider}"): {
        403: _FIRST_PARTY, 404: "No such provider is connected",
        409: "It is the account's last way to sign in",
    },
    ("post", "/api/auth/email/verify"): {
        400: "The link or code is not valid, expired, used or locked",
        401: "A code was sent without a valid Bearer access token",
        403: _FIRST_PARTY, 404: "The account is gone",
    },
    ("post", "/api/auth/email/verify/resend"): {
        400: "The address is verified already", 403: _FIRST_PARTY,
        404: "The account is gone", 429: _TOO_MANY_MAILS,
    },
    ("post", "/api/auth/password/forgot"): {429: _TOO_MANY_MAILS},
    ("post", "/api/auth/password/reset"): {403: "The account is disabled"},
    ("post", "/api/user/email/change"): {
        403: _FIRST_PARTY, 404: "The account is gone",
        409: "Another account has this address", 429: _TOO_MANY_MAILS,
    },
    ("post", "/api/user/email/change/confirm"): {
        403: "The account is disabled", 409: "Another account has this address by now",
    },
    ("get", "/api/oauth/connected-apps"): {403: _FIRST_PARTY},
    ("delete", "/api/oauth/connected-apps/{client_id}"): {
        403: _FIRST_PARTY,
        404: "The caller has not consented to this application",
    },
    ("post", "/api/auth/account/sensitive-action/initiate"): {
        403: _FIRST_PARTY, 404: "The account is gone",
    },
    ("post", "/api/auth/account/sensitive-action/send-code"): {
        403: _FIRST_PARTY,
        404: "The account is gone",
        429: "Too many codes were sent; try again after Retry-After seconds",
    },
    ("post", "/api/auth/account/sensitive-action/verify-code"): {403: _FIRST_PARTY},
    ("get", "/api/auth/account/password/auth-methods"): {
        403: _FIRST_PARTY, 404: "The account is gone",
    },
    ("post", "/api/auth/account/password/set-or-change"): {
        403: "A wrong mfaCode, or a sensitive-action token not valid for set_password; or "
        + _FIRST_PARTY,
        404: "The account is gone",
        409: "The password changed meanwhile",
        429: "Too many wrong passwords; try again after Retry-After seconds",
    },
    ("get", "/api/security/activity"): {403: _FIRST_PARTY},
    ("post", "/api/auth/passkey/register/options"): {
        403: _FIRST_PARTY, 404: "The account is gone",
    },
    ("post", "/api/auth/passkey/register"): {
        403: _FIRST_PARTY, 404: "The account is gone",
        409: "This credential is registered already",
    },
    ("get", "/api/auth/passkey"): {403: _FIRST_PARTY},
    ("delete", "/api/auth/passkey/{credential_id}"): {
        403: _FIRST_PARTY, 404: "No such passkey of the caller",
        409: "The account has no password and this is its last passkey",
    },
    ("put", "/api/auth/passkey/{credential_id}/rename"): {
        403: _FIRST_PARTY, 404: "No such passkey of the caller",
    },
    ("post", "/api/auth/passkey/login/options"): {
        401: "The mfaToken is not a live sign-in challenge",
    },
    ("post", "/api/auth/passkey/login"): {
        401: "The passkey is unknown or its assertion does not verify (another origin or "
        "RP ID, no user verification, a signature counter gone back, another user's for "
        "an mfaToken), or the mfaToken is not a live sign-in challenge",
        403: "The account is disabled, or its email is not verified "
        "(TEKCIFY_REQUIRE_VERIFIED_EMAIL)",
        429: "Too many failed logins; try again after Retry-After seconds",
    },
    **{(method, "/api/admin" + path): answers for method, path, answers in (
        ("get", "/users", {}), ("get", "/users/{user_id}", {}),
        ("post", "/users/{user_id}/disable", {409: "The caller's own account"}),
        ("post", "/users/{user_id}/enable", {}),
        ("delete", "/users/{user_id}", {
            400: "confirm is not the account's email", 409: "The caller's own account",
        }),
        ("put", "/users/{user_id}/role", {409: "The caller's own account (to role user)"}),
        ("put", "/users/{user_id}/password", {}),
        ("post", "/users/{user_id}/revoke-sessions", {}),
        ("post", "/users/{user_id}/reset-mfa", {}),
        ("get", "/applications", {}), ("get", "/applications/{client_id}", {}),
        ("post", "/applications", {400: "A redirect URI, origin or scope is not allowed",
                                   404: "No account has ownerId"}),
        ("post", "/applications/{client_id}/activate", {}),
        ("post", "/applications/{client_id}/deactivate", {}),
        ("post", "/applications/{client_id}/regenerate-secret", {
            400: "The application is a public client and has no secret",
        }),
        ("delete", "/applications/{client_id}", {400: "confirm is not the client id"}),
    ) for answers in [{403: _NOT_ADMIN, **answers}]},
}

_VALIDATION: Final = "The request is invalid (the message names the first problem)"
_TOO_LARGE: Final = "The request body is too large"
_UNAUTHENTICATED: Final = "No valid Bearer access token (RFC 6750 §3)"
_NOT_FOUND: Final = "Nothing has this id (or not for the caller)"
_UNAVAILABLE: Final = "The database or the rate-limit store is unavailable; try again shortly"
_RETRY_AFTER: Final = {
    "description": "Seconds to wait before trying again",
    "required": True,
    "schema": {"type": "string"},
}
_CHALLENGE: Final = {
    "description": 'The Bearer challenge, with error="invalid_token" when a token was sent',
    "required": True,
    "schema": {"type": "string"},
}
_METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return :func:`tekcify_document`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = tekcify_document(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook


def tekcify_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of FastAPI's ``document`` with the answers the server really gives.

    Operations of :class:`~.errors.OAuthRoute` routes (marked with
    :data:`~.errors.OAUTH_ERRORS_EXTENSION`) answer 400 and 401 with RFC 6749 §5.2 bodies.
    """
    result = copy.deepcopy(dict(document))
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(copy.deepcopy(_SCHEMAS))
    schemas.update(copy.deepcopy(PROTOCOL_SCHEMAS))
    described = protocol_operations()
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method in _METHODS:
                protocol = bool(operation.pop(OAUTH_ERRORS_EXTENSION, False))
                _describe_protocol(operation, described.get((method, path), {}))
                _document_answers(method, path, operation, protocol)
    return result


def _describe_protocol(operation: dict[str, Any], described: Mapping[str, Any]) -> None:
    """The request body and 200 body of a route that reads and writes JSON itself."""
    if "requestBody" in described and "requestBody" not in operation:
        operation["requestBody"] = described["requestBody"]
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    json_answer = content.get("application/json")
    if "answer" in described and json_answer is not None and not json_answer.get("schema"):
        json_answer["schema"] = described["answer"]


def _document_answers(method: str, path: str, operation: dict[str, Any], protocol: bool) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    validated = responses.pop("422", None) is not None
    secured = bool(operation.get("security"))
    wanted: dict[int, str | dict[str, Any]] = {}
    if validated or "requestBody" in operation:
        wanted[400] = _VALIDATION
    if "requestBody" in operation:
        wanted[413] = _TOO_LARGE
    if secured:
        wanted[401] = _UNAUTHENTICATED
    if any(parameter.get("in") == "path" for parameter in operation.get("parameters", ())):
        wanted[404] = _NOT_FOUND  # also every path with a NUL (NulPathMiddleware)
    wanted.update(ANSWERS.get((method, path), {}))
    wanted[503] = _UNAVAILABLE
    for status, answer in sorted(wanted.items()):
        if str(status) in responses:
            continue
        if isinstance(answer, dict):
            responses[str(status)] = copy.deepcopy(answer)
            continue
        oauth_body = protocol and (status in (400, 429) or (status == 401 and not secured))
        responses[str(status)] = _answer(status, answer, secured, oauth_body)


def _answer(status: int, description: str, secured: bool, oauth_body: bool) -> dict[str, Any]:
    name = OAUTH_ERROR_SCHEMA if oauth_body else ERROR_SCHEMA
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }
    if status in (429, 503):
        answer["headers"] = {"Retry-After": _RETRY_AFTER}
    elif status == 401 and secured and not oauth_body:
        answer["headers"] = {"WWW-Authenticate": _CHALLENGE}
    return answer
