"""The module-level functions of ``tekcify_auth``: sync shortcuts over a default client.

The default :class:`AuthClient` is built on first use from ``$AUTH_SERVER_URL`` (read
then, not at import), once even when threads race for it. Replace it with
:func:`set_default_client` (for other timeouts, retries or the introspection cache),
and close it with :func:`close_default_client`.

>>> import tekcify_auth
>>> profile = tekcify_auth.get_user_profile(access_token)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ._account_models import (
    AuthMethods,
    BackupCodes,
    ExportedUserData,
    InitiateSensitiveActionResponse,
    MfaChallenge,
    MfaSetup,
    Passkey,
    PasskeyLoginOptions,
    PasskeyRegistrationOptions,
    SecurityActivities,
    SensitiveActionToken,
)
from ._client import AuthClient
from ._client_models import (
    Application,
    ConnectedApp,
    CreateApplicationData,
    CreateApplicationResponse,
    IntrospectResult,
    LogoUploadResponse,
    MessageResponse,
    Page,
    RegenerateSecretResponse,
    Session,
    TokenSet,
    UpdateApplicationData,
    UpdateProfileData,
    UploadResponse,
    UserInfo,
    UserProfile,
)
from ._uploads import FileInput

__all__ = [
    "SHORTCUTS",
    "change_password",
    "close_default_client",
    "confirm_email_change",
    "create_application",
    "delete_account",
    "delete_application",
    "delete_passkey",
    "disable_mfa",
    "export_user_data",
    "fetch_user_info",
    "forgot_password",
    "get_application_by_client_id",
    "get_auth_methods",
    "get_default_client",
    "get_security_activities",
    "get_user_profile",
    "initiate_sensitive_action",
    "introspect_token",
    "list_applications",
    "list_connected_apps",
    "list_passkeys",
    "list_sessions",
    "login",
    "login_mfa",
    "logout",
    "passkey_login",
    "passkey_login_options",
    "passkey_registration_options",
    "refresh_tokens",
    "regenerate_application_secret",
    "regenerate_backup_codes",
    "register",
    "register_passkey",
    "rename_passkey",
    "request_email_change",
    "resend_verification_email",
    "reset_password",
    "revoke_all_sessions",
    "revoke_connected_app",
    "revoke_session",
    "send_sensitive_action_code",
    "set_default_client",
    "set_or_change_password",
    "setup_mfa",
    "update_application",
    "update_user_profile",
    "upload_application_logo",
    "upload_profile_picture",
    "verify_email",
    "verify_mfa_setup",
    "verify_sensitive_action_code",
]

_lock = threading.Lock()
_default: AuthClient | None = None
# Whether _default was built here (and so is closed here when replaced).
_built = False


def get_default_client() -> AuthClient:
    """The shared :class:`AuthClient` the module-level functions use.

    Built on first use from ``$AUTH_SERVER_URL``; raises
    :class:`~tekcify_auth.ConfigurationError` when that has no ``http(s)://`` scheme.
    """
    global _default, _built
    client = _default
    if client is None:
        with _lock:
            client = _default
            if client is None:
                client = _default = AuthClient()
                _built = True
    return client


def set_default_client(client: AuthClient | None) -> None:
    """Make ``client`` the one the module-level functions use (``None``: build anew).

    A default client built here is closed; one that was passed in is left to its owner.

    >>> set_default_client(AuthClient("https://auth.example.com", retries=5))
    >>> get_default_client().retry.retries
    5
    >>> set_default_client(None)
    """
    global _default, _built
    with _lock:
        previous, owned = _default, _built
        _default, _built = client, False
    if previous is not None and owned and previous is not client:
        previous.close()


def close_default_client() -> None:
    """Close the default client's connections; the next call builds a new one."""
    set_default_client(None)


def fetch_user_info(access_token: str) -> UserInfo:
    """The OIDC claims of the token's user (``GET /api/oauth/userinfo``).

    Uses the default client; see :meth:`AuthClient.fetch_user_info`.
    """
    return get_default_client().fetch_user_info(access_token)


def introspect_token(
    token: str, client_id: str | None = None, client_secret: str | None = None
) -> IntrospectResult:
    """Ask the server whether ``token`` is active (RFC 7662).

    Uses the default client; see :meth:`AuthClient.introspect_token`.
    """
    return get_default_client().introspect_token(token, client_id, client_secret)


def get_user_profile(access_token: str) -> UserProfile:
    """The token's user's profile.

    Uses the default client; see :meth:`AuthClient.get_user_profile`.
    """
    return get_default_client().get_user_profile(access_token)


def update_user_profile(
    access_token: str, data: UpdateProfileData | Mapping[str, Any]
) -> UserProfile:
    """Change the user's first and last name; ``data`` is the model or a dict.

    Uses the default client; see :meth:`AuthClient.update_user_profile`.
    """
    return get_default_client().update_user_profile(access_token, data)


