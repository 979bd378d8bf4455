"""Typed models of the account-security calls (``http-api.md``, "Account security").

Their shapes are those of ``@tekcify/auth-backend`` 2.2.12 (``dist/security.d.ts`` and
``dist/user.d.ts``), written in the style of ``_client_models.py``: snake_case in Python,
camelCase on the wire, unknown fields kept, frozen.

>>> methods = AuthMethods.model_validate({"hasPassword": True, "oauthProviders": ["github"]})
>>> methods.has_password, methods.oauth_providers
(True, ['github'])
"""

from __future__ import annotations

from collections.abc import KeysView
from datetime import datetime
from typing import Any

from pydantic import Field, PrivateAttr, ValidatorFunctionWrapHandler, model_validator

from ._client_models import WireModel

__all__ = [
    "AuthMethods",
    "BackupCodes",
    "EmailVerificationMethod",
    "ExportedConnectedApp",
    "ExportedPasskey",
    "ExportedProfile",
    "ExportedSecurityActivity",
    "ExportedSocialProvider",
    "ExportedUserData",
    "InitiateSensitiveActionResponse",
    "MfaChallenge",
    "MfaSetup",
    "Passkey",
    "PasskeyLoginOptions",
    "PasskeyRegistrationOptions",
    "ReauthProvider",
    "SecurityActivities",
    "SecurityActivity",
    "SensitiveActionToken",
    "VerificationMethods",
]


class AuthMethods(WireModel):
    """``GET /api/auth/account/password/auth-methods``: how the user can sign in."""

    has_password: bool
    #: The upstream providers linked to the account (``"github"``, ``"google"``...).
    oauth_providers: list[str] = Field(default_factory=list)


# -- sensitive actions -------------------------------------------------------------------


class ReauthProvider(WireModel):
    """An upstream provider the user can sign in again with, to confirm an action."""

    provider: str
    reauth_url: str


class EmailVerificationMethod(WireModel):
    """Whether a code can be mailed to the user (``send_sensitive_action_code``)."""

    available: bool


class VerificationMethods(WireModel):
    """The ways the user can prove it is them before a sensitive action.

    A method the server did not name is ``None``.
    """

    password: bool | None = None
    oauth_providers: list[ReauthProvider] | None = None
    email: EmailVerificationMethod | None = None


class InitiateSensitiveActionResponse(WireModel):
    """``POST /api/auth/account/sensitive-action/initiate``."""

    requires_verification: bool
    verification_methods: VerificationMethods = Field(default_factory=VerificationMethods)


class SensitiveActionToken(WireModel):
    """``POST .../sensitive-action/verify-code``: ``{token}``.

    The token is short-lived, single use and bound to the user and the action; pass it
    as ``sensitive_action_token`` (for instance to ``delete_account``). It is left out of
    ``repr``.
    """

    token: str = Field(repr=False)


# -- two-factor sign-in ---------------------------------------------------------------------


class MfaSetup(WireModel):
    """``POST /api/auth/mfa/setup``: ``{secret, qrCodeUrl, backupCodes}``, shown once.

    ``qr_code_url`` is a ``data:image/png;base64,...`` QR code of the ``otpauth://`` URI;
    MFA is on once :meth:`~tekcify_auth.AuthClient.verify_mfa_setup` gets a code. The
    secret and the backup codes are left out of ``repr``.
    """

    secret: str = Field(repr=False)
    qr_code_url: str = Field(repr=False)
    backup_codes: list[str] = Field(repr=False)


class BackupCodes(WireModel):
    """``POST /api/auth/mfa/regenerate-backup-codes``: ten new single-use codes."""

    backup_codes: list[str] = Field(repr=False)


class MfaChallenge(WireModel):
    """What :meth:`~tekcify_auth.AuthClient.login` answers when the account has MFA on:
    no tokens yet. ``{mfaRequired: true, mfaToken, methods}``.

    Complete the sign-in with :meth:`~tekcify_auth.AuthClient.login_mfa` and
    ``mfa_token`` (5 minutes, single use) plus a TOTP code or a backup code. ``methods``
    lists what the account can answer with (``totp``, ``backup_code``, ``passkey``).

    >>> result = client.login(email, password)  # doctest: +SKIP
    >>> if isinstance(result, MfaChallenge):  # doctest: +SKIP
    ...     result = client.login_mfa(result.mfa_token, code=input("Code: "))
    """

    mfa_required: bool = True
    mfa_token: str = Field(repr=False)
    methods: list[str] = Field(default_factory=list)


