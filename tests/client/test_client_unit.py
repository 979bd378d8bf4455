"""AuthClient and AsyncAuthClient over httpx.MockTransport: what goes on the wire, what
comes back, retries, limits, failures, the introspection cache and the default clients.

The end-to-end suite against the real server lives in tests/e2e; here the transport is
a scripted stand-in, so every edge (a proxy's HTML, a body that never ends, a refused
connection) can be produced on demand.
"""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

import tekcify_auth
from tekcify_auth import (
    AsyncAuthClient,
    AuthClient,
    AuthServerError,
    AuthServerInvalidResponse,
    AuthServerUnavailable,
    ConfigurationError,
    RetryPolicy,
    aio,
)
from tekcify_auth._default import SHORTCUTS

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16
PROFILE = {"userId": "u1", "email": "ada@example.com", "firstName": "Ada", "lastName": "L",
           "avatarUrl": None}
APP = {"clientId": "c1", "name": "App", "description": None, "logoUrl": None,
       "redirectUris": ["https://app.example/cb"], "authorizedOrigins": None,
       "scopes": ["openid"], "createdAt": "2025-01-31T12:00:00.000Z",
       "updatedAt": "2025-01-31T12:00:00.000Z"}
SESSION = {"id": "s1", "createdAt": "2025-01-31T12:00:00.000Z",
           "lastUsedAt": "2025-01-31T12:05:00.000Z", "userAgent": "curl", "ipAddress": "::1",
           "current": True}
# 2.2.12 ExportedUserData (dist/user.d.ts).
EXPORT = {
    "profile": {"email": "ada@example.com", "firstName": "Ada", "lastName": "L",
                "avatarUrl": None, "mfaEnabled": False, "role": "user",
                "emailVerifiedAt": "2025-01-31T12:00:00.000Z", "lastLoginAt": None,
                "createdAt": "2025-01-30T12:00:00.000Z"},
    "connectedApps": [{"applicationName": "App", "scopes": ["openid"],
                       "consentedAt": "2025-01-31T12:00:00.000Z"}],
    "socialProviders": [{"provider": "github", "email": "ada@example.com",
                         "connectedAt": "2025-01-31T12:00:00.000Z"}],
    "passkeys": [{"name": "Laptop", "deviceType": "desktop",
                  "createdAt": "2025-01-31T12:00:00.000Z", "lastUsedAt": None}],
    "securityActivity": [{"activityType": "login_success", "ipAddress": "::1",
                          "location": None, "deviceType": "desktop", "success": True,
                          "createdAt": "2025-01-31T12:00:00.000Z"}],
    "exportedAt": "2025-02-01T00:00:00.000Z",
}
ACTIVITY = {"id": "a1", "userId": "u1", "activityType": "login_success", "ipAddress": "::1",
            "userAgent": "curl", "location": None, "deviceType": "desktop", "success": True,
            "metadata": {"method": "password"}, "createdAt": "2025-01-31T12:00:00.000Z"}
TOKENS = {"accessToken": "at", "refreshToken": "rt", "tokenType": "Bearer", "expiresIn": 900}
NOW = 1_700_000_000.0

