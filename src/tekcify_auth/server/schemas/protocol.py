"""JSON Schemas of the OAuth protocol requests and answers, for the OpenAPI document.

The protocol routes read their parameters themselves (form-encoded or JSON,
``services/client_auth.parse_params``) and answer with plain JSON, so FastAPI cannot
describe them; :func:`protocol_operations` does, from the same registries the routes
use (the token endpoint's grants, the introspection JSON names), and
``openapi.tekcify_document`` puts it in the document.

Form parameters the endpoint does not know are ignored and empty ones count as absent
(RFC 6749 §3.1, §3.2); JSON fields it does not know are refused and ``null`` counts as
absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..services import grants, introspection

__all__ = ["PROTOCOL_SCHEMAS", "protocol_operations"]

_STRING: Final = {"type": "string"}
_STRINGS: Final = {"type": "array", "items": _STRING}
_INTEGER: Final = {"type": "integer"}


def _object(required: list[str], properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": dict(properties)}


#: The answers, by ``components.schemas`` name.
PROTOCOL_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "TokenAnswer": _object(
        ["access_token", "token_type", "expires_in", "scope"],
        {
            "access_token": _STRING, "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": _INTEGER, "refresh_token": _STRING, "scope": _STRING,
            "id_token": _STRING,
        },
    ),
    "Introspection": _object(
        ["active"],
        {
            "active": {"type": "boolean"}, "sub": _STRING, "scope": _STRING,
            "clientId": _STRING, "client_id": _STRING, "username": _STRING,
            "exp": _INTEGER, "iat": _INTEGER, "iss": _STRING, "aud": _STRING,
            "tokenType": _STRING, "token_type": _STRING,
        },
    ),
    "Revoked": _object(["message"], {"message": _STRING}),
    "UserInfo": _object(
        ["sub"],
        {
            "sub": _STRING, "email": _STRING, "email_verified": {"type": "boolean"},
            "name": _STRING, "given_name": _STRING, "family_name": _STRING,
            "picture": _STRING, "updated_at": _INTEGER,
        },
    ),
    "JsonWebKeySet": _object(
        ["keys"],
        {"keys": {"type": "array", "items": _object(
            ["kty", "kid", "alg", "use"],
            {"kty": _STRING, "kid": _STRING, "alg": _STRING, "use": _STRING},
        )}},
    ),
    "ServerMetadata": _object(
        ["issuer", "token_endpoint", "jwks_uri", "grant_types_supported",
         "response_types_supported"],
        {
            "issuer": _STRING, "authorization_endpoint": _STRING, "token_endpoint": _STRING,
            "introspection_endpoint": _STRING, "revocation_endpoint": _STRING,
            "userinfo_endpoint": _STRING, "jwks_uri": _STRING,
            "grant_types_supported": _STRINGS, "response_types_supported": _STRINGS,
            "scopes_supported": _STRINGS, "claims_supported": _STRINGS,
            "code_challenge_methods_supported": _STRINGS,
            "subject_types_supported": _STRINGS,
            "id_token_signing_alg_values_supported": _STRINGS,
            "response_modes_supported": _STRINGS, "prompt_values_supported": _STRINGS,
            "acr_values_supported": _STRINGS, "claim_types_supported": _STRINGS,
            "request_parameter_supported": {"type": "boolean"},
            "request_uri_parameter_supported": {"type": "boolean"},
            "claims_parameter_supported": {"type": "boolean"},
            "require_request_uri_registration": {"type": "boolean"},
        },
    ),
}


def _parameters(
    form_names: Mapping[str, Any], json_names: Mapping[str, str], required: str
) -> dict[str, Any]:
    """A request body of ``form_names`` (form) or ``json_names`` (JSON field -> parameter)."""
    form = _object([required], {name: schema for name, schema in form_names.items()})
    form["properties"][required] = {**form_names[required], "minLength": 1}
    optional = {"type": ["string", "null"]}
    json_properties = {
        field: (form["properties"][name] if name == required else optional)
        for field, name in json_names.items()
    }
    json_body = _object([_field_of(json_names, required)], json_properties)
    json_body["additionalProperties"] = False
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": form},
            "application/json": {"schema": json_body},
        },
    }


def _field_of(json_names: Mapping[str, str], parameter: str) -> str:
    return next(field for field, name in json_names.items() if name == parameter)


def _answer(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def protocol_operations() -> dict[tuple[str, str], dict[str, Any]]:
    """``(method, path)`` -> ``{"requestBody"?: ..., "answer": schema of the 200 body}``."""
    token_names = grants.json_fields()
    token_form: dict[str, dict[str, Any]] = {name: dict(_STRING) for name in sorted(token_names)}
    token_form["grant_type"] = {"type": "string", "enum": sorted(grants.GRANTS)}
    status_form = {name: dict(_STRING) for name in sorted(introspection.JSON_FIELDS.values())}
    status_body = _parameters(status_form, introspection.JSON_FIELDS, "token")
    return {
        ("post", "/api/oauth/token"): {
            "requestBody": _parameters(token_form, token_names, "grant_type"),
            "answer": _answer("TokenAnswer"),
        },
        ("post", "/api/oauth/token/introspect"): {
            "requestBody": status_body, "answer": _answer("Introspection"),
        },
        ("post", "/api/oauth/revoke"): {"requestBody": status_body, "answer": _answer("Revoked")},
        ("get", "/api/oauth/userinfo"): {"answer": _answer("UserInfo")},
        ("post", "/api/oauth/userinfo"): {"answer": _answer("UserInfo")},
        ("get", "/api/.well-known/jwks.json"): {"answer": _answer("JsonWebKeySet")},
        ("get", "/.well-known/oauth-authorization-server"): {"answer": _answer("ServerMetadata")},
        ("get", "/.well-known/openid-configuration"): {"answer": _answer("ServerMetadata")},
    }
