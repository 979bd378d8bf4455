"""The module-level functions of ``tekcify_auth`` as coroutines, for async code.

Each function awaits the same method of a default :class:`~tekcify_auth.AsyncAuthClient`.
An async client belongs to the event loop it runs on, so there is one default per
running loop, built on first use from ``$AUTH_SERVER_URL`` and dropped with its loop.
Close it with :func:`close_default_client` before the loop ends (in a FastAPI lifespan,
for instance) so that its connections are closed cleanly.

>>> from tekcify_auth import aio
>>> profile = await aio.get_user_profile(access_token)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Mapping, MutableMapping
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
from ._client import AsyncAuthClient
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
# Loop -> (client, built here). Weak keys: a finished loop takes its client with it.
_clients: MutableMapping[asyncio.AbstractEventLoop, tuple[AsyncAuthClient, bool]] = (
    weakref.WeakKeyDictionary()
)
# Loops that cannot be weakly referenced (some C implementations) are held strongly.
_strong: dict[asyncio.AbstractEventLoop, tuple[AsyncAuthClient, bool]] = {}


def _table(loop: asyncio.AbstractEventLoop) -> MutableMapping[
    asyncio.AbstractEventLoop, tuple[AsyncAuthClient, bool]
]:
    try:
        weakref.ref(loop)
    except TypeError:
        return _strong
    return _clients


def get_default_client() -> AsyncAuthClient:
    """The running loop's default :class:`~tekcify_auth.AsyncAuthClient`.

    Built on first use from ``$AUTH_SERVER_URL``. Raises ``RuntimeError`` outside a
    running event loop.
    """
    loop = asyncio.get_running_loop()
    table = _table(loop)
    with _lock:
        entry = table.get(loop)
        if entry is None:
            entry = table[loop] = (AsyncAuthClient(), True)
    return entry[0]


async def set_default_client(client: AsyncAuthClient | None) -> None:
    """Make ``client`` the running loop's default (``None``: build anew on next use).

    A default client built here is closed; one that was passed in is left to its owner.
    """
    loop = asyncio.get_running_loop()
    table = _table(loop)
    with _lock:
        previous = table.pop(loop, None)
        if client is not None:
            table[loop] = (client, False)
    if previous is not None and previous[1] and previous[0] is not client:
        await previous[0].aclose()


async def close_default_client() -> None:
    """Close the running loop's default client; the next call builds a new one."""
    await set_default_client(None)


async def fetch_user_info(access_token: str) -> UserInfo:
    """The OIDC claims of the token's user (``GET /api/oauth/userinfo``).

    Uses the default client; see :meth:`AsyncAuthClient.fetch_user_info`.
    """
    return await get_default_client().fetch_user_info(access_token)


async def introspect_token(
    token: str, client_id: str | None = None, client_secret: str | None = None
) -> IntrospectResult:
    """Ask the server whether ``token`` is active (RFC 7662).

    Uses the default client; see :meth:`AsyncAuthClient.introspect_token`.
    """
    return await get_default_client().introspect_token(token, client_id, client_secret)


async def get_user_profile(access_token: str) -> UserProfile:
    """The token's user's profile.

    Uses the default client; see :meth:`AsyncAuthClient.get_user_profile`.
    """
    return await get_default_client().get_user_profile(access_token)


async def update_user_profile(
    access_token: str, data: UpdateProfileData | Mapping[str, Any]
) -> UserProfile:
    """Change the user's first and last name; ``data`` is the model or a dict.

    Uses the default client; see :meth:`AsyncAuthClient.update_user_profile`.
    """
    return await get_default_client().update_user_profile(access_token, data)


async def upload_profile_picture(
    access_token: str, file: FileInput, file_name: str | None = None,
    content_type: str | None = None,
) -> UploadResponse:
    """Upload the user's picture: bytes, a path, or a binary file object.

    Uses the default client; see :meth:`AsyncAuthClient.upload_profile_picture`.
    """
    return await get_default_client().upload_profile_picture(
        access_token, file, file_name, content_type
    )


async def export_user_data(access_token: str) -> ExportedUserData:
    """Every record the server holds on the token's user.

    Uses the default client; see :meth:`AsyncAuthClient.export_user_data`.
    """
    return await get_default_client().export_user_data(access_token)


