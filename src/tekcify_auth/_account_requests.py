"""Request builders of the account-security calls (issue 13), beside ``_requests.py``.

Sign-in methods and passwords, sensitive-action codes, the security log, email
verification, password reset and email change: paths and shapes are those of
``http-api.md`` ("Account security") and of ``@tekcify/auth-backend`` 2.2.12's
``dist/security.d.ts``. Each builder returns an :class:`~tekcify_auth._requests.ApiRequest`
that the clients send as any other; none of these POSTs is tried again after a failure
(a code is single use, a mail must not go twice).
"""

from __future__ import annotations

from typing import Final

from ._account_models import (
    AuthMethods,
    BackupCodes,
    InitiateSensitiveActionResponse,
    MfaSetup,
    SecurityActivities,
    SensitiveActionToken,
)
from ._client_models import MessageResponse, TokenSet
from ._requests import _PUBLIC, ApiRequest, Clock, _message, _model, _request, _token_set

__all__ = [
    "confirm_email_change",
    "disable_mfa",
    "forgot_password",
    "get_auth_methods",
    "get_security_activities",
    "initiate_sensitive_action",
    "login_mfa",
    "regenerate_backup_codes",
    "request_email_change",
    "resend_verification_email",
    "reset_password",
    "send_sensitive_action_code",
    "set_or_change_password",
    "setup_mfa",
    "verify_email",
    "verify_mfa_setup",
    "verify_sensitive_action_code",
]

_SENSITIVE: Final = "/api/auth/account/sensitive-action/"


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string")
    return value


# -- sign-in methods and passwords ---------------------------------------------------------


def get_auth_methods(access_token: str) -> ApiRequest[AuthMethods]:
    """``GET /api/auth/account/password/auth-methods``."""
    return _request(
        "GET", "/api/auth/account/password/auth-methods", _model(AuthMethods),
        token=access_token,
    )


def set_or_change_password(
    access_token: str, new_password: str, current_password: str | None = None,
    mfa_code: str | None = None, sensitive_action_token: str | None = None,
) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/account/password/set-or-change {newPassword, currentPassword?,
    mfaCode?, sensitiveActionToken?}`` (the token is this server's: an account without a
    password proves itself with it)."""
    body = {"newPassword": new_password}
    if current_password is not None:
        body["currentPassword"] = current_password
    if mfa_code is not None:
        body["mfaCode"] = mfa_code
    if sensitive_action_token is not None:
        body["sensitiveActionToken"] = sensitive_action_token
    return _request(
        "POST", "/api/auth/account/password/set-or-change", _message, token=access_token,
        json=body,
    )


# -- two-factor sign-in ---------------------------------------------------------------------


def _proof(password: str | None, sensitive_action_token: str | None) -> dict[str, str]:
    if (password is None) == (sensitive_action_token is None):
        raise ValueError("give exactly one of password and sensitive_action_token")
    if password is not None:
        return {"password": password}
    return {"sensitiveActionToken": _text(sensitive_action_token, "sensitive_action_token")}


def setup_mfa(
    access_token: str, password: str | None = None, sensitive_action_token: str | None = None
) -> ApiRequest[MfaSetup]:
    """``POST /api/auth/mfa/setup {password? | sensitiveActionToken?}``."""
    return _request(
        "POST", "/api/auth/mfa/setup", _model(MfaSetup), token=access_token,
        json=_proof(password, sensitive_action_token),
    )


def verify_mfa_setup(access_token: str, code: str) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/mfa/verify-setup {code}``: MFA is on."""
    return _request(
        "POST", "/api/auth/mfa/verify-setup", _message, token=access_token,
        json={"code": _text(code, "code")},
    )