def upload_profile_picture(
    access_token: str, file: FileInput, file_name: str | None = None,
    content_type: str | None = None,
) -> UploadResponse:
    """Upload the user's picture: bytes, a path, or a binary file object.

    Uses the default client; see :meth:`AuthClient.upload_profile_picture`.
    """
    return get_default_client().upload_profile_picture(access_token, file, file_name, content_type)


def export_user_data(access_token: str) -> ExportedUserData:
    """Every record the server holds on the token's user.

    Uses the default client; see :meth:`AuthClient.export_user_data`.
    """
    return get_default_client().export_user_data(access_token)


def delete_account(
    access_token: str, password: str | None = None, sensitive_action_token: str | None = None,
    mfa_code: str | None = None,
) -> MessageResponse:
    """Delete the token's user with everything they own (the password or a sensitive-action
    token confirms it).

    Uses the default client; see :meth:`AuthClient.delete_account`.
    """
    return get_default_client().delete_account(
        access_token, password, sensitive_action_token, mfa_code
    )


def list_applications(access_token: str, page: int = 1, limit: int = 10) -> Page[Application]:
    """One page of the user's applications; ``.total`` counts all of them.

    Uses the default client; see :meth:`AuthClient.list_applications`.
    """
    return get_default_client().list_applications(access_token, page, limit)


def get_application_by_client_id(client_id: str) -> Application:
    """An application's public information (no token needed).

    Uses the default client; see :meth:`AuthClient.get_application_by_client_id`.
    """
    return get_default_client().get_application_by_client_id(client_id)


def create_application(
    access_token: str, data: CreateApplicationData | Mapping[str, Any]
) -> CreateApplicationResponse:
    """Register an application; its ``client_secret`` is shown only once.

    Uses the default client; see :meth:`AuthClient.create_application`.
    """
    return get_default_client().create_application(access_token, data)


def update_application(
    access_token: str, client_id: str, data: UpdateApplicationData | Mapping[str, Any]
) -> MessageResponse:
    """Change some of an application's fields.

    Uses the default client; see :meth:`AuthClient.update_application`.
    """
    return get_default_client().update_application(access_token, client_id, data)


def upload_application_logo(
    access_token: str, client_id: str, file: FileInput, file_name: str | None = None,
    content_type: str | None = None,
) -> LogoUploadResponse:
    """Upload an application's logo: bytes, a path, or a binary file object.

    Uses the default client; see :meth:`AuthClient.upload_application_logo`.
    """
    return get_default_client().upload_application_logo(
        access_token, client_id, file, file_name, content_type
    )


def delete_application(access_token: str, client_id: str) -> MessageResponse:
    """Delete an application; its tokens and consents are revoked.

    Uses the default client; see :meth:`AuthClient.delete_application`.
    """
    return get_default_client().delete_application(access_token, client_id)


def regenerate_application_secret(access_token: str, client_id: str) -> RegenerateSecretResponse:
    """A new client secret for an application; the old one stops working.

    Uses the default client; see :meth:`AuthClient.regenerate_application_secret`.
    """
    return get_default_client().regenerate_application_secret(access_token, client_id)


def list_connected_apps(access_token: str) -> list[ConnectedApp]:
    """The applications the token's user consented to.

    Uses the default client; see :meth:`AuthClient.list_connected_apps`.
    """
    return get_default_client().list_connected_apps(access_token)


def revoke_connected_app(access_token: str, client_id: str) -> MessageResponse:
    """Withdraw the user's consent to an application and revoke its tokens.

    Uses the default client; see :meth:`AuthClient.revoke_connected_app`.
    """
    return get_default_client().revoke_connected_app(access_token, client_id)


def register(
    email: str, password: str, first_name: str | None = None, last_name: str | None = None
) -> UserProfile:
    """Create an account.

    Uses the default client; see :meth:`AuthClient.register`.
    """
    return get_default_client().register(email, password, first_name, last_name)


def login(email: str, password: str) -> TokenSet | MfaChallenge:
    """Sign in with email and password: a new session and its token pair.

    Uses the default client; see :meth:`AuthClient.login`.
    """
    return get_default_client().login(email, password)


def refresh_tokens(refresh_token: str) -> TokenSet:
    """Rotate a refresh token: a new pair, the old one used up.

    Uses the default client; see :meth:`AuthClient.refresh_tokens`.
    """
    return get_default_client().refresh_tokens(refresh_token)


def change_password(
    access_token: str, current_password: str, new_password: str, mfa_code: str | None = None
) -> MessageResponse:
    """Set a new password; the user's other sessions are revoked.

    Uses the default client; see :meth:`AuthClient.change_password`.
    """
    return get_default_client().change_password(
        access_token, current_password, new_password, mfa_code
    )


