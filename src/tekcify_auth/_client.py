"""AuthClient and AsyncAuthClient: every call to the auth server, sync and async.

The two are twins over ``_requests.py``: each method builds an
:class:`~tekcify_auth._requests.ApiRequest`, and :meth:`_send` sends it, reads the body
(capped), tries again when :class:`~tekcify_auth.RetryPolicy` says so, and returns
what the request parses. They differ only where async demands.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Final, TypeVar

import httpx

from . import _account_requests, _passkey_requests, _requests
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
from ._config import auth_server_url
from ._errors import AuthServerInvalidResponse, AuthServerUnavailable, ConfigurationError
from ._requests import MAX_RESPONSE_BYTES, ApiRequest, ApiResponse, BodyReader
from ._retry import RetryPolicy
from ._uploads import FileInput
from ._version import __version__

__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "AsyncAuthClient", "AuthClient"]

T = TypeVar("T")

#: 5 s to connect, 10 s for each read, write and pool wait.
DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
#: Tries after the first, for idempotent requests only.
DEFAULT_RETRIES: Final = 2
_USER_AGENT: Final = f"tekcify-auth-python/{__version__}"


def check_base_url(base_url: str | None) -> str:
    """``base_url`` (default ``$AUTH_SERVER_URL``) without its trailing slash.

    Raises :class:`ConfigurationError` unless it is an ``http``/``https`` URL with a
    host and no query or fragment.
    """
    url = auth_server_url() if base_url is None else base_url
    hint = "; give the scheme and host, e.g. https://auth.example.com"
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(f"auth server URL {url!r} is not a URL: {exc}{hint}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigurationError(f"auth server URL {url!r} needs http:// or https://{hint}")
    if parsed.query or parsed.fragment:
        raise ConfigurationError(f"auth server URL {url!r} must have no query or fragment")
    return url.rstrip("/")


def _unavailable(base_url: str, exc: httpx.TransportError) -> AuthServerUnavailable:
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    detail = str(exc) or type(exc).__name__
    return AuthServerUnavailable(f"request to the auth server at {base_url} {what}: {detail}")


class _BaseClient:
    """What the twins share: settings, URL building, retry and cache decisions."""

    def __init__(
        self,
        base_url: str | None,
        *,
        timeout: float | httpx.Timeout,
        retries: int | RetryPolicy,
        max_response_bytes: int,
        headers: Mapping[str, str] | None,
        introspection_cache_ttl: float | None,
        introspection_inactive_ttl: float,
        introspection_cache_size: int,
        clock: Callable[[], float] | None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.retry = retries if isinstance(retries, RetryPolicy) else RetryPolicy(retries)
        if max_response_bytes < 1:
            raise ConfigurationError("max_response_bytes must be at least 1")
        self.max_response_bytes = max_response_bytes
        self.clock: Callable[[], float] = time.time if clock is None else clock
        self._headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        self._headers.update(headers or {})
        self._introspection = _requests.IntrospectionCache(
            introspection_cache_ttl, introspection_inactive_ttl, introspection_cache_size,
            self.clock,
        )
        self._random: Callable[[], float] = random.random

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _build(self, http: httpx.Client | httpx.AsyncClient, request: ApiRequest[Any]) -> (
        httpx.Request
    ):
        return http.build_request(
            request.method, self.base_url + request.path, params=request.params,
            json=request.json, data=request.form, files=request.files,
            headers={**self._headers, **request.headers}, timeout=self.timeout,
        )

    def _reader(self, response: httpx.Response) -> BodyReader:
        return BodyReader(response.status_code, response.headers, self.max_response_bytes)

    def _retry_delay(
        self, request: ApiRequest[Any], attempt: int, outcome: ApiResponse | httpx.TransportError
    ) -> float | None:
        """How long to wait before trying ``request`` again, or ``None`` not to."""
        if isinstance(outcome, httpx.TransportError):
            return self.retry.after_error(request.idempotent, attempt, outcome, self._random())
        return self.retry.after_status(
            request.idempotent, attempt, outcome.status_code,
            outcome.headers.get("retry-after"), self.clock(), self._random(),
        )

    def _introspection_key(
        self, token: str, client_id: str | None, client_secret: str | None
    ) -> str | None:
        if self._introspection.ttl is None:
            return None
        return self._introspection.key(token, client_id, client_secret)

    def clear_introspection_cache(self) -> None:
        """Forget every remembered introspection answer."""
        self._introspection.clear()


def _undecodable(response: httpx.Response, exc: httpx.DecodingError) -> AuthServerInvalidResponse:
    return AuthServerInvalidResponse(response.status_code, f"the body could not be decoded: {exc}")


class AuthClient(_BaseClient):
    """A client of the Tekcify Auth server, for sync code (Flask, Django, scripts).

    ``base_url`` defaults to ``$AUTH_SERVER_URL`` (read now, not at import);
    ``timeout`` is seconds or an :class:`httpx.Timeout` (default 5 s to connect, 10 s
    per read); ``retries`` is how many times an idempotent request is tried again
    after a connection failure or a 429/502/503/504 answer, or a
    :class:`~tekcify_auth.RetryPolicy`. A 2xx body over ``max_response_bytes`` (10 MiB)
    is refused. ``introspection_cache_ttl`` (seconds; ``None``, the default, turns it
    off) keeps :meth:`introspect_token` answers: active ones until the earlier of the
    token's ``exp`` and the TTL, inactive ones ``introspection_inactive_ttl`` seconds.
    ``http_client`` is an :class:`httpx.Client` to send with (not closed by
    :meth:`close`), ``transport`` an httpx transport for the client built here;
    ``clock`` and ``sleep`` replace :func:`time.time` and :func:`time.sleep` in tests.

    One instance holds one connection pool and is safe to share between threads; close
    it with :meth:`close` or use it as a context manager. Every method raises
    :class:`~tekcify_auth.AuthServerError` for a non-2xx answer (``message`` is the
    server's), :class:`~tekcify_auth.AuthServerInvalidResponse` for a 2xx answer that
    is not the documented shape, and :class:`~tekcify_auth.AuthServerUnavailable` when
    the server cannot be reached in time.

    >>> with AuthClient("https://auth.example.com", timeout=3) as client:
    ...     client.base_url
    'https://auth.example.com'

    Raises :class:`~tekcify_auth.ConfigurationError` for a URL without ``http://`` or
    ``https://``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int | RetryPolicy = DEFAULT_RETRIES,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        headers: Mapping[str, str] | None = None,
        introspection_cache_ttl: float | None = None,
        introspection_inactive_ttl: float = 5.0,
        introspection_cache_size: int = 10_000,
        http_client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, retries=retries, max_response_bytes=max_response_bytes,
            headers=headers, introspection_cache_ttl=introspection_cache_ttl,
            introspection_inactive_ttl=introspection_inactive_ttl,
            introspection_cache_size=introspection_cache_size, clock=clock,
        )
        if http_client is not None and transport is not None:
            raise ConfigurationError("give http_client or transport, not both")
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(transport=transport, timeout=self.timeout)
        self._sleep = time.sleep if sleep is None else sleep

    def close(self) -> None:
        """Close the connection pool (not an ``http_client`` that was passed in)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> AuthClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, request: ApiRequest[T]) -> T:
        attempt = 0
        while True:
            outcome: ApiResponse | httpx.TransportError
            try:
                outcome = self._exchange(request)
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._retry_delay(request, attempt, outcome)
            if delay is None:
                if isinstance(outcome, httpx.TransportError):
                    raise _unavailable(self.base_url, outcome) from outcome
                return request.result(outcome)
            attempt += 1
            self._sleep(delay)

    def _exchange(self, request: ApiRequest[Any]) -> ApiResponse:
        response = self._http.send(self._build(self._http, request), stream=True)
        try:
            reader = self._reader(response)
            if not reader.truncated:
                for chunk in response.iter_bytes():
                    if not reader.feed(chunk):
                        break
        except httpx.DecodingError as exc:
            raise _undecodable(response, exc) from exc
        finally:
            response.close()
        return reader.response(response.reason_phrase)

    # -- OAuth: user info, introspection, connected apps -------------------------------------

    def fetch_user_info(self, access_token: str) -> UserInfo:
        """The OIDC claims of the token's user (``GET /api/oauth/userinfo``).

        >>> info = client.fetch_user_info(access_token)  # doctest: +SKIP
        >>> info.email, info.email_verified  # doctest: +SKIP
        """
        return self._send(_requests.fetch_user_info(access_token))

    def introspect_token(
        self, token: str, client_id: str | None = None, client_secret: str | None = None
    ) -> IntrospectResult:
        """Ask the server whether ``token`` is active (RFC 7662), as an OAuth client.

        Answers come from the introspection cache when it is on.
        """
        key = self._introspection_key(token, client_id, client_secret)
        if key is not None and (hit := self._introspection.get(key)) is not None:
            return hit
        result = self._send(_requests.introspect_token(token, client_id, client_secret))
        if key is not None:
            self._introspection.put(key, result)
        return result

    def list_connected_apps(self, access_token: str) -> list[ConnectedApp]:
        """The applications the token's user consented to."""
        return self._send(_requests.list_connected_apps(access_token))

    def revoke_connected_app(self, access_token: str, client_id: str) -> MessageResponse:
        """Withdraw the consent given to ``client_id`` and revoke its tokens for the user."""
        return self._send(_requests.revoke_connected_app(access_token, client_id))

    # -- the user's profile and account -----------------------------------------------------------

    def get_user_profile(self, access_token: str) -> UserProfile:
        """The token's user's profile (``GET /api/user/profile``)."""
        return self._send(_requests.get_user_profile(access_token))

    def update_user_profile(
        self, access_token: str, data: UpdateProfileData | Mapping[str, Any]
    ) -> UserProfile:
        """Change the first and last name; ``data`` is the model or a dict.

        >>> client.update_user_profile(token, {"first_name": "Ada"})  # doctest: +SKIP
        """
        return self._send(_requests.update_user_profile(access_token, data))

    def upload_profile_picture(
        self, access_token: str, file: FileInput, file_name: str | None = None,
        content_type: str | None = None,
    ) -> UploadResponse:
        """Upload the user's picture: bytes, a path, or a binary file object.

        ``file_name`` and ``content_type`` default to the path's name and the type the
        bytes announce (PNG, JPEG, GIF, WebP).
        """
        request = _requests.upload_profile_picture(access_token, file, file_name, content_type)
        return self._send(request)

    def export_user_data(self, access_token: str) -> ExportedUserData:
        """Every record the server holds on the token's user (2.2.12 ``ExportedUserData``).

        ``.raw`` is the JSON document as sent, and ``data["profile"]`` still reads it.
        """
        return self._send(_requests.export_user_data(access_token))

    def delete_account(
        self, access_token: str, password: str | None = None,
        sensitive_action_token: str | None = None, mfa_code: str | None = None,
    ) -> MessageResponse:
        """Delete the token's user with everything they own.

        The password, or a token from :meth:`verify_sensitive_action_code` for the
        action ``"delete_account"``, confirms it; ``mfa_code`` when MFA is on. Sends
        ``confirmDelete: true`` as the Node client does. Raises ``ValueError`` when
        neither ``password`` nor ``sensitive_action_token`` is given.
        """
        request = _requests.delete_account(
            access_token, password, sensitive_action_token, mfa_code
        )
        return self._send(request)

    # -- applications ------------------------------------------------------------------------------

    def list_applications(
        self, access_token: str, page: int = 1, limit: int = 10
    ) -> Page[Application]:
        """One page of the user's applications; ``.total`` is the count of all of them.

        Reads the 2.2.12 envelope (then ``.stats`` holds the active and inactive counts
        and ``.total_pages`` the page count) and the 2.0.4 bare array alike.
        """
        return self._send(_requests.list_applications(access_token, page, limit))

    def get_application_by_client_id(self, client_id: str) -> Application:
        """An application's public information (no token needed)."""
        return self._send(_requests.get_application_by_client_id(client_id))

    def create_application(
        self, access_token: str, data: CreateApplicationData | Mapping[str, Any]
    ) -> CreateApplicationResponse:
        """Register an application; the answer's ``client_secret`` is shown only once."""
        return self._send(_requests.create_application(access_token, data))

    def update_application(
        self, access_token: str, client_id: str, data: UpdateApplicationData | Mapping[str, Any]
    ) -> MessageResponse:
        """Change some of an application's fields; ``data`` is the model or a dict."""
        return self._send(_requests.update_application(access_token, client_id, data))

    def upload_application_logo(
        self, access_token: str, client_id: str, file: FileInput, file_name: str | None = None,
        content_type: str | None = None,
    ) -> LogoUploadResponse:
        """Upload an application's logo: bytes, a path, or a binary file object."""
        request = _requests.upload_application_logo(
            access_token, client_id, file, file_name, content_type
        )
        return self._send(request)

    def delete_application(self, access_token: str, client_id: str) -> MessageResponse:
        """Delete an application; its tokens and consents are revoked."""
        return self._send(_requests.delete_application(access_token, client_id))

    def regenerate_application_secret(
        self, access_token: str, client_id: str
    ) -> RegenerateSecretResponse:
        """A new client secret; the old one stops working."""
        return self._send(_requests.regenerate_application_secret(access_token, client_id))

    # -- first-party authentication and sessions ------------------------------------------------

    def register(
        self, email: str, password: str, first_name: str | None = None,
        last_name: str | None = None,
    ) -> UserProfile:
        """Create an account (409 when the email is taken)."""
        return self._send(_requests.register(email, password, first_name, last_name))

    def login(self, email: str, password: str) -> TokenSet | MfaChallenge:
        """Sign in with email and password: a new session and its token pair, or, when the
        account has two-factor sign-in on, an :class:`~tekcify_auth.MfaChallenge` (no
        tokens yet) to complete with :meth:`login_mfa`.

        >>> result = client.login("ada@example.com", password)  # doctest: +SKIP
        >>> if isinstance(result, MfaChallenge):  # doctest: +SKIP
        ...     result = client.login_mfa(result.mfa_token, code="123456")
        >>> result.access_token  # doctest: +SKIP
        """
        return self._send(_requests.login(email, password, self.clock))

    def login_mfa(
        self, mfa_token: str, code: str | None = None, backup_code: str | None = None
    ) -> TokenSet:
        """Complete a login that answered an :class:`~tekcify_auth.MfaChallenge`: its
        ``mfa_token`` and exactly one of a TOTP ``code`` or a ``backup_code``."""
        return self._send(_account_requests.login_mfa(mfa_token, self.clock, code, backup_code))

    def refresh_tokens(self, refresh_token: str) -> TokenSet:
        """Rotate a refresh token from :meth:`login`: a new pair, the old one used up."""
        return self._send(_requests.refresh_tokens(refresh_token, self.clock))

    def change_password(
        self, access_token: str, current_password: str, new_password: str,
        mfa_code: str | None = None,
    ) -> MessageResponse:
        """Set a new password; the user's other sessions are revoked.

        ``mfa_code`` is the current one-time code when the account has MFA on.
        """
        request = _requests.change_password(
            access_token, current_password, new_password, mfa_code
        )
        return self._send(request)

    def list_sessions(self, access_token: str) -> list[Session]:
        """The user's live sessions; ``current`` marks the token's own."""
        return self._send(_requests.list_sessions(access_token))

    def revoke_session(self, access_token: str, session_id: str) -> MessageResponse:
        """End one of the user's sessions."""
        return self._send(_requests.revoke_session(access_token, session_id))

    def revoke_all_sessions(self, access_token: str) -> MessageResponse:
        """End every session of the user but the token's own."""
        return self._send(_requests.revoke_all_sessions(access_token))

    def logout(self, access_token: str) -> MessageResponse:
        """End the token's session and revoke its refresh token."""
        return self._send(_requests.logout(access_token))

    # -- account security (issue 13): sign-in methods, sensitive actions, the security log,
    # email verification, password reset, email change ----------------------------------

    def get_auth_methods(self, access_token: str) -> AuthMethods:
        """Whether the user has a password, and the upstream providers linked to them."""
        return self._send(_account_requests.get_auth_methods(access_token))

    def set_or_change_password(
        self, access_token: str, new_password: str, current_password: str | None = None,
        mfa_code: str | None = None, sensitive_action_token: str | None = None,
    ) -> MessageResponse:
        """Change the password (``current_password``, and ``mfa_code`` when MFA is on),
        or set one on an account that has none: it proves itself with a
        ``sensitive_action_token`` for the action ``"set_password"``. The user's other
        sessions are revoked."""
        request = _account_requests.set_or_change_password(
            access_token, new_password, current_password, mfa_code, sensitive_action_token
        )
        return self._send(request)

    def setup_mfa(
        self, access_token: str, password: str | None = None,
        sensitive_action_token: str | None = None,
    ) -> MfaSetup:
        """Start setting up TOTP: the secret, its QR code and ten backup codes (shown once).

        Exactly one of ``password`` and ``sensitive_action_token``. MFA is on once
        :meth:`verify_mfa_setup` gets a code from the authenticator app.
        """
        request = _account_requests.setup_mfa(access_token, password, sensitive_action_token)
        return self._send(request)

    def verify_mfa_setup(self, access_token: str, code: str) -> MessageResponse:
        """Turn two-factor sign-in on with a code of the authenticator just set up."""
        return self._send(_account_requests.verify_mfa_setup(access_token, code))

    def disable_mfa(
        self, access_token: str, mfa_code: str, password: str | None = None,
        sensitive_action_token: str | None = None,
    ) -> MessageResponse:
        """Turn two-factor sign-in off: a TOTP or backup ``mfa_code``, and the password
        or a sensitive-action token."""
        request = _account_requests.disable_mfa(
            access_token, mfa_code, password, sensitive_action_token
        )
        return self._send(request)

    def regenerate_backup_codes(
        self, access_token: str, mfa_code: str, password: str | None = None,
        sensitive_action_token: str | None = None,
    ) -> BackupCodes:
        """Ten new backup codes (the old ones stop working), with the proofs of
        :meth:`disable_mfa`."""
        request = _account_requests.regenerate_backup_codes(
            access_token, mfa_code, password, sensitive_action_token
        )
        return self._send(request)

    def initiate_sensitive_action(
        self, access_token: str, action: str
    ) -> InitiateSensitiveActionResponse:
        """Ask how the user can confirm ``action`` (e.g. ``"delete_account"``): by
        password, by signing in again upstream, or by a mailed code.

        >>> start = client.initiate_sensitive_action(token, "delete_account")  # doctest: +SKIP
        >>> start.verification_methods.email.available  # doctest: +SKIP
        True
        """
        return self._send(_account_requests.initiate_sensitive_action(access_token, action))

    def send_sensitive_action_code(self, access_token: str, action: str) -> MessageResponse:
        """Mail the user a 6-digit code that confirms ``action``."""
        return self._send(_account_requests.send_sensitive_action_code(access_token, action))

    def verify_sensitive_action_code(
        self, access_token: str, action: str, code: str
    ) -> SensitiveActionToken:
        """Trade the mailed code for a short-lived, single-use token bound to ``action``.

        >>> proof = client.verify_sensitive_action_code(
        ...     token, "delete_account", "123456")  # doctest: +SKIP
        >>> client.delete_account(token, sensitive_action_token=proof.token)  # doctest: +SKIP
        """
        request = _account_requests.verify_sensitive_action_code(access_token, action, code)
        return self._send(request)

    def get_security_activities(
        self, access_token: str, limit: int | None = None, offset: int | None = None,
        activity_type: str | None = None,
    ) -> SecurityActivities:
        """One page of the user's security log (sign-ins, password changes, ...).

        ``limit``, ``offset`` and ``activity_type`` are sent only when given; the
        server's defaults apply otherwise.
        """
        request = _account_requests.get_security_activities(
            access_token, limit, offset, activity_type
        )
        return self._send(request)

    def verify_email(
        self, access_token: str | None = None, token: str | None = None,
        code: str | None = None,
    ) -> MessageResponse:
        """Verify the user's email with the link's ``token`` (no access token needed) or
        the mailed 6-digit ``code`` (with the user's ``access_token``): exactly one of
        them, else ``ValueError``.

        >>> client.verify_email(token=token_from_the_link)  # doctest: +SKIP
        >>> client.verify_email(access_token, code="123456")  # doctest: +SKIP
        """
        return self._send(_account_requests.verify_email(access_token, token, code))

    def resend_verification_email(self, access_token: str) -> MessageResponse:
        """Mail the verification link and code again (rate limited: 429)."""
        return self._send(_account_requests.resend_verification_email(access_token))

    def forgot_password(self, email: str) -> MessageResponse:
        """Ask for a password-reset mail (no token needed). The answer is the same
        whether or not ``email`` has an account."""
        return self._send(_account_requests.forgot_password(email))

    def reset_password(self, token: str, new_password: str) -> MessageResponse:
        """Set a new password with the mailed reset ``token`` (no access token needed);
        every session of the account is revoked."""
        return self._send(_account_requests.reset_password(token, new_password))

    def request_email_change(
        self, access_token: str, new_email: str, password: str
    ) -> MessageResponse:
        """Ask to move the account to ``new_email``: a confirmation is mailed there and
        a notice to the old address; nothing changes until it is confirmed."""
        request = _account_requests.request_email_change(access_token, new_email, password)
        return self._send(request)

    def confirm_email_change(self, token: str) -> MessageResponse:
        """Confirm an email change with the ``token`` mailed to the new address (no access
        token needed); the address changes now, and counts as verified."""
        return self._send(_account_requests.confirm_email_change(token))

    # -- passkeys (issue 14) ---------------------------------------------------------------

    def passkey_registration_options(self, access_token: str) -> PasskeyRegistrationOptions:
        """Options for ``navigator.credentials.create`` and the challenge to send back
        (single use, five minutes).

        >>> start = client.passkey_registration_options(token)  # doctest: +SKIP
        >>> credential = ...  # navigator.credentials.create({publicKey: start.options})
        >>> client.register_passkey(token, credential, start.challenge, "Laptop")  # doctest: +SKIP
        """
        return self._send(_passkey_requests.passkey_registration_options(access_token))

    def register_passkey(
        self, access_token: str, credential: Mapping[str, Any], challenge: str,
        name: str | None = None,
    ) -> Passkey:
        """Register the new ``credential`` (the ``PublicKeyCredential``'s JSON) made for
        ``challenge``; the server verifies it and answers the :class:`Passkey`."""
        request = _passkey_requests.register_passkey(access_token, credential, challenge, name)
        return self._send(request)

    def list_passkeys(self, access_token: str) -> list[Passkey]:
        """The user's passkeys, oldest first."""
        return self._send(_passkey_requests.list_passkeys(access_token))

    def delete_passkey(self, access_token: str, credential_id: str) -> MessageResponse:
        """Remove a passkey (409 when the account has no password and it is the last)."""
        return self._send(_passkey_requests.delete_passkey(access_token, credential_id))

    def rename_passkey(self, access_token: str, credential_id: str, name: str) -> Passkey:
        """Rename a passkey; the renamed :class:`Passkey`."""
        return self._send(_passkey_requests.rename_passkey(access_token, credential_id, name))

    def passkey_login_options(self, mfa_token: str | None = None) -> PasskeyLoginOptions:
        """Options for ``navigator.credentials.get`` (any passkey of this server) and the
        challenge to send back; ``mfa_token`` when the passkey is a second factor."""
        return self._send(_passkey_requests.passkey_login_options(mfa_token))

    def passkey_login(
        self, credential: Mapping[str, Any], challenge: str, mfa_token: str | None = None
    ) -> TokenSet:
        """Sign in with a passkey's assertion made for ``challenge``: a token pair, as
        :meth:`login` gives (its access token says ``amr: ["hwk", "user"]``)."""
        request = _passkey_requests.passkey_login(credential, challenge, self.clock, mfa_token)
        return self._send(request)