def disable_mfa(
    access_token: str, mfa_code: str, password: str | None = None,
    sensitive_action_token: str | None = None,
) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/mfa/disable {password? | sensitiveActionToken?, mfaCode}``."""
    body = {**_proof(password, sensitive_action_token), "mfaCode": _text(mfa_code, "mfa_code")}
    return _request("POST", "/api/auth/mfa/disable", _message, token=access_token, json=body)


def regenerate_backup_codes(
    access_token: str, mfa_code: str, password: str | None = None,
    sensitive_action_token: str | None = None,
) -> ApiRequest[BackupCodes]:
    """``POST /api/auth/mfa/regenerate-backup-codes {..., mfaCode}``: ``{backupCodes}``."""
    body = {**_proof(password, sensitive_action_token), "mfaCode": _text(mfa_code, "mfa_code")}
    return _request(
        "POST", "/api/auth/mfa/regenerate-backup-codes", _model(BackupCodes),
        token=access_token, json=body,
    )


def login_mfa(
    mfa_token: str, clock: Clock, code: str | None = None, backup_code: str | None = None
) -> ApiRequest[TokenSet]:
    """``POST /api/auth/login/mfa {mfaToken, code? | backupCode?}``: the token pair."""
    if (code is None) == (backup_code is None):
        raise ValueError("give exactly one of code and backup_code")
    body = {"mfaToken": _text(mfa_token, "mfa_token")}
    if code is not None:
        body["code"] = _text(code, "code")
    else:
        body["backupCode"] = _text(backup_code, "backup_code")
    return _request("POST", "/api/auth/login/mfa", _token_set(clock), json=body)


# -- sensitive actions ---------------------------------------------------------------------


def initiate_sensitive_action(
    access_token: str, action: str
) -> ApiRequest[InitiateSensitiveActionResponse]:
    """``POST /api/auth/account/sensitive-action/initiate {action}``."""
    return _request(
        "POST", _SENSITIVE + "initiate", _model(InitiateSensitiveActionResponse),
        token=access_token, json={"action": _text(action, "action")},
    )


def send_sensitive_action_code(access_token: str, action: str) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/account/sensitive-action/send-code {action}``."""
    return _request(
        "POST", _SENSITIVE + "send-code", _message, token=access_token,
        json={"action": _text(action, "action")},
    )


def verify_sensitive_action_code(
    access_token: str, action: str, code: str
) -> ApiRequest[SensitiveActionToken]:
    """``POST /api/auth/account/sensitive-action/verify-code {action, code}``."""
    return _request(
        "POST", _SENSITIVE + "verify-code", _model(SensitiveActionToken), token=access_token,
        json={"action": _text(action, "action"), "code": _text(code, "code")},
    )


# -- the security log ----------------------------------------------------------------------


def get_security_activities(
    access_token: str, limit: int | None = None, offset: int | None = None,
    activity_type: str | None = None,
) -> ApiRequest[SecurityActivities]:
    """``GET /api/security/activity?limit=&offset=&activityType=`` (each only when given,
    as the Node client sends them)."""
    params: dict[str, str] = {}
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError("limit must be an int of at least 1")
        params["limit"] = str(limit)
    if offset is not None:
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError("offset must be an int of at least 0")
        params["offset"] = str(offset)
    if activity_type:
        params["activityType"] = activity_type
    return _request(
        "GET", "/api/security/activity", _model(SecurityActivities), token=access_token,
        params=params or None,
    )


# -- email verification, password reset, email change -------------------------------------


def verify_email(
    access_token: str | None = None, token: str | None = None, code: str | None = None
) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/email/verify {token}`` or ``{code}``: exactly one of them.

    The link's token names the account (no access token needed); a code is the signed-in
    user's, so it needs ``access_token``.
    """
    if (token is None) == (code is None):
        raise ValueError("give the link's token or the 6-digit code, not both or neither")
    if token is not None:
        body = {"token": _text(token, "token")}
    else:
        if access_token is None:
            raise ValueError("a code needs the signed-in user's access_token")
        body = {"code": _text(code, "code")}
    bearer: object = _PUBLIC if access_token is None else access_token
    return _request("POST", "/api/auth/email/verify", _message, token=bearer, json=body)


def resend_verification_email(access_token: str) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/email/verify/resend`` (202)."""
    return _request("POST", "/api/auth/email/verify/resend", _message, token=access_token)


def forgot_password(email: str) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/password/forgot {email}`` (no authentication; always 202)."""
    return _request(
        "POST", "/api/auth/password/forgot", _message, json={"email": _text(email, "email")}
    )


def reset_password(token: str, new_password: str) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/password/reset {token, newPassword}`` (no authentication)."""
    body = {"token": _text(token, "token"), "newPassword": new_password}
    return _request("POST", "/api/auth/password/reset", _message, json=body)


def request_email_change(
    access_token: str, new_email: str, password: str
) -> ApiRequest[MessageResponse]:
    """``POST /api/user/email/change {newEmail, password}`` (202)."""
    body = {"newEmail": _text(new_email, "new_email"), "password": password}
    return _request("POST", "/api/user/email/change", _message, token=access_token, json=body)


def confirm_email_change(token: str) -> ApiRequest[MessageResponse]:
    """``POST /api/user/email/change/confirm {token}`` (no authentication): the link
    mailed to the new address."""
    return _request(
        "POST", "/api/user/email/change/confirm", _message,
        json={"token": _text(token, "token")},
    )