Reply = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """A scripted auth server: answers per (method, path), the last answer repeating."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *replies: Reply) -> FakeServer:
        self.routes[(method, path)] = list(replies)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        replies = self.routes.get((request.method, request.url.path))
        if not replies:
            return httpx.Response(404, json={"statusCode": 404, "message": "No route"})
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if isinstance(reply, Exception):
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        return reply

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class AsyncSleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def client(server: FakeServer) -> Iterator[AuthClient]:
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server),
                    sleep=Sleeps(), clock=lambda: NOW) as c:
        yield c


@pytest.fixture
async def aclient(server: FakeServer) -> AsyncIterator[AsyncAuthClient]:
    async with AsyncAuthClient("https://auth.test", transport=httpx.MockTransport(server),
                               sleep=AsyncSleeps(), clock=lambda: NOW) as c:
        yield c


# -- every method: the request sent and the answer read ------------------------------------

# name, args, HTTP method, path, status, answer body, what the result must satisfy, JSON sent
CASES: list[tuple[str, tuple[Any, ...], str, str, int, Any, Callable[[Any], bool], Any]] = [
    ("fetch_user_info", ("tok",), "GET", "/api/oauth/userinfo", 200,
     {"sub": "u1", "email": "ada@example.com", "email_verified": True, "name": "Ada L"},
     lambda r: (r.sub, r.email_verified, r.name) == ("u1", True, "Ada L"), None),
    ("introspect_token", ("tok", "cid", "sec"), "POST", "/api/oauth/token/introspect", 200,
     {"active": True, "sub": "u1", "scope": "openid", "client_id": "cid", "exp": 2**31},
     lambda r: r.active and r.scopes == ("openid",),
     {"token": "tok", "clientId": "cid", "clientSecret": "sec"}),
    ("get_user_profile", ("tok",), "GET", "/api/user/profile", 200, PROFILE,
     lambda r: (r.user_id, r.first_name) == ("u1", "Ada"), None),
    ("update_user_profile", ("tok", {"first_name": "Ada"}), "PUT", "/api/user/profile", 200,
     PROFILE, lambda r: r.email == "ada@example.com", {"firstName": "Ada"}),
    ("upload_profile_picture", ("tok", PNG), "POST", "/api/user/profile/picture", 200,
     {"avatarUrl": "https://auth.test/media/a.png"},
     lambda r: r.avatar_url == "https://auth.test/media/a.png", None),
    ("export_user_data", ("tok",), "GET", "/api/user/export-data", 200, EXPORT,
     lambda r: r.profile.email == "ada@example.com" and r.raw == EXPORT, None),
    ("delete_account", ("tok", "pw"), "DELETE", "/api/user/account", 200, {"message": "Gone"},
     lambda r: r.message == "Gone", {"password": "pw", "confirmDelete": True}),
    ("list_applications", ("tok",), "GET", "/api/applications", 200,
     {"success": True, "stats": {"total": 1, "active": 1, "inactive": 0}, "data": [APP],
      "pagination": {"page": 1, "limit": 10, "total": 1, "totalPages": 1}},
     lambda r: [a.client_id for a in r] == ["c1"] and r.total == 1 and r.stats.active == 1,
     None),
    ("get_application_by_client_id", ("c1",), "GET", "/api/applications/public/c1", 200,
     {k: v for k, v in APP.items() if k not in ("createdAt", "updatedAt")},
     lambda r: r.name == "App" and r.created_at is None, None),
    ("create_application",
     ("tok", {"name": "App", "redirectUris": ["https://app.example/cb"], "scopes": ["openid"]}),
     "POST", "/api/applications", 201, {**APP, "clientSecret": "shh"},
     lambda r: r.client_secret == "shh",
     {"name": "App", "redirectUris": ["https://app.example/cb"], "scopes": ["openid"]}),
    ("update_application", ("tok", "c1", {"description": "New"}), "PUT", "/api/applications/c1",
     200, {"message": "Updated"}, lambda r: r.message == "Updated", {"description": "New"}),
    ("upload_application_logo", ("tok", "c1", PNG, "logo.png"), "POST",
     "/api/applications/c1/logo", 200, {"logoUrl": "https://auth.test/media/l.png"},
     lambda r: r.logo_url.endswith("l.png"), None),
    ("delete_application", ("tok", "c1"), "DELETE", "/api/applications/c1", 200,
     {"message": "Deleted"}, lambda r: r.message == "Deleted", None),
    ("regenerate_application_secret", ("tok", "c1"), "POST",
     "/api/applications/c1/regenerate-secret", 200,
     {"clientId": "c1", "clientSecret": "new", "message": "Regenerated"},
     lambda r: r.client_secret == "new", None),
    ("list_connected_apps", ("tok",), "GET", "/api/oauth/connected-apps", 200,
     {"success": True, "data": [{"id": "k1", "clientId": "c1", "name": "App",
                                 "scopes": ["openid"],
                                 "connectedAt": "2025-01-31T12:00:00.000Z"}]},
     lambda r: r[0].connected_at.year == 2025 and r[0].id == "k1", None),
    ("revoke_connected_app", ("tok", "c1"), "DELETE", "/api/oauth/connected-apps/c1", 200,
     {"success": True, "message": "Revoked"}, lambda r: r.message == "Revoked", None),
    ("register", ("ada@example.com", "correct horse"), "POST", "/api/auth/register", 201,
     PROFILE, lambda r: r.user_id == "u1",
     {"email": "ada@example.com", "password": "correct horse"}),
    ("login", ("ada@example.com", "pw"), "POST", "/api/auth/login", 200, TOKENS,
     lambda r: (r.access_token, r.expires_at) == ("at", int(NOW) + 900),
     {"email": "ada@example.com", "password": "pw"}),
    ("refresh_tokens", ("rt",), "POST", "/api/auth/refresh", 200, TOKENS,
     lambda r: r.refresh_token == "rt", {"refreshToken": "rt"}),
    ("change_password", ("tok", "old", "new password"), "POST", "/api/auth/password/change",
     200, {"message": "Changed"}, lambda r: r.message == "Changed",
     {"currentPassword": "old", "newPassword": "new password"}),
    ("list_sessions", ("tok",), "GET", "/api/auth/sessions", 200, {"sessions": [SESSION]},
     lambda r: r[0].current and r[0].ip_address == "::1", None),
    ("revoke_session", ("tok", "s1"), "DELETE", "/api/auth/sessions/s1", 200,
     {"message": "Session revoked"}, lambda r: r.message == "Session revoked", None),
    ("revoke_all_sessions", ("tok",), "DELETE", "/api/auth/sessions", 200,
     {"message": "Revoked 2 other sessions"}, lambda r: r.message.startswith("Revoked"), None),
    ("logout", ("tok",), "POST", "/api/auth/sessions/logout", 200, {"message": "Logged out"},
     lambda r: r.message == "Logged out", None),
]
# Account security (issue 13): the calls of 2.2.12's security.ts and the email flows.
CASES += [
    ("get_auth_methods", ("tok",), "GET", "/api/auth/account/password/auth-methods", 200,
     {"hasPassword": True, "oauthProviders": ["github"]},
     lambda r: r.has_password and r.oauth_providers == ["github"], None),
    ("set_or_change_password", ("tok", "new password", "old", "123456"), "POST",
     "/api/auth/account/password/set-or-change", 200, {"message": "Password changed"},
     lambda r: r.message == "Password changed",
     {"newPassword": "new password", "currentPassword": "old", "mfaCode": "123456"}),
    ("initiate_sensitive_action", ("tok", "delete_account"), "POST",
     "/api/auth/account/sensitive-action/initiate", 200,
     {"requiresVerification": True, "verificationMethods": {
         "password": True, "email": {"available": True},
         "oauthProviders": [{"provider": "github", "reauthUrl": "https://auth.test/gh"}]}},
     lambda r: r.requires_verification and r.verification_methods.email.available
     and r.verification_methods.oauth_providers[0].reauth_url == "https://auth.test/gh",
     {"action": "delete_account"}),
    ("send_sensitive_action_code", ("tok", "delete_account"), "POST",
     "/api/auth/account/sensitive-action/send-code", 200, {"message": "Code sent"},
     lambda r: r.message == "Code sent", {"action": "delete_account"}),
    ("verify_sensitive_action_code", ("tok", "delete_account", "123456"), "POST",
     "/api/auth/account/sensitive-action/verify-code", 200, {"token": "sat"},
     lambda r: r.token == "sat", {"action": "delete_account", "code": "123456"}),
    ("get_security_activities", ("tok",), "GET", "/api/security/activity", 200,
     {"activities": [ACTIVITY], "total": 1, "limit": 20, "offset": 0},
     lambda r: r.total == 1 and r.activities[0].created_at.year == 2025
     and r.activities[0].metadata == {"method": "password"}, None),
    ("verify_email", ("tok", None, "123456"), "POST", "/api/auth/email/verify", 200,
     {"message": "Email verified"}, lambda r: r.message == "Email verified", {"code": "123456"}),
    ("resend_verification_email", ("tok",), "POST", "/api/auth/email/verify/resend", 202,
     {"message": "Sent"}, lambda r: r.message == "Sent", None),
    ("forgot_password", ("ada@example.com",), "POST", "/api/auth/password/forgot", 202,
     {"message": "If the address has an account, a link is on its way"},
     lambda r: r.message.startswith("If"), {"email": "ada@example.com"}),
    ("reset_password", ("link", "new password"), "POST", "/api/auth/password/reset", 200,
     {"message": "Password reset"}, lambda r: r.message == "Password reset",
     {"token": "link", "newPassword": "new password"}),
    ("request_email_change", ("tok", "new@example.com", "pw"), "POST",
     "/api/user/email/change", 202, {"message": "Check the new address"},
     lambda r: r.message.startswith("Check"), {"newEmail": "new@example.com", "password": "pw"}),
    ("confirm_email_change", ("link",), "POST", "/api/user/email/change/confirm", 200,
     {"message": "Email changed"}, lambda r: r.message == "Email changed", {"token": "link"}),
]
# Two-factor sign-in (issue 14): 2.2.12's MFA calls and the login's second step.
CASES += [
    ("setup_mfa", ("tok", "pw"), "POST", "/api/auth/mfa/setup", 200,
     {"secret": "JBSWY3DPEHPK3PXP", "qrCodeUrl": "data:image/png;base64,AA",
      "backupCodes": ["a"] * 10},
     lambda r: r.secret == "JBSWY3DPEHPK3PXP" and len(r.backup_codes) == 10,
     {"password": "pw"}),
    ("verify_mfa_setup", ("tok", "123456"), "POST", "/api/auth/mfa/verify-setup", 200,
     {"message": "on"}, lambda r: r.message == "on", {"code": "123456"}),
    ("disable_mfa", ("tok", "123456", "pw"), "POST", "/api/auth/mfa/disable", 200,
     {"message": "off"}, lambda r: r.message == "off",
     {"password": "pw", "mfaCode": "123456"}),
    ("regenerate_backup_codes", ("tok", "123456", None, "sat"), "POST",
     "/api/auth/mfa/regenerate-backup-codes", 200, {"backupCodes": ["b"] * 10},
     lambda r: r.backup_codes == ["b"] * 10,
     {"sensitiveActionToken": "sat", "mfaCode": "123456"}),
    ("login_mfa", ("temp", "123456"), "POST", "/api/auth/login/mfa", 200, TOKENS,
     lambda r: r.access_token == "at", {"mfaToken": "temp", "code": "123456"}),
]
# Passkeys (issue 14): 2.2.12's passkey calls and the passkey sign-in.
PASSKEY = {"id": "p1", "credentialId": "Y3JlZA", "name": "Laptop",
           "createdAt": "2025-01-31T12:00:00.000Z", "lastUsedAt": None}
CREDENTIAL = {"id": "Y3JlZA", "rawId": "Y3JlZA", "type": "public-key",
              "response": {"clientDataJSON": "e30", "attestationObject": "oA"}}
CASES += [
    ("passkey_registration_options", ("tok",), "POST", "/api/auth/passkey/register/options",
     200, {"options": {"challenge": "Y2g", "rp": {"name": "Tekcify", "id": "auth.test"}},
           "challenge": "Y2g"},
     lambda r: r.challenge == "Y2g" and r.options["rp"]["id"] == "auth.test", None),
    ("register_passkey", ("tok", CREDENTIAL, "Y2g", "Laptop"), "POST",
     "/api/auth/passkey/register", 200, PASSKEY,
     lambda r: r.credential_id == "Y3JlZA" and r.last_used_at is None,
     {"credential": CREDENTIAL, "challenge": "Y2g", "name": "Laptop"}),
    ("list_passkeys", ("tok",), "GET", "/api/auth/passkey", 200, [PASSKEY],
     lambda r: r[0].name == "Laptop" and r[0].created_at.year == 2025, None),
    ("delete_passkey", ("tok", "Y3JlZA"), "DELETE", "/api/auth/passkey/Y3JlZA", 200,
     {"message": "Passkey removed"}, lambda r: r.message == "Passkey removed", None),
    ("rename_passkey", ("tok", "Y3JlZA", "Phone"), "PUT", "/api/auth/passkey/Y3JlZA/rename",
     200, {**PASSKEY, "name": "Phone"}, lambda r: r.name == "Phone", {"name": "Phone"}),
    ("passkey_login_options", (), "POST", "/api/auth/passkey/login/options", 200,
     {"options": {"challenge": "Y2g", "allowCredentials": []}, "challenge": "Y2g"},
     lambda r: r.options["allowCredentials"] == [], {}),
    ("passkey_login", (CREDENTIAL, "Y2g"), "POST", "/api/auth/passkey/login", 200, TOKENS,
     lambda r: (r.access_token, r.expires_at) == ("at", int(NOW) + 900),
     {"credential": CREDENTIAL, "challenge": "Y2g"}),
]
PUBLIC = {"get_application_by_client_id", "introspect_token", "register", "login",
          "login_mfa", "refresh_tokens", "forgot_password", "reset_password",
          "confirm_email_change", "passkey_login_options", "passkey_login"}


def test_the_cases_cover_every_method() -> None:
    assert {case[0] for case in CASES} == set(SHORTCUTS) == set(public_methods(AuthClient)) - {
        "close", "clear_introspection_cache"
    }


def check_request(request: httpx.Request, case: tuple[Any, ...]) -> None:
    name, _, method, path, _, _, _, sent = case
    assert (request.method, request.url.path) == (method, path)
    assert request.url.host == "auth.test"
    assert request.headers["user-agent"].startswith("tekcify-auth-python/")
    if name in PUBLIC:
        assert "authorization" not in request.headers
    else:
        assert request.headers["authorization"] == "Bearer tok"
    if sent is not None:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == sent


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_method_sync(client: AuthClient, server: FakeServer, case: tuple[Any, ...]) -> None:
    name, args, method, path, status, body, ok, _ = case
    server.on(method, path, httpx.Response(status, json=body))
    result = getattr(client, name)(*args)
    assert ok(result)
    check_request(server.last, case)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_every_method_async(
    aclient: AsyncAuthClient, server: FakeServer, case: tuple[Any, ...]
) -> None:
    name, args, method, path, status, body, ok, _ = case
    server.on(method, path, httpx.Response(status, json=body))
    result = await getattr(aclient, name)(*args)
    assert ok(result)
    check_request(server.last, case)


def test_uploads_are_multipart_with_a_sniffed_type(client: AuthClient, server: FakeServer,
                                                   tmp_path: Any) -> None:
    server.on("POST", "/api/user/profile/picture", httpx.Response(200, json={"avatarUrl": "u"}))
    path = tmp_path / "me.png"
    path.write_bytes(PNG)
    client.upload_profile_picture("tok", path)
    content_type = server.last.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    body = server.last.content
    assert b'Content-Disposition: form-data; name="file"; filename="me.png"' in body
    assert b"Content-Type: image/png" in body
    assert PNG in body
    with path.open("rb") as handle:
        client.upload_profile_picture("tok", handle, "other.bin", "image/webp")
    assert b'filename="other.bin"' in server.last.content
    assert b"Content-Type: image/webp" in server.last.content


def test_list_applications_reports_the_total(client: AuthClient, server: FakeServer) -> None:
    server.on("GET", "/api/applications",
              httpx.Response(200, json=[APP], headers={"X-Total-Count": "31"}))
    page = client.list_applications("tok", page=4, limit=10)
    assert page.total == 31
    assert len(page) == 1
    assert server.last.url.params == httpx.QueryParams({"page": "4", "limit": "10"})


def test_a_base_url_with_a_path_prefix_is_kept(server: FakeServer) -> None:
    server.on("GET", "/auth/api/user/profile", httpx.Response(200, json=PROFILE))
    with AuthClient("https://gw.test/auth/", transport=httpx.MockTransport(server)) as c:
        assert c.base_url == "https://gw.test/auth"
        assert c.get_user_profile("tok").user_id == "u1"


def test_extra_headers_are_sent(server: FakeServer) -> None:
    server.on("GET", "/api/user/profile", httpx.Response(200, json=PROFILE))
    with AuthClient("https://auth.test", headers={"X-Request-Id": "r1"},
                    transport=httpx.MockTransport(server)) as c:
        c.get_user_profile("tok")
    assert server.last.headers["x-request-id"] == "r1"


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["auth.example.com", "localhost:7001", "ftp://auth.example.com", "https://",
            "http:///path", "https://auth.example.com/?x=1", "https://auth.example.com/#f",
            "http://[::1"],
)
def test_a_url_without_scheme_and_host_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ConfigurationError, match="auth server URL"):
        AuthClient(url)
    with pytest.raises(ConfigurationError, match="auth server URL"):
        AsyncAuthClient(url)


def test_the_url_comes_from_auth_server_url_when_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_SERVER_URL", "https://from-env.test/")
    with AuthClient() as c:
        assert c.base_url == "https://from-env.test"
    monkeypatch.setenv("AUTH_SERVER_URL", "from-env.test")
    with pytest.raises(ConfigurationError, match=r"needs http:// or https://"):
        AuthClient()
    monkeypatch.delenv("AUTH_SERVER_URL")
    with AuthClient() as c:
        assert c.base_url == "http://localhost:7001"


def test_explicit_default_timeouts_and_other_settings() -> None:
    with AuthClient("https://auth.test") as c:
        assert (c.timeout.connect, c.timeout.read, c.timeout.write) == (5.0, 10.0, 10.0)
        assert c.retry == RetryPolicy(retries=2)
    with AuthClient("https://auth.test", timeout=2.5, retries=0) as c:
        assert (c.timeout.connect, c.timeout.read) == (2.5, 2.5)
        assert c.retry.retries == 0
    with pytest.raises(ConfigurationError, match="not both"):
        AuthClient("https://auth.test", http_client=httpx.Client(),
                   transport=httpx.MockTransport(FakeServer()))
    with pytest.raises(ConfigurationError, match="max_response_bytes"):
        AuthClient("https://auth.test", max_response_bytes=0)
    assert repr(AuthClient("https://auth.test")) == "AuthClient('https://auth.test')"


def test_close_and_context_managers(server: FakeServer) -> None:
    c = AuthClient("https://auth.test", transport=httpx.MockTransport(server))
    with c:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        c.get_user_profile("tok")
    mine = httpx.Client(transport=httpx.MockTransport(server))
    server.on("GET", "/api/user/profile", httpx.Response(200, json=PROFILE))
    with AuthClient("https://auth.test", http_client=mine) as shared:
        shared.get_user_profile("tok")
    assert not mine.is_closed  # a client passed in belongs to its owner
    mine.close()


async def test_aclose_and_async_context_manager(server: FakeServer) -> None:
    c = AsyncAuthClient("https://auth.test", transport=httpx.MockTransport(server))
    async with c:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await c.get_user_profile("tok")
    mine = httpx.AsyncClient(transport=httpx.MockTransport(server))
    server.on("GET", "/api/user/profile", httpx.Response(200, json=PROFILE))
    async with AsyncAuthClient("https://auth.test", http_client=mine) as shared:
        await shared.get_user_profile("tok")
    assert not mine.is_closed
    await mine.aclose()


# -- errors --------------------------------------------------------------------------------


def test_a_server_error_carries_the_servers_message(client: AuthClient,
                                                    server: FakeServer) -> None:
    server.on("GET", "/api/user/profile", httpx.Response(
        401, json={"statusCode": 401, "error": "Unauthorized",
                   "message": "Invalid or expired token"},
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    ))
    with pytest.raises(AuthServerError) as info:
        client.get_user_profile("tok")
    assert (info.value.status_code, info.value.message, info.value.error) == (
        401, "Invalid or expired token", "invalid_token"
    )


async def test_html_from_a_proxy_async(aclient: AsyncAuthClient, server: FakeServer) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    server.on("POST", "/api/auth/login",
              httpx.Response(502, content=page, headers={"content-type": "text/html"}))
    with pytest.raises(AuthServerError) as info:
        await aclient.login("a@b.c", "pw")
    assert info.value.message == "Bad Gateway: 502 Bad Gateway"
    server.on("GET", "/api/user/profile",
              httpx.Response(200, content=page, headers={"content-type": "text/html"}))
    with pytest.raises(AuthServerInvalidResponse, match=r"not JSON \(text/html\)"):
        await aclient.get_user_profile("tok")


def test_a_refused_connection_is_unavailable(client: AuthClient, server: FakeServer) -> None:
    server.on("POST", "/api/auth/login", httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(AuthServerUnavailable, match=r"auth\.test failed: .*Connection refused"):
        client.login("a@b.c", "pw")
    assert len(server.requests) == 1  # a POST is never tried again


async def test_a_timeout_is_unavailable_and_not_retried(
    aclient: AsyncAuthClient, server: FakeServer
) -> None:
    server.on("GET", "/api/user/profile", httpx.ReadTimeout("read timed out"))
    with pytest.raises(AuthServerUnavailable, match="timed out") as info:
        await aclient.get_user_profile("tok")
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(server.requests) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there now: a connection is refused at once


def test_a_real_refused_connection_is_unavailable_after_the_retries() -> None:
    sleeps = Sleeps()
    with AuthClient(f"http://127.0.0.1:{closed_port()}", timeout=2, sleep=sleeps) as c, (
        pytest.raises(AuthServerUnavailable, match="failed")
    ):
        c.get_user_profile("tok")
    assert len(sleeps) == 2  # a GET: tried three times


# -- retries -------------------------------------------------------------------------------


def test_idempotent_requests_are_retried_on_gateway_errors(server: FakeServer) -> None:
    sleeps = Sleeps()
    server.on("GET", "/api/user/profile", httpx.Response(503), httpx.Response(502),
              httpx.Response(200, json=PROFILE))
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server), sleep=sleeps,
                    retries=RetryPolicy(retries=2, backoff=0.5, max_backoff=0.75)) as c:
        assert c.get_user_profile("tok").user_id == "u1"
    assert len(server.requests) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5
    assert 0 <= sleeps[1] <= 0.75


async def test_retry_after_is_honoured_async(server: FakeServer) -> None:
    sleeps = AsyncSleeps()
    server.on("GET", "/api/auth/sessions",
              httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "Slow down"}),
              httpx.Response(200, json=[SESSION]))
    async with AsyncAuthClient("https://auth.test", transport=httpx.MockTransport(server),
                               sleep=sleeps) as c:
        assert len(await c.list_sessions("tok")) == 1
    assert sleeps == [3.0]


def test_a_retry_after_past_the_cap_is_raised_at_once(client: AuthClient,
                                                      server: FakeServer) -> None:
    server.on("GET", "/api/user/profile",
              httpx.Response(429, headers={"Retry-After": "3600"}, json={"message": "Later"}))
    with pytest.raises(AuthServerError, match="Later"):
        client.get_user_profile("tok")
    assert len(server.requests) == 1


def test_retries_end_with_the_last_answer(client: AuthClient, server: FakeServer) -> None:
    server.on("DELETE", "/api/auth/sessions/s1",
              httpx.Response(503, json={"message": "Maintenance"}))
    with pytest.raises(AuthServerError, match="Maintenance"):
        client.revoke_session("tok", "s1")
    assert len(server.requests) == 3


def test_connection_errors_are_retried_for_idempotent_requests(client: AuthClient,
                                                               server: FakeServer) -> None:
    server.on("POST", "/api/oauth/token/introspect", httpx.ConnectError("refused"),
              httpx.RemoteProtocolError("Server disconnected without sending a response."),
              httpx.Response(200, json={"active": False}))
    assert client.introspect_token("tok").active is False
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("name", "args", "method", "path"),
    [("logout", ("tok",), "POST", "/api/auth/sessions/logout"),
     ("create_application", ("tok", {"name": "n", "redirect_uris": [], "scopes": []}), "POST",
      "/api/applications"),
     ("upload_profile_picture", ("tok", PNG), "POST", "/api/user/profile/picture"),
     ("regenerate_application_secret", ("tok", "c1"), "POST",
      "/api/applications/c1/regenerate-secret"),
     ("forgot_password", ("ada@example.com",), "POST", "/api/auth/password/forgot"),
     ("send_sensitive_action_code", ("tok", "delete_account"), "POST",
      "/api/auth/account/sensitive-action/send-code"),
     ("verify_sensitive_action_code", ("tok", "delete_account", "123456"), "POST",
      "/api/auth/account/sensitive-action/verify-code")],
)
def test_posts_are_never_retried(client: AuthClient, server: FakeServer, name: str,
                                 args: tuple[Any, ...], method: str, path: str) -> None:
    server.on(method, path, httpx.Response(503), httpx.Response(200, json={"message": "x"}))
    with pytest.raises(AuthServerError) as info:
        getattr(client, name)(*args)
    assert info.value.status_code == 503
    assert len(server.requests) == 1


# -- limits and bad bodies -----------------------------------------------------------------


def endless(consumed: list[int]) -> Iterator[bytes]:
    for _ in range(100):
        consumed.append(1)
        yield b"x" * 65536


async def aendless(consumed: list[int]) -> AsyncIterator[bytes]:
    for _ in range(100):
        consumed.append(1)
        yield b"x" * 65536


def test_a_huge_body_is_refused_without_reading_it_all(server: FakeServer) -> None:
    consumed: list[int] = []
    server.on("GET", "/api/user/profile", lambda r: httpx.Response(200, content=endless(consumed)))
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server),
                    max_response_bytes=200_000) as c, pytest.raises(
        AuthServerInvalidResponse, match="larger than the client's limit"
    ):
        c.get_user_profile("tok")
    assert len(consumed) <= 5


async def test_a_huge_body_is_refused_async(server: FakeServer) -> None:
    consumed: list[int] = []
    server.on("GET", "/api/user/profile",
              lambda r: httpx.Response(200, content=aendless(consumed)))
    async with AsyncAuthClient("https://auth.test", transport=httpx.MockTransport(server),
                               max_response_bytes=200_000) as c:
        with pytest.raises(AuthServerInvalidResponse, match="larger than"):
            await c.get_user_profile("tok")
    assert len(consumed) <= 5


def test_a_declared_huge_length_is_refused_before_reading(server: FakeServer) -> None:
    consumed: list[int] = []
    server.on("GET", "/api/user/profile", lambda r: httpx.Response(
        200, content=endless(consumed), headers={"Content-Length": str(10**12)}))
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server)) as c, (
        pytest.raises(AuthServerInvalidResponse)
    ):
        c.get_user_profile("tok")
    assert consumed == []


def test_a_huge_error_body_still_gives_its_status(server: FakeServer) -> None:
    consumed: list[int] = []
    server.on("GET", "/api/user/profile",
              lambda r: httpx.Response(500, content=endless(consumed)))
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server)) as c, (
        pytest.raises(AuthServerError)
    ) as info:
        c.get_user_profile("tok")
    assert info.value.status_code == 500
    assert info.value.message.endswith("…")
    assert len(consumed) <= 2


def test_gzip_bodies_are_decoded_and_broken_ones_refused(client: AuthClient,
                                                         server: FakeServer) -> None:
    server.on("GET", "/api/user/profile", httpx.Response(
        200, content=gzip.compress(json.dumps(PROFILE).encode()),
        headers={"Content-Encoding": "gzip"}))
    assert client.get_user_profile("tok").user_id == "u1"
    server.on("GET", "/api/user/profile", httpx.Response(
        200, stream=httpx.ByteStream(b"not gzip at all"), headers={"Content-Encoding": "gzip"}))
    with pytest.raises(AuthServerInvalidResponse, match="could not be decoded"):
        client.get_user_profile("tok")


def test_an_empty_200_is_an_invalid_response(client: AuthClient, server: FakeServer) -> None:
    server.on("GET", "/api/user/profile", httpx.Response(200))
    with pytest.raises(AuthServerInvalidResponse, match="empty body"):
        client.get_user_profile("tok")


# -- the introspection cache ---------------------------------------------------------------


def test_introspection_is_not_cached_by_default(client: AuthClient, server: FakeServer) -> None:
    server.on("POST", "/api/oauth/token/introspect",
              httpx.Response(200, json={"active": True, "exp": NOW + 600}))
    client.introspect_token("tok")
    client.introspect_token("tok")
    assert len(server.requests) == 2


def test_cached_introspection_until_exp_or_ttl(server: FakeServer) -> None:
    now = [NOW]
    server.on("POST", "/api/oauth/token/introspect",
              httpx.Response(200, json={"active": True, "sub": "u1", "exp": NOW + 30}))
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server),
                    introspection_cache_ttl=60, clock=lambda: now[0]) as c:
        first = c.introspect_token("tok", "cid", "sec")
        assert c.introspect_token("tok", "cid", "sec") is first
        assert len(server.requests) == 1
        c.introspect_token("tok", "other-client", "sec")  # another question
        assert len(server.requests) == 2
        now[0] = NOW + 30  # the token's exp comes before the TTL
        assert c.introspect_token("tok", "cid", "sec") is not first
        assert len(server.requests) == 3
        c.clear_introspection_cache()
        c.introspect_token("tok", "cid", "sec")
        assert len(server.requests) == 4


async def test_inactive_answers_are_cached_briefly_async(server: FakeServer) -> None:
    now = [NOW]
    server.on("POST", "/api/oauth/token/introspect",
              httpx.Response(200, json={"active": False}))
    async with AsyncAuthClient("https://auth.test", transport=httpx.MockTransport(server),
                               introspection_cache_ttl=60, introspection_inactive_ttl=5,
                               clock=lambda: now[0]) as c:
        await c.introspect_token("bad")
        await c.introspect_token("bad")
        assert len(server.requests) == 1
        now[0] = NOW + 5
        await c.introspect_token("bad")
        assert len(server.requests) == 2


def test_errors_are_not_cached(server: FakeServer) -> None:
    server.on("POST", "/api/oauth/token/introspect",
              httpx.Response(401, json={"error": "invalid_client"}),
              httpx.Response(200, json={"active": True}))
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server),
                    introspection_cache_ttl=60) as c:
        with pytest.raises(AuthServerError) as info:
            c.introspect_token("tok", "cid", "wrong")
        assert info.value.error == "invalid_client"
        assert c.introspect_token("tok", "cid", "wrong").active


# -- account security (issue 13) ----------------------------------------------------------


def test_security_activities_query_on_the_wire(client: AuthClient, server: FakeServer) -> None:
    server.on("GET", "/api/security/activity",
              httpx.Response(200, json={"activities": [], "total": 0, "limit": 5, "offset": 10}))
    client.get_security_activities("tok", limit=5, offset=10, activity_type="password_changed")
    assert server.last.url.params == httpx.QueryParams(
        {"limit": "5", "offset": "10", "activityType": "password_changed"}
    )
    client.get_security_activities("tok")
    assert server.last.url.query == b""


async def test_delete_account_with_a_sensitive_action_token_async(
    aclient: AsyncAuthClient, server: FakeServer
) -> None:
    server.on("DELETE", "/api/user/account", httpx.Response(200, json={"message": "Gone"}))
    await aclient.delete_account("tok", sensitive_action_token="sat", mfa_code="123456")
    assert json.loads(server.last.content) == {
        "sensitiveActionToken": "sat", "mfaCode": "123456", "confirmDelete": True
    }
    with pytest.raises(ValueError, match="password or a sensitive_action_token"):
        await aclient.delete_account("tok")
    assert len(server.requests) == 1  # nothing was sent for the refused call


def test_change_password_sends_the_mfa_code(client: AuthClient, server: FakeServer) -> None:
    server.on("POST", "/api/auth/password/change", httpx.Response(200, json={"message": "ok"}))
    client.change_password("tok", "old", "new password", mfa_code="123456")
    assert json.loads(server.last.content) == {
        "currentPassword": "old", "newPassword": "new password", "mfaCode": "123456"
    }


@pytest.mark.parametrize(
    ("name", "args", "path", "status", "message"),
    [("verify_sensitive_action_code", ("tok", "delete_account", "000000"),
      "/api/auth/account/sensitive-action/verify-code", 400, "Invalid or expired code"),
     ("verify_email", (None, "stale-link"), "/api/auth/email/verify", 400,
      "This link has expired"),
     ("resend_verification_email", ("tok",), "/api/auth/email/verify/resend", 429,
      "Too many requests"),
     ("reset_password", ("used", "new password"), "/api/auth/password/reset", 400,
      "This link has already been used"),
     ("request_email_change", ("tok", "taken@example.com", "pw"), "/api/user/email/change",
      409, "An account with this email already exists")],
)
def test_account_refusals_carry_the_servers_status_and_message(
    client: AuthClient, server: FakeServer, name: str, args: tuple[Any, ...], path: str,
    status: int, message: str,
) -> None:
    server.on("POST", path, httpx.Response(
        status, json={"statusCode": status, "error": "x", "message": message},
        headers={"Retry-After": "1"} if status == 429 else {},
    ))
    with pytest.raises(AuthServerError) as info:
        getattr(client, name)(*args)
    assert (info.value.status_code, info.value.message, info.value.error) == (
        status, message, None
    )
    assert len(server.requests) == 1  # a POST: never tried again, not even after a 429


def test_auth_methods_and_the_security_log_are_retried(server: FakeServer) -> None:
    server.on("GET", "/api/auth/account/password/auth-methods", httpx.Response(503),
              httpx.Response(200, json={"hasPassword": False, "oauthProviders": []}))
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server),
                    sleep=Sleeps()) as c:
        assert c.get_auth_methods("tok").has_password is False
    assert len(server.requests) == 2


# -- the twins -----------------------------------------------------------------------------


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


def shape(signature: inspect.Signature) -> list[tuple[str, Any, Any]]:
    """Names, kinds and defaults: what a caller relies on (annotations differ by world)."""
    return [(p.name, p.kind, p.default) for p in signature.parameters.values()]


def test_the_twins_have_the_same_methods_and_parameters() -> None:
    sync, asynchronous = public_methods(AuthClient), public_methods(AsyncAuthClient)
    asynchronous["close"] = asynchronous.pop("aclose")
    assert sync.keys() == asynchronous.keys()
    for name in sync:
        assert shape(sync[name]) == shape(asynchronous[name]), name
        is_coroutine = inspect.iscoroutinefunction(getattr(AsyncAuthClient, name if name !=
                                                           "close" else "aclose"))
        assert is_coroutine == (name != "clear_introspection_cache"), name
    assert shape(inspect.signature(AuthClient.__init__)) == shape(
        inspect.signature(AsyncAuthClient.__init__)
    )


@pytest.mark.parametrize("name", SHORTCUTS)
def test_shortcuts_have_the_methods_signatures(name: str) -> None:
    method = inspect.signature(getattr(AuthClient, name))
    expected = shape(method.replace(parameters=list(method.parameters.values())[1:]))
    assert shape(inspect.signature(getattr(tekcify_auth, name))) == expected
    assert shape(inspect.signature(getattr(aio, name))) == expected
    assert inspect.iscoroutinefunction(getattr(aio, name))
    assert getattr(tekcify_auth, name).__doc__
    assert getattr(aio, name).__doc__


# -- the default clients -------------------------------------------------------------------


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AUTH_SERVER_URL", "https://default.test")
    tekcify_auth.close_default_client()
    yield
    tekcify_auth.close_default_client()


@pytest.mark.usefixtures("fresh_default")
def test_the_default_client_is_built_once_from_the_environment_even_under_a_race() -> None:
    barrier = threading.Barrier(16)
    seen: list[AuthClient] = []

    def grab() -> None:
        barrier.wait()
        seen.append(tekcify_auth.get_default_client())

    threads = [threading.Thread(target=grab) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 16
    assert len({id(c) for c in seen}) == 1
    assert seen[0].base_url == "https://default.test"


@pytest.mark.usefixtures("fresh_default")
def test_a_bad_auth_server_url_fails_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_SERVER_URL", "auth.example.com")
    tekcify_auth.close_default_client()
    with pytest.raises(ConfigurationError, match=r"auth\.example\.com"):
        tekcify_auth.get_user_profile("tok")


@pytest.mark.usefixtures("fresh_default")
def test_closing_the_default_client_closes_only_a_built_one(server: FakeServer) -> None:
    built = tekcify_auth.get_default_client()
    mine = AuthClient("https://auth.test", transport=httpx.MockTransport(server))
    tekcify_auth.set_default_client(mine)
    with pytest.raises(RuntimeError, match="closed"):
        built.get_user_profile("tok")  # the built one was closed when replaced
    server.on("GET", "/api/user/profile", httpx.Response(200, json=PROFILE))
    assert tekcify_auth.get_user_profile("tok").user_id == "u1"
    tekcify_auth.close_default_client()
    assert mine.get_user_profile("tok").user_id == "u1"  # still open: it is the caller's
    assert tekcify_auth.get_default_client() is not mine
    mine.close()


@pytest.mark.usefixtures("fresh_default")
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_shortcut_calls_the_default_client(server: FakeServer,
                                                 case: tuple[Any, ...]) -> None:
    name, args, method, path, status, body, ok, _ = case
    server.on(method, path, httpx.Response(status, json=body))
    with AuthClient("https://auth.test", transport=httpx.MockTransport(server),
                    clock=lambda: NOW) as c:
        tekcify_auth.set_default_client(c)
        assert ok(getattr(tekcify_auth, name)(*args))
        tekcify_auth.set_default_client(None)
    check_request(server.last, case)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_every_async_shortcut_calls_the_loops_default_client(
    server: FakeServer, case: tuple[Any, ...]
) -> None:
    name, args, method, path, status, body, ok, _ = case
    server.on(method, path, httpx.Response(status, json=body))
    async with AsyncAuthClient("https://auth.test", transport=httpx.MockTransport(server),
                               clock=lambda: NOW) as c:
        await aio.set_default_client(c)
        assert ok(await getattr(aio, name)(*args))
        await aio.set_default_client(None)
    check_request(server.last, case)


def test_one_async_default_client_per_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_SERVER_URL", "https://loop.test")

    async def grab() -> tuple[AsyncAuthClient, AsyncAuthClient]:
        async def in_another_task() -> AsyncAuthClient:
            return aio.get_default_client()

        first = aio.get_default_client()
        second = await asyncio.create_task(in_another_task())
        await aio.close_default_client()
        return first, second

    one = asyncio.run(grab())
    two = asyncio.run(grab())
    assert one[0] is one[1]
    assert two[0] is two[1]
    assert one[0] is not two[0]
    assert one[0].base_url == "https://loop.test"


def test_the_async_default_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError, match="no running event loop"):
        aio.get_default_client()
