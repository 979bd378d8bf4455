"""Request builders of the passkey calls (issue 14), beside ``_account_requests.py``.

Registration, listing, renaming and removal follow ``@tekcify/auth-backend`` 2.2.12
(``dist/security.d.ts``: ``getPasskeyRegistrationOptions``, ``registerPasskey``,
``listPasskeys``, ``deletePasskey``, ``renamePasskey``); the sign-in
(``/api/auth/passkey/login/options`` and ``/api/auth/passkey/login``) is this server's.
The credential is the ``PublicKeyCredential`` a browser or authenticator produced, as
JSON; the client passes it on untouched. No POST is tried again: a challenge serves once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._account_models import Passkey, PasskeyLoginOptions, PasskeyRegistrationOptions
from ._client_models import MessageResponse, TokenSet
from ._requests import ApiRequest, Clock, _message, _model, _models, _request, _segment, _token_set

__all__ = [
    "delete_passkey",
    "list_passkeys",
    "passkey_login",
    "passkey_login_options",
    "passkey_registration_options",
    "register_passkey",
    "rename_passkey",
]

_BASE: Final = "/api/auth/passkey"


def _credential(credential: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(credential, Mapping) or not credential:
        raise ValueError("credential must be the PublicKeyCredential's JSON (a non-empty dict)")
    return dict(credential)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


def passkey_registration_options(access_token: str) -> ApiRequest[PasskeyRegistrationOptions]:
    """``POST /api/auth/passkey/register/options``."""
    return _request(
        "POST", f"{_BASE}/register/options", _model(PasskeyRegistrationOptions),
        token=access_token,
    )


def register_passkey(
    access_token: str, credential: Mapping[str, Any], challenge: str, name: str | None = None
) -> ApiRequest[Passkey]:
    """``POST /api/auth/passkey/register {credential, challenge, name?}``."""
    body: dict[str, Any] = {
        "credential": _credential(credential), "challenge": _text(challenge, "challenge"),
    }
    if name is not None:
        body["name"] = name
    return _request("POST", f"{_BASE}/register", _model(Passkey), token=access_token, json=body)


def list_passkeys(access_token: str) -> ApiRequest[list[Passkey]]:
    """``GET /api/auth/passkey``: a bare array."""
    return _request("GET", _BASE, _models(Passkey), token=access_token)


def delete_passkey(access_token: str, credential_id: str) -> ApiRequest[MessageResponse]:
    """``DELETE /api/auth/passkey/{credentialId}``."""
    path = f"{_BASE}/{_segment(credential_id, 'credential_id')}"
    return _request("DELETE", path, _message, token=access_token)


def rename_passkey(access_token: str, credential_id: str, name: str) -> ApiRequest[Passkey]:
    """``PUT /api/auth/passkey/{credentialId}/rename {name}``."""
    path = f"{_BASE}/{_segment(credential_id, 'credential_id')}/rename"
    return _request(
        "PUT", path, _model(Passkey), token=access_token, json={"name": _text(name, "name")}
    )


def passkey_login_options(mfa_token: str | None = None) -> ApiRequest[PasskeyLoginOptions]:
    """``POST /api/auth/passkey/login/options`` (``{mfaToken}`` for a second factor)."""
    body = {} if mfa_token is None else {"mfaToken": _text(mfa_token, "mfa_token")}
    return _request(
        "POST", f"{_BASE}/login/options", _model(PasskeyLoginOptions), json=body,
        idempotent=False,
    )


def passkey_login(
    credential: Mapping[str, Any], challenge: str, clock: Clock, mfa_token: str | None = None
) -> ApiRequest[TokenSet]:
    """``POST /api/auth/passkey/login {credential, challenge, mfaToken?}``: the token pair."""
    body: dict[str, Any] = {
        "credential": _credential(credential), "challenge": _text(challenge, "challenge"),
    }
    if mfa_token is not None:
        body["mfaToken"] = _text(mfa_token, "mfa_token")
    return _request("POST", f"{_BASE}/login", _token_set(clock), json=body)