async def delete_account(
    access_token: str, password: str | None = None, sensitive_action_token: str | None = None,
    mfa_code: str | None = None,
) -> MessageResponse:
    """Delete the token's user with everything they own (the password or a sensitive-action
    token confirms it).

    Uses the default client; see :meth:`AsyncAuthClient.delete_account`.
    """
    return await get_default_client().delete_account(
        access_token, password, sensitive_action_token, mfa_code
    )


async def list_applications(access_token: str, page: int = 1, limit: int = 10) -> Page[Application]:
    """One page of the user's applications; ``.total`` counts all of them.

    Uses the default client; see :meth:`AsyncAuthClient.list_applications`.
    """
    return await get_default_client().list_applications(access_token, page, limit)


async def get_application_by_client_id(client_id: str) -> Application:
    """An application's public information (no token needed).

    Uses the default client; see :meth:`AsyncAuthClient.get_application_by_client_id`.
    """
    return await get_default_client().get_application_by_client_id(client_id)


async def create_application(
    access_token: str, data: CreateApplicationData | Mapping[str, Any]
) -> CreateApplicationResponse:
    """Register an application; its ``client_secret`` is shown only once.

    Uses the default client; see :meth:`AsyncAuthClient.create_application`.
    """
    return await get_default_client().create_application(access_token, data)


async def update_application(
    access_token: str, client_id: str, data: UpdateApplicationData | Mapping[str, Any]
) -> MessageResponse:
    """Change some of an application's fields.

    Uses the default client; see :meth:`AsyncAuthClient.update_application`.
    """
    return await get_default_client().update_application(access_token, client_id, data)


async def upload_application_logo(
    access_token: str, client_id: str, file: FileInput, file_name: str | None = None,
    content_type: str | None = None,
) -> LogoUploadResponse:
    """Upload an application's logo: bytes, a path, or a binary file object.

    Uses the default client; see :meth:`AsyncAuthClient.upload_application_logo`.
    """
    return await get_default_client().upload_application_logo(
        access_token, client_id, file, file_name, content_type
    )


async def delete_application(access_token: str, client_id: str) -> MessageResponse:
    """Delete an application; its tokens and consents are revoked.

    Uses the default client; see :meth:`AsyncAuthClient.delete_application`.
    """
    return await get_default_client().delete_application(access_token, client_id)


async def regenerate_application_secret(
    access_token: str, client_id: str
) -> RegenerateSecretResponse:
    """A new client secret for an application; the old one stops working.

    Uses the default client; see :meth:`AsyncAuthClient.regenerate_application_secret`.
    """
    return await get_default_client().regenerate_application_secret(access_token, client_id)


async def list_connected_apps(access_token: str) -> list[ConnectedApp]:
    """The applications the token's user consented to.

    Uses the default client; see :meth:`AsyncAuthClient.list_connected_apps`.
    """
    return await get_default_client().list_connected_apps(access_token)


async def revoke_connected_app(access_token: str, client_id: str) -> MessageResponse:
    """Withdraw the user's consent to an application and revoke its tokens.

    Uses the default client; see :meth:`AsyncAuthClient.revoke_connected_app`.
    """
    return await get_default_client().revoke_connected_app(access_token, client_id)


async def register(
    email: str, password: str, first_name: str | None = None, last_name: str | None = None
) -> UserProfile:
    """Create an account.

    Uses the default client; see :meth:`AsyncAuthClient.register`.
    """
    return await get_default_client().register(email, password, first_name, last_name)


async def login(email: str, password: str) -> TokenSet | MfaChallenge:
    """Sign in with email and password: a new session and its token pair.

    Uses the default client; see :meth:`AsyncAuthClient.login`.
    """
    return await get_default_client().login(email, password)


async def refresh_tokens(refresh_token: str) -> TokenSet:
    """Rotate a refresh token: a new pair, the old one used up.

    Uses the default client; see :meth:`AsyncAuthClient.refresh_tokens`.
    """
    return await get_default_client().refresh_tokens(refresh_token)


async def change_password(
    access_token: str, current_password: str, new_password: str, mfa_code: str | None = None
) -> MessageResponse:
    """Set a new password; the user's other sessions are revoked.

    Uses the default client; see :meth:`AsyncAuthClient.change_password`.
    """
    return await get_default_client().change_password(
        access_token, current_password, new_password, mfa_code
    )