class AsyncAuthClient(_BaseClient):
    """The async twin of :class:`AuthClient`, for FastAPI, Starlette and asyncio code.

    The same arguments and methods, as coroutines; ``transport`` is an
    :class:`httpx.AsyncBaseTransport`, ``http_client`` an :class:`httpx.AsyncClient`,
    ``sleep`` a coroutine function (default :func:`asyncio.sleep`). Close it with
    :meth:`aclose` or ``async with``. Use one instance per event loop.

    >>> async def main() -> None:
    ...     async with AsyncAuthClient("https://auth.example.com") as client:
    ...         profile = await client.get_user_profile(access_token)
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retries: int | RetryPolicy = DEFAULT_RETRIES,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        headers: Mapping[str, str] | None = None,
        introspection_cache_ttl: float | None = None,
        introspection_inactive_ttl: float = 5.0,
        introspection_cache_size: int = 10_000,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, retries=retries, max_response_bytes=max_response_bytes,
            headers=headers, introspection_cache_ttl=introspection_cache_ttl,
            introspection_inactive_ttl=introspection_inactive_ttl,
            introspection_cache_size=introspection_cache_size, clock=clock,
        )
        if http_client is not None and transport is not None:
            raise ConfigurationError("give http_client or transport, not both")
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(transport=transport, timeout=self.timeout)
        self._sleep = asyncio.sleep if sleep is None else sleep

    async def aclose(self) -> None:
        """Close the connection pool (not an ``http_client`` that was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncAuthClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _send(self, request: ApiRequest[T]) -> T:
        attempt = 0
        while True:
            outcome: ApiResponse | httpx.TransportError
            try:
                outcome = await self._exchange(request)
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._retry_delay(request, attempt, outcome)
            if delay is None:
                if isinstance(outcome, httpx.TransportError):
                    raise _unavailable(self.base_url, outcome) from outcome
                return request.result(outcome)
            attempt += 1
            await self._sleep(delay)

    async def _exchange(self, request: ApiRequest[Any]) -> ApiResponse:
        response = await self._http.send(self._build(self._http, request), stream=True)
        try:
            reader = self._reader(response)
            if not reader.truncated:
                async for chunk in response.aiter_bytes():
                    if not reader.feed(chunk):
                        break
        except httpx.DecodingError as exc:
            raise _undecodable(response, exc) from exc
        finally:
            await response.aclose()
        return reader.response(response.reason_phrase)

    # -- OAuth: user info, introspection, connected apps -------------------------------------

    async def fetch_user_info(self, access_token: str) -> UserInfo:
        """The coroutine twin of :meth:`AuthClient.fetch_user_info`."""
        return await self._send(_requests.fetch_user_info(access_token))

    async def introspect_token(
        self, token: str, client_id: str | None = None, client_secret: str | None = None
    ) -> IntrospectResult:
        """The coroutine twin of :meth:`AuthClient.introspect_token`."""
        key = self._introspection_key(token, client_id, client_secret)
        if key is not None and (hit := self._introspection.get(key)) is not None:
            return hit
        result = await self._send(_requests.introspect_token(token, client_id, client_secret))
        if key is not None:
            self._introspection.put(key, result)
        return result

    async def list_connected_apps(self, access_token: str) -> list[ConnectedApp]:
        """The coroutine twin of :meth:`AuthClient.list_connected_apps`."""
        return await self._send(_requests.list_connected_apps(access_token))

    async def revoke_connected_app(self, access_token: str, client_id: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.revoke_connected_app`."""
        return await self._send(_requests.revoke_connected_app(access_token, client_id))

    # -- the user's profile and account -----------------------------------------------------------

    async def get_user_profile(self, access_token: str) -> UserProfile:
        """The coroutine twin of :meth:`AuthClient.get_user_profile`."""
        return await self._send(_requests.get_user_profile(access_token))

    async def update_user_profile(
        self, access_token: str, data: UpdateProfileData | Mapping[str, Any]
    ) -> UserProfile:
        """The coroutine twin of :meth:`AuthClient.update_user_profile`."""
        return await self._send(_requests.update_user_profile(access_token, data))

    async def upload_profile_picture(
        self, access_token: str, file: FileInput, file_name: str | None = None,
        content_type: str | None = None,
    ) -> UploadResponse:
        """The coroutine twin of :meth:`AuthClient.upload_profile_picture`.

        A path is read with a blocking read: uploads are at most a few MiB.
        """
        request = _requests.upload_profile_picture(access_token, file, file_name, content_type)
        return await self._send(request)

    async def export_user_data(self, access_token: str) -> ExportedUserData:
        """The coroutine twin of :meth:`AuthClient.export_user_data`."""
        return await self._send(_requests.export_user_data(access_token))

    async def delete_account(
        self, access_token: str, password: str | None = None,
        sensitive_action_token: str | None = None, mfa_code: str | None = None,
    ) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.delete_account`."""
        request = _requests.delete_account(
            access_token, password, sensitive_action_token, mfa_code
        )
        return await self._send(request)

    # -- applications ------------------------------------------------------------------------------

    async def list_applications(
        self, access_token: str, page: int = 1, limit: int = 10
    ) -> Page[Application]:
        """The coroutine twin of :meth:`AuthClient.list_applications`."""
        return await self._send(_requests.list_applications(access_token, page, limit))

    async def get_application_by_client_id(self, client_id: str) -> Application:
        """The coroutine twin of :meth:`AuthClient.get_application_by_client_id`."""
        return await self._send(_requests.get_application_by_client_id(client_id))

    async def create_application(
        self, access_token: str, data: CreateApplicationData | Mapping[str, Any]
    ) -> CreateApplicationResponse:
        """The coroutine twin of :meth:`AuthClient.create_application`."""
        return await self._send(_requests.create_application(access_token, data))

    async def update_application(
        self, access_token: str, client_id: str, data: UpdateApplicationData | Mapping[str, Any]
    ) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.update_application`."""
        return await self._send(_requests.update_application(access_token, client_id, data))

    async def upload_application_logo(
        self, access_token: str, client_id: str, file: FileInput, file_name: str | None = None,
        content_type: str | None = None,
    ) -> LogoUploadResponse:
        """The coroutine twin of :meth:`AuthClient.upload_application_logo`."""
        request = _requests.upload_application_logo(
            access_token, client_id, file, file_name, content_type
        )
        return await self._send(request)

    async def delete_application(self, access_token: str, client_id: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.delete_application`."""
        return await self._send(_requests.delete_application(access_token, client_id))

    async def regenerate_application_secret(
        self, access_token: str, client_id: str
    ) -> RegenerateSecretResponse:
        """The coroutine twin of :meth:`AuthClient.regenerate_application_secret`."""
        return await self._send(_requests.regenerate_application_secret(access_token, client_id))

    # -- first-party authentication and sessions ------------------------------------------------

    async def register(
        self, email: str, password: str, first_name: str | None = None,
        last_name: str | None = None,
    ) -> UserProfile:
        """The coroutine twin of :meth:`AuthClient.register`."""
        return await self._send(_requests.register(email, password, first_name, last_name))

    async def login(self, email: str, password: str) -> TokenSet | MfaChallenge:
        """The coroutine twin of :meth:`AuthClient.login`."""
        return await self._send(_requests.login(email, password, self.clock))

    async def login_mfa(
        self, mfa_token: str, code: str | None = None, backup_code: str | None = None
    ) -> TokenSet:
        """The coroutine twin of :meth:`AuthClient.login_mfa`."""
        request = _account_requests.login_mfa(mfa_token, self.clock, code, backup_code)
        return await self._send(request)

    async def refresh_tokens(self, refresh_token: str) -> TokenSet:
        """The coroutine twin of :meth:`AuthClient.refresh_tokens`."""
        return await self._send(_requests.refresh_tokens(refresh_token, self.clock))

    async def change_password(
        self, access_token: str, current_password: str, new_password: str,
        mfa_code: str | None = None,
    ) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.change_password`."""
        request = _requests.change_password(
            access_token, current_password, new_password, mfa_code
        )
        return await self._send(request)

    async def list_sessions(self, access_token: str) -> list[Session]:
        """The coroutine twin of :meth:`AuthClient.list_sessions`."""
        return await self._send(_requests.list_sessions(access_token))

    async def revoke_session(self, access_token: str, session_id: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.revoke_session`."""
        return await self._send(_requests.revoke_session(access_token, session_id))

    async def revoke_all_sessions(self, access_token: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.revoke_all_sessions`."""
        return await self._send(_requests.revoke_all_sessions(access_token))

    async def logout(self, access_token: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.logout`."""
        return await self._send(_requests.logout(access_token))

    # -- account security (issue 13): sign-in methods, sensitive actions, the security log,
    # email verification, password reset, email change ----------------------------------

    async def get_auth_methods(self, access_token: str) -> AuthMethods:
        """The coroutine twin of :meth:`AuthClient.get_auth_methods`."""
        return await self._send(_account_requests.get_auth_methods(access_token))

    async def set_or_change_password(
        self, access_token: str, new_password: str, current_password: str | None = None,
        mfa_code: str | None = None, sensitive_action_token: str | None = None,
    ) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.set_or_change_password`."""
        request = _account_requests.set_or_change_password(
            access_token, new_password, current_password, mfa_code, sensitive_action_token
        )
        return await self._send(request)

    async def setup_mfa(
        self, access_token: str, password: str | None = None,
        sensitive_action_token: str | None = None,
    ) -> MfaSetup:
        """The coroutine twin of :meth:`AuthClient.setup_mfa`."""
        request = _account_requests.setup_mfa(access_token, password, sensitive_action_token)
        return await self._send(request)

    async def verify_mfa_setup(self, access_token: str, code: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.verify_mfa_setup`."""
        return await self._send(_account_requests.verify_mfa_setup(access_token, code))

    async def disable_mfa(
        self, access_token: str, mfa_code: str, password: str | None = None,
        sensitive_action_token: str | None = None,
    ) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.disable_mfa`."""
        request = _account_requests.disable_mfa(
            access_token, mfa_code, password, sensitive_action_token
        )
        return await self._send(request)

    async def regenerate_backup_codes(
        self, access_token: str, mfa_code: str, password: str | None = None,
        sensitive_action_token: str | None = None,
    ) -> BackupCodes:
        """The coroutine twin of :meth:`AuthClient.regenerate_backup_codes`."""
        request = _account_requests.regenerate_backup_codes(
            access_token, mfa_code, password, sensitive_action_token
        )
        return await self._send(request)

    async def initiate_sensitive_action(
        self, access_token: str, action: str
    ) -> InitiateSensitiveActionResponse:
        """The coroutine twin of :meth:`AuthClient.initiate_sensitive_action`."""
        return await self._send(_account_requests.initiate_sensitive_action(access_token, action))

    async def send_sensitive_action_code(self, access_token: str, action: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.send_sensitive_action_code`."""
        return await self._send(_account_requests.send_sensitive_action_code(access_token, action))

    async def verify_sensitive_action_code(
        self, access_token: str, action: str, code: str
    ) -> SensitiveActionToken:
        """The coroutine twin of :meth:`AuthClient.verify_sensitive_action_code`."""
        request = _account_requests.verify_sensitive_action_code(access_token, action, code)
        return await self._send(request)

    async def get_security_activities(
        self, access_token: str, limit: int | None = None, offset: int | None = None,
        activity_type: str | None = None,
    ) -> SecurityActivities:
        """The coroutine twin of :meth:`AuthClient.get_security_activities`."""
        request = _account_requests.get_security_activities(
            access_token, limit, offset, activity_type
        )
        return await self._send(request)

    async def verify_email(
        self, access_token: str | None = None, token: str | None = None,
        code: str | None = None,
    ) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.verify_email`."""
        return await self._send(_account_requests.verify_email(access_token, token, code))

    async def resend_verification_email(self, access_token: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.resend_verification_email`."""
        return await self._send(_account_requests.resend_verification_email(access_token))

    async def forgot_password(self, email: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.forgot_password`."""
        return await self._send(_account_requests.forgot_password(email))

    async def reset_password(self, token: str, new_password: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.reset_password`."""
        return await self._send(_account_requests.reset_password(token, new_password))

    async def request_email_change(
        self, access_token: str, new_email: str, password: str
    ) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.request_email_change`."""
        request = _account_requests.request_email_change(access_token, new_email, password)
        return await self._send(request)

    async def confirm_email_change(self, token: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.confirm_email_change`."""
        return await self._send(_account_requests.confirm_email_change(token))


    # -- passkeys (issue 14) ---------------------------------------------------------------

    async def passkey_registration_options(
        self, access_token: str
    ) -> PasskeyRegistrationOptions:
        """The coroutine twin of :meth:`AuthClient.passkey_registration_options`."""
        return await self._send(_passkey_requests.passkey_registration_options(access_token))

    async def register_passkey(
        self, access_token: str, credential: Mapping[str, Any], challenge: str,
        name: str | None = None,
    ) -> Passkey:
        """The coroutine twin of :meth:`AuthClient.register_passkey`."""
        request = _passkey_requests.register_passkey(access_token, credential, challenge, name)
        return await self._send(request)

    async def list_passkeys(self, access_token: str) -> list[Passkey]:
        """The coroutine twin of :meth:`AuthClient.list_passkeys`."""
        return await self._send(_passkey_requests.list_passkeys(access_token))

    async def delete_passkey(self, access_token: str, credential_id: str) -> MessageResponse:
        """The coroutine twin of :meth:`AuthClient.delete_passkey`."""
        return await self._send(_passkey_requests.delete_passkey(access_token, credential_id))

    async def rename_passkey(
        self, access_token: str, credential_id: str, name: str
    ) -> Passkey:
        """The coroutine twin of :meth:`AuthClient.rename_passkey`."""
        request = _passkey_requests.rename_passkey(access_token, credential_id, name)
        return await self._send(request)

    async def passkey_login_options(self, mfa_token: str | None = None) -> PasskeyLoginOptions:
        """The coroutine twin of :meth:`AuthClient.passkey_login_options`."""
        return await self._send(_passkey_requests.passkey_login_options(mfa_token))

    async def passkey_login(
        self, credential: Mapping[str, Any], challenge: str, mfa_token: str | None = None
    ) -> TokenSet:
        """The coroutine twin of :meth:`AuthClient.passkey_login`."""
        request = _passkey_requests.passkey_login(credential, challenge, self.clock, mfa_token)
        return await self._send(request)