def list_sessions(access_token: str) -> list[Session]:
    """The user's live sessions.

    Uses the default client; see :meth:`AuthClient.list_sessions`.
    """
    return get_default_client().list_sessions(access_token)


def revoke_session(access_token: str, session_id: str) -> MessageResponse:
    """End one of the user's sessions.

    Uses the default client; see :meth:`AuthClient.revoke_session`.
    """
    return get_default_client().revoke_session(access_token, session_id)


def revoke_all_sessions(access_token: str) -> MessageResponse:
    """End every session of the user but the token's own.

    Uses the default client; see :meth:`AuthClient.revoke_all_sessions`.
    """
    return get_default_client().revoke_all_sessions(access_token)


def logout(access_token: str) -> MessageResponse:
    """End the token's session and revoke its refresh token.

    Uses the default client; see :meth:`AuthClient.logout`.
    """
    return get_default_client().logout(access_token)


# -- account security (issue 13) ----------------------------------------------------------


def get_auth_methods(access_token: str) -> AuthMethods:
    """Whether the user has a password, and the upstream providers linked to them.

    Uses the default client; see :meth:`AuthClient.get_auth_methods`.
    """
    return get_default_client().get_auth_methods(access_token)


def set_or_change_password(
    access_token: str, new_password: str, current_password: str | None = None,
    mfa_code: str | None = None, sensitive_action_token: str | None = None,
) -> MessageResponse:
    """Set a password on an account that has none, or change it.

    Uses the default client; see :meth:`AuthClient.set_or_change_password`.
    """
    return get_default_client().set_or_change_password(
        access_token, new_password, current_password, mfa_code, sensitive_action_token
    )


def initiate_sensitive_action(access_token: str, action: str) -> InitiateSensitiveActionResponse:
    """Ask how the user can confirm a sensitive ``action``.

    Uses the default client; see :meth:`AuthClient.initiate_sensitive_action`.
    """
    return get_default_client().initiate_sensitive_action(access_token, action)


def send_sensitive_action_code(access_token: str, action: str) -> MessageResponse:
    """Mail the user a 6-digit code that confirms ``action``.

    Uses the default client; see :meth:`AuthClient.send_sensitive_action_code`.
    """
    return get_default_client().send_sensitive_action_code(access_token, action)


def verify_sensitive_action_code(
    access_token: str, action: str, code: str
) -> SensitiveActionToken:
    """Trade the mailed code for a short-lived token bound to ``action``.

    Uses the default client; see :meth:`AuthClient.verify_sensitive_action_code`.
    """
    return get_default_client().verify_sensitive_action_code(access_token, action, code)


def get_security_activities(
    access_token: str, limit: int | None = None, offset: int | None = None,
    activity_type: str | None = None,
) -> SecurityActivities:
    """One page of the user's security log.

    Uses the default client; see :meth:`AuthClient.get_security_activities`.
    """
    return get_default_client().get_security_activities(access_token, limit, offset, activity_type)


def verify_email(
    access_token: str | None = None, token: str | None = None, code: str | None = None
) -> MessageResponse:
    """Verify the user's email with the link's token (no access token needed) or the
    mailed code (with the user's access token).

    Uses the default client; see :meth:`AuthClient.verify_email`.
    """
    return get_default_client().verify_email(access_token, token, code)


def resend_verification_email(access_token: str) -> MessageResponse:
    """Mail the verification link and code again.

    Uses the default client; see :meth:`AuthClient.resend_verification_email`.
    """
    return get_default_client().resend_verification_email(access_token)


def forgot_password(email: str) -> MessageResponse:
    """Ask for a password-reset mail; the answer never says whether the email has an account.

    Uses the default client; see :meth:`AuthClient.forgot_password`.
    """
    return get_default_client().forgot_password(email)


def reset_password(token: str, new_password: str) -> MessageResponse:
    """Set a new password with the mailed reset token; every session is revoked.

    Uses the default client; see :meth:`AuthClient.reset_password`.
    """
    return get_default_client().reset_password(token, new_password)


def request_email_change(access_token: str, new_email: str, password: str) -> MessageResponse:
    """Ask to move the account to ``new_email`` (confirmed by mail).

    Uses the default client; see :meth:`AuthClient.request_email_change`.
    """
    return get_default_client().request_email_change(access_token, new_email, password)


def confirm_email_change(token: str) -> MessageResponse:
    """Confirm an email change with the token mailed to the new address.

    Uses the default client; see :meth:`AuthClient.confirm_email_change`.
    """
    return get_default_client().confirm_email_change(token)


def login_mfa(
    mfa_token: str, code: str | None = None, backup_code: str | None = None
) -> TokenSet:
    """Complete a login that answered an :class:`~tekcify_auth.MfaChallenge`.

    Uses the default client; see :meth:`AuthClient.login_mfa`.
    """
    return get_default_client().login_mfa(mfa_token, code, backup_code)