async def list_sessions(access_token: str) -> list[Session]:
    """The user's live sessions.

    Uses the default client; see :meth:`AsyncAuthClient.list_sessions`.
    """
    return await get_default_client().list_sessions(access_token)


async def revoke_session(access_token: str, session_id: str) -> MessageResponse:
    """End one of the user's sessions.

    Uses the default client; see :meth:`AsyncAuthClient.revoke_session`.
    """
    return await get_default_client().revoke_session(access_token, session_id)


async def revoke_all_sessions(access_token: str) -> MessageResponse:
    """End every session of the user but the token's own.

    Uses the default client; see :meth:`AsyncAuthClient.revoke_all_sessions`.
    """
    return await get_default_client().revoke_all_sessions(access_token)


async def logout(access_token: str) -> MessageResponse:
    """End the token's session and revoke its refresh token.

    Uses the default client; see :meth:`AsyncAuthClient.logout`.
    """
    return await get_default_client().logout(access_token)


# -- account security (issue 13) ----------------------------------------------------------


async def get_auth_methods(access_token: str) -> AuthMethods:
    """Whether the user has a password, and the upstream providers linked to them.

    Uses the default client; see :meth:`AsyncAuthClient.get_auth_methods`.
    """
    return await get_default_client().get_auth_methods(access_token)


async def set_or_change_password(
    access_token: str, new_password: str, current_password: str | None = None,
    mfa_code: str | None = None, sensitive_action_token: str | None = None,
) -> MessageResponse:
    """Set a password on an account that has none, or change it.

    Uses the default client; see :meth:`AsyncAuthClient.set_or_change_password`.
    """
    return await get_default_client().set_or_change_password(
        access_token, new_password, current_password, mfa_code, sensitive_action_token
    )


async def initiate_sensitive_action(
    access_token: str, action: str
) -> InitiateSensitiveActionResponse:
    """Ask how the user can confirm a sensitive ``action``.

    Uses the default client; see :meth:`AsyncAuthClient.initiate_sensitive_action`.
    """
    return await get_default_client().initiate_sensitive_action(access_token, action)


async def send_sensitive_action_code(access_token: str, action: str) -> MessageResponse:
    """Mail the user a 6-digit code that confirms ``action``.

    Uses the default client; see :meth:`AsyncAuthClient.send_sensitive_action_code`.
    """
    return await get_default_client().send_sensitive_action_code(access_token, action)


async def verify_sensitive_action_code(
    access_token: str, action: str, code: str
) -> SensitiveActionToken:
    """Trade the mailed code for a short-lived token bound to ``action``.

    Uses the default client; see :meth:`AsyncAuthClient.verify_sensitive_action_code`.
    """
    return await get_default_client().verify_sensitive_action_code(access_token, action, code)


async def get_security_activities(
    access_token: str, limit: int | None = None, offset: int | None = None,
    activity_type: str | None = None,
) -> SecurityActivities:
    """One page of the user's security log.

    Uses the default client; see :meth:`AsyncAuthClient.get_security_activities`.
    """
    return await get_default_client().get_security_activities(
        access_token, limit, offset, activity_type
    )


async def verify_email(
    access_token: str | None = None, token: str | None = None, code: str | None = None
) -> MessageResponse:
    """Verify the user's email with the link's token (no access token needed) or the
    mailed code (with the user's access token).

    Uses the default client; see :meth:`AsyncAuthClient.verify_email`.
    """
    return await get_default_client().verify_email(access_token, token, code)


async def resend_verification_email(access_token: str) -> MessageResponse:
    """Mail the verification link and code again.

    Uses the default client; see :meth:`AsyncAuthClient.resend_verification_email`.
    """
    return await get_default_client().resend_verification_email(access_token)


async def forgot_password(email: str) -> MessageResponse:
    """Ask for a password-reset mail; the answer never says whether the email has an account.

    Uses the default client; see :meth:`AsyncAuthClient.forgot_password`.
    """
    return await get_default_client().forgot_password(email)


async def reset_password(token: str, new_password: str) -> MessageResponse:
    """Set a new password with the mailed reset token; every session is revoked.

    Uses the default client; see :meth:`AsyncAuthClient.reset_password`.
    """
    return await get_default_client().reset_password(token, new_password)