# -- security activity ----------------------------------------------------------------------


class SecurityActivity(WireModel):
    """One event of the user's security log (sign-in, password change, ...)."""

    id: str
    user_id: str
    activity_type: str
    ip_address: str | None = None
    user_agent: str | None = None
    location: str | None = None
    device_type: str | None = None
    success: bool | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime


class SecurityActivities(WireModel):
    """``GET /api/security/activity``: one page of events, newest first, and the total."""

    activities: list[SecurityActivity] = Field(default_factory=list)
    total: int
    limit: int
    offset: int


# -- the data export -------------------------------------------------------------------------


class ExportedProfile(WireModel):
    """The account in a data export (2.2.12 ``ExportedUserData.profile``)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    avatar_url: str | None = None
    mfa_enabled: bool = False
    role: str | None = None
    email_verified_at: datetime | None = None
    last_login_at: datetime | None = None
    created_at: datetime | None = None


class ExportedConnectedApp(WireModel):
    """An application the user consented to, in a data export."""

    application_name: str
    scopes: list[str] = Field(default_factory=list)
    consented_at: datetime | None = None


class ExportedSocialProvider(WireModel):
    """An upstream account linked to the user, in a data export."""

    provider: str
    email: str | None = None
    connected_at: datetime | None = None


class ExportedPasskey(WireModel):
    """A passkey of the user (never its key), in a data export."""

    name: str | None = None
    device_type: str | None = None
    created_at: datetime | None = None
    last_used_at: datetime | None = None


class ExportedSecurityActivity(WireModel):
    """An event of the security log, in a data export."""

    activity_type: str
    ip_address: str | None = None
    location: str | None = None
    device_type: str | None = None
    success: bool | None = None
    created_at: datetime | None = None


class ExportedUserData(WireModel):
    """``GET /api/user/export-data``: every record the server holds on the user.

    The 2.2.12 ``ExportedUserData`` layout as typed fields; sections the server adds
    beyond it (this server also exports ``sessions``, ``applications``, ``consents``
    and ``images``) are in ``model_extra``. The document exactly as the server sent it
    is :attr:`raw`, and ``data["profile"]`` / ``data.get("sessions")`` read it, as they
    did when this call returned a plain dict.

    >>> data = ExportedUserData.model_validate(
    ...     {"profile": {"email": "a@example.com"}, "sessions": []})
    >>> data.profile.email, data["sessions"], data.connected_apps
    ('a@example.com', [], [])
    """

    #: ``None`` only for a server that sends no profile section.
    profile: ExportedProfile | None = None
    connected_apps: list[ExportedConnectedApp] = Field(default_factory=list)
    social_providers: list[ExportedSocialProvider] = Field(default_factory=list)
    passkeys: list[ExportedPasskey] = Field(default_factory=list)
    security_activity: list[ExportedSecurityActivity] = Field(default_factory=list)
    exported_at: datetime | None = None

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model = handler(data)
        if isinstance(data, dict) and isinstance(model, ExportedUserData):
            model._raw = data
        return model

    @property
    def raw(self) -> dict[str, Any]:
        """The export as the server sent it (JSON values: timestamps are strings)."""
        return self._raw

    def __getitem__(self, key: str) -> Any:
        """``data[key]``: a section of :attr:`raw`; raises ``KeyError`` when absent."""
        return self._raw[key]

    def __contains__(self, key: object) -> bool:
        return key in self._raw

    def get(self, key: str, default: Any = None) -> Any:
        """A section of :attr:`raw`, or ``default``."""
        return self._raw.get(key, default)

    def keys(self) -> KeysView[str]:
        """The names of the sections in :attr:`raw`."""
        return self._raw.keys()


# -- passkeys ----------------------------------------------------------------------------------


class PasskeyRegistrationOptions(WireModel):
    """``POST /api/auth/passkey/register/options``: the options to hand to
    ``navigator.credentials.create`` (WebAuthn's JSON, as the server wrote it) and the
    challenge to send back with the new credential (single use, five minutes)."""

    options: dict[str, Any]
    challenge: str


class PasskeyLoginOptions(WireModel):
    """``POST /api/auth/passkey/login/options``: the options for
    ``navigator.credentials.get`` and the challenge to send back with the assertion."""

    options: dict[str, Any]
    challenge: str


class Passkey(WireModel):
    """A passkey of the user (2.2.12 ``Passkey``); ``credential_id`` names it in calls."""

    id: str
    credential_id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