def setup_mfa(
    access_token: str, password: str | None = None, sensitive_action_token: str | None = None
) -> MfaSetup:
    """Start setting up TOTP: secret, QR code and backup codes.

    Uses the default client; see :meth:`AuthClient.setup_mfa`.
    """
    return get_default_client().setup_mfa(access_token, password, sensitive_action_token)


def verify_mfa_setup(access_token: str, code: str) -> MessageResponse:
    """Turn two-factor sign-in on with a code of the authenticator just set up.

    Uses the default client; see :meth:`AuthClient.verify_mfa_setup`.
    """
    return get_default_client().verify_mfa_setup(access_token, code)


def disable_mfa(
    access_token: str, mfa_code: str, password: str | None = None,
    sensitive_action_token: str | None = None,
) -> MessageResponse:
    """Turn two-factor sign-in off.

    Uses the default client; see :meth:`AuthClient.disable_mfa`.
    """
    return get_default_client().disable_mfa(
        access_token, mfa_code, password, sensitive_action_token
    )


def regenerate_backup_codes(
    access_token: str, mfa_code: str, password: str | None = None,
    sensitive_action_token: str | None = None,
) -> BackupCodes:
    """Ten new backup codes; the old ones stop working.

    Uses the default client; see :meth:`AuthClient.regenerate_backup_codes`.
    """
    return get_default_client().regenerate_backup_codes(
        access_token, mfa_code, password, sensitive_action_token
    )
def passkey_registration_options(access_token: str) -> PasskeyRegistrationOptions:
    """Options for registering a passkey and their challenge.

    Uses the default client; see :meth:`AuthClient.passkey_registration_options`.
    """
    return get_default_client().passkey_registration_options(access_token)


def register_passkey(
    access_token: str, credential: Mapping[str, Any], challenge: str, name: str | None = None
) -> Passkey:
    """Register a new passkey from its credential's JSON.

    Uses the default client; see :meth:`AuthClient.register_passkey`.
    """
    return get_default_client().register_passkey(access_token, credential, challenge, name)


def list_passkeys(access_token: str) -> list[Passkey]:
    """The user's passkeys, oldest first.

    Uses the default client; see :meth:`AuthClient.list_passkeys`.
    """
    return get_default_client().list_passkeys(access_token)


def delete_passkey(access_token: str, credential_id: str) -> MessageResponse:
    """Remove a passkey.

    Uses the default client; see :meth:`AuthClient.delete_passkey`.
    """
    return get_default_client().delete_passkey(access_token, credential_id)


def rename_passkey(access_token: str, credential_id: str, name: str) -> Passkey:
    """Rename a passkey.

    Uses the default client; see :meth:`AuthClient.rename_passkey`.
    """
    return get_default_client().rename_passkey(access_token, credential_id, name)


def passkey_login_options(mfa_token: str | None = None) -> PasskeyLoginOptions:
    """Options for signing in with a passkey and their challenge.

    Uses the default client; see :meth:`AuthClient.passkey_login_options`.
    """
    return get_default_client().passkey_login_options(mfa_token)


def passkey_login(
    credential: Mapping[str, Any], challenge: str, mfa_token: str | None = None
) -> TokenSet:
    """Sign in with a passkey's assertion: a token pair.

    Uses the default client; see :meth:`AuthClient.passkey_login`.
    """
    return get_default_client().passkey_login(credential, challenge, mfa_token)


#: The names of the shortcuts, the same as the :class:`AuthClient` methods they call.
SHORTCUTS = (
    "fetch_user_info",
    "introspect_token",
    "get_user_profile",
    "update_user_profile",
    "upload_profile_picture",
    "export_user_data",
    "delete_account",
    "list_applications",
    "get_application_by_client_id",
    "create_application",
    "update_application",
    "upload_application_logo",
    "delete_application",
    "regenerate_application_secret",
    "list_connected_apps",
    "revoke_connected_app",
    "register",
    "login",
    "login_mfa",
    "refresh_tokens",
    "change_password",
    "list_sessions",
    "revoke_session",
    "revoke_all_sessions",
    "logout",
    "get_auth_methods",
    "set_or_change_password",
    "setup_mfa",
    "verify_mfa_setup",
    "disable_mfa",
    "regenerate_backup_codes",
    "initiate_sensitive_action",
    "send_sensitive_action_code",
    "verify_sensitive_action_code",
    "get_security_activities",
    "verify_email",
    "resend_verification_email",
    "forgot_password",
    "reset_password",
    "request_email_change",
    "confirm_email_change",
    "passkey_registration_options",
    "register_passkey",
    "list_passkeys",
    "delete_passkey",
    "rename_passkey",
    "passkey_login_options",
    "passkey_login",
)