async def request_email_change(
    access_token: str, new_email: str, password: str
) -> MessageResponse:
    """Ask to move the account to ``new_email`` (confirmed by mail).

    Uses the default client; see :meth:`AsyncAuthClient.request_email_change`.
    """
    return await get_default_client().request_email_change(access_token, new_email, password)


async def confirm_email_change(token: str) -> MessageResponse:
    """Confirm an email change with the token mailed to the new address.

    Uses the default client; see :meth:`AsyncAuthClient.confirm_email_change`.
    """
    return await get_default_client().confirm_email_change(token)


async def login_mfa(
    mfa_token: str, code: str | None = None, backup_code: str | None = None
) -> TokenSet:
    """Complete a login that answered an :class:`~tekcify_auth.MfaChallenge`.

    Uses the default client; see :meth:`AsyncAuthClient.login_mfa`.
    """
    return await get_default_client().login_mfa(mfa_token, code, backup_code)


async def setup_mfa(
    access_token: str, password: str | None = None, sensitive_action_token: str | None = None
) -> MfaSetup:
    """Start setting up TOTP: secret, QR code and backup codes.

    Uses the default client; see :meth:`AsyncAuthClient.setup_mfa`.
    """
    return await get_default_client().setup_mfa(access_token, password, sensitive_action_token)


async def verify_mfa_setup(access_token: str, code: str) -> MessageResponse:
    """Turn two-factor sign-in on with a code of the authenticator just set up.

    Uses the default client; see :meth:`AsyncAuthClient.verify_mfa_setup`.
    """
    return await get_default_client().verify_mfa_setup(access_token, code)


async def disable_mfa(
    access_token: str, mfa_code: str, password: str | None = None,
    sensitive_action_token: str | None = None,
) -> MessageResponse:
    """Turn two-factor sign-in off.

    Uses the default client; see :meth:`AsyncAuthClient.disable_mfa`.
    """
    return await get_default_client().disable_mfa(
        access_token, mfa_code, password, sensitive_action_token
    )


async def regenerate_backup_codes(
    access_token: str, mfa_code: str, password: str | None = None,
    sensitive_action_token: str | None = None,
) -> BackupCodes:
    """Ten new backup codes; the old ones stop working.

    Uses the default client; see :meth:`AsyncAuthClient.regenerate_backup_codes`.
    """
    return await get_default_client().regenerate_backup_codes(
        access_token, mfa_code, password, sensitive_action_token
    )
async def passkey_registration_options(access_token: str) -> PasskeyRegistrationOptions:
    """Options for registering a passkey and their challenge.

    Uses the default client; see :meth:`AsyncAuthClient.passkey_registration_options`.
    """
    return await get_default_client().passkey_registration_options(access_token)


async def register_passkey(
    access_token: str, credential: Mapping[str, Any], challenge: str, name: str | None = None
) -> Passkey:
    """Register a new passkey from its credential's JSON.

    Uses the default client; see :meth:`AsyncAuthClient.register_passkey`.
    """
    return await get_default_client().register_passkey(access_token, credential, challenge, name)


async def list_passkeys(access_token: str) -> list[Passkey]:
    """The user's passkeys, oldest first.

    Uses the default client; see :meth:`AsyncAuthClient.list_passkeys`.
    """
    return await get_default_client().list_passkeys(access_token)


async def delete_passkey(access_token: str, credential_id: str) -> MessageResponse:
    """Remove a passkey.

    Uses the default client; see :meth:`AsyncAuthClient.delete_passkey`.
    """
    return await get_default_client().delete_passkey(access_token, credential_id)


async def rename_passkey(access_token: str, credential_id: str, name: str) -> Passkey:
    """Rename a passkey.

    Uses the default client; see :meth:`AsyncAuthClient.rename_passkey`.
    """
    return await get_default_client().rename_passkey(access_token, credential_id, name)


async def passkey_login_options(mfa_token: str | None = None) -> PasskeyLoginOptions:
    """Options for signing in with a passkey and their challenge.

    Uses the default client; see :meth:`AsyncAuthClient.passkey_login_options`.
    """
    return await get_default_client().passkey_login_options(mfa_token)


async def passkey_login(
    credential: Mapping[str, Any], challenge: str, mfa_token: str | None = None
) -> TokenSet:
    """Sign in with a passkey's assertion: a token pair.

    Uses the default client; see :meth:`AsyncAuthClient.passkey_login`.
    """
    return await get_default_client().passkey_login(credential, challenge, mfa_token)
