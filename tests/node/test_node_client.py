"""The current Node client as the acceptance test: ``@tekcify/auth-backend`` 2.2.12, installed
with npm, calls our real server on 127.0.0.1 and gets the shapes its ``dist/*.d.ts`` declare.

Each test runs scenarios of driver.cjs (one per export) in Node: the package's modules call a
hard-coded https origin, which rewrite-origin.cjs maps to the server; the JWKS verifier is
pointed at the server by its own option. Python sets the stage (accounts, consents, mailed
codes) and asserts each answer against the interface the package's types name, key by key.
The server signs HS256 and runs on SQLite and on PostgreSQL in turn; the JWKS exports get
one that signs RS256.

``COVERED`` is the set of exports these tests prove (each test says which with ``@proves``);
``NOT_YET`` the ones whose endpoints come with later issues (none now).
The README's "N of M exports work against this server" is checked against both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from e2e.support import ServerProcess
from server.social_support import CALLBACK, FakeUpstream, follow, providers_file, social_button
from server.test_authorize import Client as AuthorizeClient
from server.test_authorize import authorization, parse_page
from server.webauthn_soft import SoftAuthenticator

from .support import (
    SCOPES,
    VERSION,
    Node,
    NodePackage,
    User,
    application_body,
    consent,
    create_application,
    log_in,
    login_status,
    mail_to,
    png,
    refresh_status,
    run_driver,
    sign_up,
    six_digit_code,
)

pytestmark = [pytest.mark.slow, pytest.mark.needs("node")]

ROOT = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "another correct horse battery"

#: The exports whose endpoints come with later issues: not claimed to work here.
NOT_YET: frozenset[str] = frozenset()
#: The exports the tests below prove against this server (filled by ``@proves``).
COVERED: set[str] = set()

F = TypeVar("F", bound=Callable[..., Any])


def proves(*exports: str) -> Callable[[F], F]:
    """Mark a test as the proof that ``exports`` work against this server."""

    def mark(test: F) -> F:
        COVERED.update(exports)
        return test

    return mark


# -- the shapes of dist/*.d.ts ---------------------------------------------------------------
# A spec is a type (str, bool, int, dict for Record<string, unknown>), None, ISO (a date
# string), NUMBER, a tuple (a union), a one-element list (an array of it), a dict (an
# interface: every key present unless Optional, extra keys allowed) or Literal.


class Optional:
    """A key the interface marks with ``?``: it may be absent; when present, it conforms."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec


class Literal:
    """One of these exact values."""

    def __init__(self, *values: Any) -> None:
        self.values = values


ISO = "ISO 8601 date string"
NUMBER = (int, float)


def problems(value: Any, spec: Any, path: str = "$") -> list[str]:
    """Where ``value`` departs from ``spec`` (empty: it conforms)."""
    if isinstance(spec, tuple):
        if any(not problems(value, option, path) for option in spec):
            return []
        return [f"{path}: {value!r} is none of {spec!r}"]
    if spec is None:
        return [] if value is None else [f"{path}: {value!r} is not null"]
    if spec is ISO:
        try:
            datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return [f"{path}: {value!r} is not an ISO 8601 date string"]
        return [] if isinstance(value, str) else [f"{path}: {value!r} is not a string"]
    if isinstance(spec, Literal):
        return [] if value in spec.values else [f"{path}: {value!r} not in {spec.values!r}"]
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{path}: {value!r} is not an array"]
        return [found for i, item in enumerate(value)
                for found in problems(item, spec[0], f"{path}[{i}]")]
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{path}: {value!r} is not an object"]
        found = []
        for key, inner in spec.items():
            if key not in value:
                if not isinstance(inner, Optional):
                    found.append(f"{path}.{key}: missing (keys: {sorted(value)})")
                continue
            inner = inner.spec if isinstance(inner, Optional) else inner
            found += problems(value[key], inner, f"{path}.{key}")
        return found
    if spec is int or spec is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not a number"]
    return [] if isinstance(value, spec) else [f"{path}: {value!r} is not {spec.__name__}"]


def conforms(value: Any, spec: Any) -> None:
    """Assert ``value`` has the shape ``spec``."""
    found = problems(value, spec)
    assert not found, "\n".join(found)


S_NULL = (str, None)
# types.d.ts
TOKEN_PAYLOAD = {"sub": str, "type": Literal("access", "refresh", "temp"),
                 "scopes": Optional([str]), "clientId": Optional(str)}
VERIFIED_TOKEN = {"payload": TOKEN_PAYLOAD, "valid": bool}
USER_PAYLOAD = {"userId": str, "email": str, "scopes": Optional([str]), "role": Optional(str)}
# userinfo.d.ts
# The type says `given_name: string | null` (and so for family_name, name, picture); the
# server omits a claim it has no value for, as OpenID Connect Core §5.3.2 asks ("SHOULD be
# omitted ... rather than being present with a null"): to Node code an absent claim reads as
# undefined where the type says null. A user with names gets them (test_fetch_user_info).
USER_INFO = {"sub": str, "email": str, "email_verified": bool, "given_name": Optional(S_NULL),
             "family_name": Optional(S_NULL), "name": Optional(S_NULL),
             "picture": Optional(S_NULL), "updated_at": NUMBER}
INTROSPECT_RESULT = {"active": bool, "clientId": Optional(str), "username": Optional(str),
                     "scope": Optional(str), "sub": Optional(str), "exp": Optional(NUMBER),
                     "iat": Optional(NUMBER), "tokenType": Optional(str)}
# user-profile.d.ts, user.d.ts
USER_PROFILE = {"userId": str, "email": str, "firstName": S_NULL, "lastName": S_NULL,
                "avatarUrl": S_NULL}
UPLOAD_RESPONSE = {"avatarUrl": str}
EXPORTED_USER_DATA = {
    "profile": {"email": str, "firstName": S_NULL, "lastName": S_NULL, "avatarUrl": S_NULL,
                "mfaEnabled": bool, "role": str, "emailVerifiedAt": (ISO, None),
                "lastLoginAt": (ISO, None), "createdAt": ISO},
    "connectedApps": [{"applicationName": str, "scopes": [str], "consentedAt": ISO}],
    "socialProviders": [{"provider": str, "email": str, "connectedAt": ISO}],
    "passkeys": [{"name": S_NULL, "deviceType": S_NULL, "createdAt": ISO,
                  "lastUsedAt": (ISO, None)}],
    "securityActivity": [{"activityType": str, "ipAddress": S_NULL, "location": S_NULL,
                          "deviceType": S_NULL, "success": (bool, None), "createdAt": ISO}],
    "exportedAt": ISO,
}
MESSAGE = {"message": str}
# application-management.d.ts
PUBLIC_APPLICATION = {  # Omit<Application, 'createdAt' | 'updatedAt'>
    "clientId": str, "clientIdObfuscated": Optional(str), "name": str, "description": S_NULL,
    "logoUrl": S_NULL, "redirectUris": [str], "authorizedOrigins": ([str], None),
    "scopes": [str], "primaryColor": Optional(S_NULL),
}
APPLICATION = {**PUBLIC_APPLICATION, "createdAt": ISO, "updatedAt": ISO}
CREATE_APPLICATION_RESPONSE = {**APPLICATION, "clientSecret": str}
LOGO_UPLOAD_RESPONSE = {"logoUrl": str}
REGENERATE_SECRET_RESPONSE = {"clientId": str, "clientSecret": str, "message": str}
LIST_APPLICATIONS_RESPONSE = {
    "success": bool, "stats": {"total": int, "active": int, "inactive": int},
    "data": [APPLICATION],
    "pagination": {"page": int, "limit": int, "total": int, "totalPages": int},
}
CONNECTED_APP = {"id": str, "clientId": str, "name": str, "description": S_NULL,
                 "logoUrl": S_NULL, "scopes": [str], "connectedAt": ISO, "updatedAt": ISO}
LIST_CONNECTED_APPS_RESPONSE = {"success": bool, "data": [CONNECTED_APP]}
REVOKED_CONNECTED_APP = {"success": bool, "message": str}
# security.d.ts
AUTH_METHODS_RESPONSE = {"hasPassword": bool, "oauthProviders": [str]}
SOCIAL_PROVIDER = {"id": str, "provider": str, "providerUserId": str, "connectedAt": ISO}
SESSION = {"id": str, "applicationName": str, "applicationLogo": S_NULL, "ipAddress": str,
           "userAgent": str, "scopes": [str], "createdAt": ISO, "lastUsedAt": ISO,
           "expiresAt": ISO}
SESSIONS_RESPONSE = {"sessions": [SESSION]}
SECURITY_ACTIVITY_ITEM = {
    "id": str, "userId": str, "activityType": str, "ipAddress": S_NULL, "userAgent": S_NULL,
    "location": S_NULL, "deviceType": S_NULL, "success": (bool, None), "metadata": (dict, None),
    "createdAt": ISO,
}
SECURITY_ACTIVITIES_RESPONSE = {"activities": [SECURITY_ACTIVITY_ITEM], "total": int,
                                "limit": int, "offset": int}
INITIATE_SENSITIVE_ACTION_RESPONSE = {
    "verificationMethods": {
        "password": Optional(bool),
        "oauthProviders": Optional([{"provider": str, "reauthUrl": str}]),
        "email": Optional({"available": bool}),
    },
    "requiresVerification": bool,
}
SENSITIVE_ACTION_TOKEN = {"token": str}
SETUP_MFA_RESPONSE = {"secret": str, "qrCodeUrl": str, "backupCodes": [str]}
BACKUP_CODES_RESPONSE = {"backupCodes": [str]}
PASSKEY_REGISTRATION_OPTIONS = {
    "options": {
        "challenge": str, "rp": {"name": str, "id": str},
        "user": {"id": str, "name": str, "displayName": str},
        "pubKeyCredParams": [{"type": str, "alg": int}], "timeout": int, "attestation": str,
        "authenticatorSelection": {"authenticatorAttachment": str, "userVerification": str,
                                   "requireResidentKey": bool},
        "excludeCredentials": [{"type": str, "id": str}],
    },
    "challenge": str,
}
PASSKEY = {"id": str, "credentialId": str, "name": str, "createdAt": ISO,
           "lastUsedAt": (ISO, None)}
#: What the package makes of an error answer: an Error carrying the server's message.
REFUSED = {"threw": Literal("Error"), "message": str}
VOID = "<undefined>"
ACTION = "delete_account"


def refused(result: dict[str, Any]) -> None:
    """``result`` (driver.cjs's ``outcome``) is the package's Error for a refusal."""
    conforms(result, REFUSED)
    assert "Status: 5" not in result["message"], result


def invalid(result: dict[str, Any]) -> None:
    """A VerifiedToken that is not valid (the package answers ``{payload: {}, valid: false}``)."""
    assert result["valid"] is False, result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def user(hs_server: ServerProcess) -> User:
    return sign_up(hs_server)


@pytest.fixture
def application(hs_server: ServerProcess, user: User) -> dict[str, Any]:
    return create_application(hs_server, user)


def test_the_harness_sends_nothing_off_the_machine(node: Node, rs_server: ServerProcess) -> None:
    result = node("fetchElsewhere", rs_server)["elsewhere"]
    assert result["threw"] == "Error"
    assert "neither the package's origin nor the test server" in result["message"]


# -- verifying tokens --------------------------------------------------------------------------


@proves("verifyAccessToken", "decodeToken")
def test_verify_access_token_and_decode_token(
    node: Node, hs_server: ServerProcess, user: User
) -> None:
    context = {"token": user.access_token, "secret": hs_server.secret}
    verified = node("verifyAccessToken", hs_server, **context)
    for good in (verified["good"], verified["explicit"]):
        conforms(good, VERIFIED_TOKEN)
        assert good["valid"] is True
        assert good["payload"]["sub"] == user.user_id
        assert good["payload"]["type"] == "access"
    for bad in ("wrongSecret", "wrongAudience", "tampered", "garbage"):
        invalid(verified[bad])

    decoded = node("decodeToken", hs_server, **context)
    conforms(decoded["payload"], TOKEN_PAYLOAD)
    assert decoded["payload"]["sub"] == user.user_id
    assert decoded["garbage"] is None


@proves("JwksVerifier", "createJwksVerifier")
def test_jwks_verifier(
    node: Node, rs_server: ServerProcess, hs_server: ServerProcess, user: User
) -> None:
    rs_user = sign_up(rs_server)
    context = {"token": rs_user.access_token, "otherToken": user.access_token,
               "jwksUri": f"{rs_server.url}/api/.well-known/jwks.json",
               "authServerUrl": rs_server.url}
    jwks = node("JwksVerifier", rs_server, **context)
    conforms(jwks["good"], VERIFIED_TOKEN)
    assert jwks["good"]["valid"] is True
    assert jwks["good"]["payload"]["sub"] == rs_user.user_id
    invalid(jwks["tampered"])
    invalid(jwks["hs256"])  # an HS256 token of another server: never valid by the JWKS
    assert jwks["publicKey"].startswith("-----BEGIN PUBLIC KEY-----")
    assert "threw" in jwks["unknownKid"]

    made = node("createJwksVerifier", rs_server, **context)
    conforms(made["good"], VERIFIED_TOKEN)
    assert made["good"]["valid"] is True
    invalid(made["tampered"])


def _allowed_guard(result: dict[str, Any], user: User) -> None:
    assert result["returned"] is True, result
    conforms(result["user"], USER_PAYLOAD)
    assert (result["user"]["userId"], result["user"]["email"]) == (user.user_id, user.email)
    assert isinstance(result["user"]["scopes"], list)


def _refused_guard(result: dict[str, Any], message: str) -> None:
    assert (result["threw"], result["status"]) == ("UnauthorizedException", 401), result
    assert result["message"] == message
    assert result["user"] is None


@proves("JwtAuthGuard", "CurrentUser")
def test_nestjs_jwt_guard_and_current_user(
    node: Node, hs_server: ServerProcess, user: User
) -> None:
    context = {"token": user.access_token, "secret": hs_server.secret}
    guard = node("JwtAuthGuard", hs_server, **context)
    _allowed_guard(guard["allowed"], user)  # getUserInfo asked our userinfo for the email
    assert guard["allowed"]["user"]["role"] == "user"
    _refused_guard(guard["missing"], "Missing or invalid authorization header")
    _refused_guard(guard["basic"], "Missing or invalid authorization header")
    _refused_guard(guard["tampered"], "Invalid or expired token")
    _refused_guard(guard["unknownUser"], "User not found")

    current = node("CurrentUser", hs_server, **context)
    assert current["guarded"]["returned"] is True
    assert current["index"] == 0
    conforms(current["user"], USER_PAYLOAD)
    assert current["user"]["userId"] == user.user_id


@proves("JwksAuthGuard")
def test_nestjs_jwks_guard(node: Node, rs_server: ServerProcess) -> None:
    rs_user = sign_up(rs_server)
    guard = node("JwksAuthGuard", rs_server, token=rs_user.access_token,
                 authServerUrl=rs_server.url)
    _allowed_guard(guard["allowed"], rs_user)
    _refused_guard(guard["missing"], "Missing or invalid authorization header")
    _refused_guard(guard["tampered"], "Invalid or expired token")


def _middleware(result: dict[str, Any], user: User | None, status: int, message: str) -> None:
    if user is not None:
        assert (result["next"], result["status"], result["body"]) == (True, 200, None), result
        conforms(result["user"], USER_PAYLOAD)
        assert (result["user"]["userId"], result["user"]["email"]) == (user.user_id, user.email)
    else:
        assert (result["next"], result["status"], result["user"]) == (False, status, None), result
        assert result["body"] == {"message": message}


@proves("createAuthMiddleware", "createJwksAuthMiddleware")
def test_express_middleware(
    node: Node, hs_server: ServerProcess, rs_server: ServerProcess, user: User
) -> None:
    plain = node("createAuthMiddleware", hs_server, token=user.access_token,
                 secret=hs_server.secret)
    _middleware(plain["allowed"], user, 200, "")
    _middleware(plain["missing"], None, 401, "Missing or invalid authorization header")
    _middleware(plain["tampered"], None, 401, "Invalid or expired token")
    _middleware(plain["unknownUser"], None, 401, "User not found")

    rs_user = sign_up(rs_server)
    jwks = node("createJwksAuthMiddleware", rs_server, token=rs_user.access_token,
                jwksUri=f"{rs_server.url}/api/.well-known/jwks.json")
    _middleware(jwks["allowed"], rs_user, 200, "")
    _middleware(jwks["missing"], None, 401, "Missing or invalid authorization header")
    _middleware(jwks["tampered"], None, 401, "Invalid or expired token")


# -- asking the server about a token ---------------------------------------------------------


@proves("fetchUserInfo")
def test_fetch_user_info(node: Node, hs_server: ServerProcess, user: User) -> None:
    result = node("fetchUserInfo", hs_server, token=user.access_token)
    conforms(result["info"], USER_INFO)
    assert (result["info"]["sub"], result["info"]["email"]) == (user.user_id, user.email)
    assert result["info"]["email_verified"] is False
    refused(result["tampered"])

    node("updateUserProfile", hs_server, token=user.access_token)  # Ada Byron
    named = node("fetchUserInfo", hs_server, token=user.access_token)["info"]
    conforms(named, USER_INFO)
    assert (named["given_name"], named["family_name"], named["name"]) == \
        ("Ada", "Byron", "Ada Byron")


@proves("introspectAccessToken")
def test_introspect_access_token(
    node: Node, hs_server: ServerProcess, user: User, application: dict[str, Any]
) -> None:
    result = node("introspectAccessToken", hs_server, token=user.access_token,
                  clientId=application["clientId"], clientSecret=application["clientSecret"])
    conforms(result["active"], INTROSPECT_RESULT)
    assert result["active"]["active"] is True
    assert result["active"]["sub"] == user.user_id
    assert result["inactive"] == {"active": False}


# -- the user's profile and account -----------------------------------------------------------


@proves("getUserProfile", "updateUserProfile", "uploadProfilePicture")
def test_user_profile(node: Node, hs_server: ServerProcess, user: User) -> None:
    got = node("getUserProfile", hs_server, token=user.access_token)
    conforms(got["profile"], USER_PROFILE)
    assert (got["profile"]["userId"], got["profile"]["email"]) == (user.user_id, user.email)
    refused(got["tampered"])

    updated = node("updateUserProfile", hs_server, token=user.access_token)
    conforms(updated["updated"], USER_PROFILE)
    assert (updated["updated"]["firstName"], updated["updated"]["lastName"]) == ("Ada", "Lovelace")
    assert (updated["partial"]["firstName"], updated["partial"]["lastName"]) == ("Ada", "Byron")

    uploaded = node("uploadProfilePicture", hs_server, token=user.access_token, png=png())
    conforms(uploaded["uploaded"], UPLOAD_RESPONSE)
    refused(uploaded["notAnImage"])
    assert uploaded["profile"]["avatarUrl"] == uploaded["uploaded"]["avatarUrl"]
    with httpx.Client(timeout=10) as http:
        picture = http.get(uploaded["uploaded"]["avatarUrl"])
    assert picture.status_code == 200
    assert picture.headers["content-type"].startswith("image/")


@proves("exportUserData")
def test_export_user_data(
    node: Node, hs_server: ServerProcess, user: User, application: dict[str, Any]
) -> None:
    owner = sign_up(hs_server)
    app = create_application(hs_server, owner, "Exported App")
    consent(hs_server, user, app)
    result = node("exportUserData", hs_server, token=user.access_token)
    exported = result["exported"]
    conforms(exported, EXPORTED_USER_DATA)
    assert exported["profile"]["email"] == user.email
    assert [c["applicationName"] for c in exported["connectedApps"]] == ["Exported App"]
    assert exported["securityActivity"], "sign-ins are security activity"


def test_a_verified_email_reaches_the_node_client(node: Node, hs_server: ServerProcess) -> None:
    user = sign_up(hs_server)
    [message] = mail_to(hs_server, user.email)  # registration mails a link and a code
    with httpx.Client(base_url=hs_server.url, timeout=10) as http:
        verified = http.post("/api/auth/email/verify", json={"code": six_digit_code(message)},
                             headers=bearer(user.access_token))
    assert verified.status_code == 200, verified.text
    info = node("fetchUserInfo", hs_server, token=user.access_token)["info"]
    assert info["email_verified"] is True
    exported = node("exportUserData", hs_server, token=user.access_token)["exported"]
    conforms(exported, EXPORTED_USER_DATA)
    assert exported["profile"]["emailVerifiedAt"] is not None


@proves("deleteAccount")
def test_delete_account_with_password(node: Node, hs_server: ServerProcess, user: User) -> None:
    result = node("deleteAccount", hs_server, token=user.access_token, password=user.password)
    refused(result["wrongPassword"])
    conforms(result["deleted"], MESSAGE)
    refused(result["profileAfter"])
    assert login_status(hs_server, user.email, user.password) == 401


# -- applications -----------------------------------------------------------------------------


@proves("createApplication", "listApplications", "getApplicationByClientId")
def test_create_list_and_get_applications(
    node: Node, hs_server: ServerProcess, user: User
) -> None:
    body = application_body("Made by Node")
    created = node("createApplication", hs_server, token=user.access_token, application=body)
    app = created["created"]
    conforms(app, CREATE_APPLICATION_RESPONSE)
    assert (app["name"], app["primaryColor"]) == ("Made by Node", "#1a2b3c")
    assert app["redirectUris"] == body["redirectUris"]
    assert sorted(app["scopes"]) == sorted(SCOPES)
    refused(created["badColor"])
    create_application(hs_server, user, "Second")

    listed = node("listApplications", hs_server, token=user.access_token)
    conforms(listed["defaults"], LIST_APPLICATIONS_RESPONSE)
    assert listed["defaults"]["success"] is True
    assert listed["defaults"]["stats"] == {"total": 2, "active": 2, "inactive": 0}
    assert listed["defaults"]["pagination"] == {"page": 1, "limit": 10, "total": 2, "totalPages": 1}
    assert {a["name"] for a in listed["defaults"]["data"]} == {"Made by Node", "Second"}
    assert "clientSecret" not in str(listed)
    conforms(listed["paged"], LIST_APPLICATIONS_RESPONSE)
    assert listed["paged"]["pagination"] == {"page": 2, "limit": 1, "total": 2, "totalPages": 2}
    assert len(listed["paged"]["data"]) == 1
    # 2.0.4's shape, without page and limit: a bare array, total in X-Total-Count.
    with httpx.Client(base_url=hs_server.url, timeout=10) as http:
        bare = http.get("/api/applications", headers=bearer(user.access_token))
    assert isinstance(bare.json(), list)
    assert len(bare.json()) == 2
    assert bare.headers["x-total-count"] == "2"

    public = node("getApplicationByClientId", hs_server, clientId=app["clientId"])
    conforms(public["application"], PUBLIC_APPLICATION)
    assert public["application"]["clientId"] == app["clientId"]
    assert public["application"]["primaryColor"] == "#1a2b3c"
    assert isinstance(public["application"]["clientIdObfuscated"], str)
    assert public["application"]["clientIdObfuscated"] != app["clientId"]
    assert "clientSecret" not in public["application"]
    refused(public["unknown"])


@proves("updateApplication", "deleteApplication")
def test_update_and_delete_application(
    node: Node, hs_server: ServerProcess, user: User, application: dict[str, Any]
) -> None:
    other = sign_up(hs_server)
    context = {"token": user.access_token, "otherToken": other.access_token,
               "clientId": application["clientId"]}
    updated = node("updateApplication", hs_server, **context)
    conforms(updated["updated"], MESSAGE)
    assert (updated["after"]["name"], updated["after"]["description"],
            updated["after"]["primaryColor"]) == ("Renamed by Node", "changed", "#00aa11")
    refused(updated["notMine"])

    deleted = node("deleteApplication", hs_server, **context)
    refused(deleted["notMine"])
    conforms(deleted["deleted"], MESSAGE)
    refused(deleted["after"])


@proves("uploadApplicationLogo", "regenerateApplicationSecret")
def test_application_logo_and_secret(
    node: Node, hs_server: ServerProcess, user: User, application: dict[str, Any]
) -> None:
    context = {"token": user.access_token, "clientId": application["clientId"]}
    logo = node("uploadApplicationLogo", hs_server, png=png(), **context)
    conforms(logo["uploaded"], LOGO_UPLOAD_RESPONSE)
    assert logo["after"]["logoUrl"] == logo["uploaded"]["logoUrl"]

    result = node("regenerateApplicationSecret", hs_server,
                  clientSecret=application["clientSecret"], **context)
    regenerated = result["regenerated"]
    conforms(regenerated, REGENERATE_SECRET_RESPONSE)
    assert regenerated["clientId"] == application["clientId"]
    assert regenerated["clientSecret"] != application["clientSecret"]
    refused(result["oldSecret"])  # the old secret stops working, the new one works
    assert result["newSecret"]["active"] is True


@proves("listConnectedApps", "revokeConnectedApp")
def test_connected_apps(
    node: Node, hs_server: ServerProcess, user: User, application: dict[str, Any]
) -> None:
    member = sign_up(hs_server)
    consent(hs_server, member, application)
    context = {"token": member.access_token, "clientId": application["clientId"]}
    listed = node("listConnectedApps", hs_server, **context)["connected"]
    conforms(listed, LIST_CONNECTED_APPS_RESPONSE)
    assert listed["success"] is True
    assert [(a["clientId"], a["name"]) for a in listed["data"]] == \
        [(application["clientId"], "Node App")]
    assert set(listed["data"][0]["scopes"]) == set(SCOPES)

    revoked = node("revokeConnectedApp", hs_server, **context)
    conforms(revoked["revoked"], REVOKED_CONNECTED_APP)
    assert revoked["revoked"]["success"] is True
    assert revoked["after"] == {"success": True, "data": []}


# -- security.js ------------------------------------------------------------------------------


@proves("getAuthMethods")
def test_get_auth_methods(node: Node, hs_server: ServerProcess, user: User) -> None:
    methods = node("getAuthMethods", hs_server, token=user.access_token)["methods"]
    conforms(methods, AUTH_METHODS_RESPONSE)
    assert methods == {"hasPassword": True, "oauthProviders": []}


@pytest.fixture(scope="module")
def social_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, FakeUpstream]]:
    """Our server with the test's fake OpenID provider as provider ``fake``."""
    with FakeUpstream().running() as fake:
        folder = tmp_path_factory.mktemp("node-social")
        providers = providers_file(folder, fake=f"{fake.base}/.well-known/openid-configuration")
        server = ServerProcess(folder, {"TEKCIFY_SOCIAL_PROVIDERS_FILE": str(providers)})
        try:
            yield server, fake
        finally:
            server.stop()


def link_at_provider(server: ServerProcess, fake: FakeUpstream, user: User) -> None:
    """``user`` links an identity at ``fake`` on the pages: the provider asserts their
    address unverified, so they sign in with their password, and it is linked then."""
    made = create_application(server, user)
    app = AuthorizeClient(made["clientId"], made.get("clientSecret"),
                          tuple(made["redirectUris"]), ("openid",), made["name"])
    fake.id_token = lambda nonce: fake.sign(
        fake.claims(nonce, sub="node-subject", email=user.email, email_verified=False)
    )
    with httpx.Client(timeout=30) as browser:
        page = browser.get(server.url + authorization(app, scope="openid").url)
        sent = fake.started_flow(browser, server.url + social_button(page, "fake"))
        back = browser.get(server.url + CALLBACK.format(name="fake"),
                           params={"state": sent["state"], "code": "c0de"})
        assert "Sign in to your account first" in back.text, back.text
        page = browser.get(server.url + authorization(app, scope="openid").url)
        [form] = [f for f in parse_page(page.text).forms if f["action"] == "/api/oauth/login"]
        follow(browser, browser.post(server.url + form["action"], data={
            **form["fields"], "email": user.email, "password": user.password,
        }))


@proves("listSocialProviders", "disconnectSocialProvider")
def test_social_providers(
    node: Node, social_server: tuple[ServerProcess, FakeUpstream]
) -> None:
    server, fake = social_server
    user = sign_up(server)
    link_at_provider(server, fake, user)
    result = node("socialProviders", server, token=user.access_token, provider="fake")
    [item] = result["listed"]
    conforms(item, SOCIAL_PROVIDER)
    assert (item["provider"], item["providerUserId"]) == ("fake", "node-subject")
    assert result["methods"] == {"hasPassword": True, "oauthProviders": ["fake"]}
    refused(result["unknown"])
    assert result["disconnected"] == VOID
    assert result["after"] == []


@proves("setOrChangePassword")
def test_set_or_change_password(node: Node, hs_server: ServerProcess, user: User) -> None:
    result = node("setOrChangePassword", hs_server, token=user.access_token,
                  password=user.password, newPassword=NEW_PASSWORD)
    refused(result["wrongCurrent"])
    conforms(result["changed"], MESSAGE)
    assert login_status(hs_server, user.email, user.password) == 401
    assert login_status(hs_server, user.email, NEW_PASSWORD) == 200


@proves("changePassword")
def test_change_password(node: Node, hs_server: ServerProcess, user: User) -> None:
    other_session = log_in(hs_server, user.email, user.password)
    result = node("changePassword", hs_server, token=user.access_token,
                  password=user.password, newPassword=NEW_PASSWORD)
    refused(result["wrongCurrent"])
    assert result["changed"] == VOID
    assert login_status(hs_server, user.email, NEW_PASSWORD) == 200
    assert refresh_status(hs_server, other_session[1]) == 401  # other sessions revoked


def _mfa_on(node: Node, server: ServerProcess, user: User) -> dict[str, Any]:
    """Set up and turn on TOTP through the package; the setup answer."""
    import pyotp

    setup = node("setupMfa", server, token=user.access_token, password=user.password)
    refused(setup["wrongPassword"])
    conforms(setup["setup"], SETUP_MFA_RESPONSE)
    answer: dict[str, Any] = setup["setup"]
    assert answer["qrCodeUrl"].startswith("data:image/png;base64,")
    assert len(answer["backupCodes"]) == 10
    totp = pyotp.TOTP(answer["secret"])
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    verified = node("verifyMfaSetup", server, token=user.access_token, code=totp.now(),
                    wrongCode=wrong)
    refused(verified["wrongCode"])
    assert verified["verified"] == VOID
    return answer


@proves("setupMfa", "verifyMfaSetup", "regenerateBackupCodes", "disableMfa")
def test_mfa_set_up_codes_and_turned_off(node: Node, hs_server: ServerProcess, user: User) -> None:
    setup = _mfa_on(node, hs_server, user)
    login = httpx.post(f"{hs_server.url}/api/auth/login",
                       json={"email": user.email, "password": user.password})
    assert login.json()["mfaRequired"] is True
    result = node("mfaCodes", hs_server, token=user.access_token, password=user.password,
                  newPassword=NEW_PASSWORD, backupCodes=setup["backupCodes"])
    conforms(result["regenerated"], BACKUP_CODES_RESPONSE)
    assert not set(result["regenerated"]["backupCodes"]) & set(setup["backupCodes"])
    refused(result["oldCode"])  # the codes before the regeneration stopped working
    refused(result["changeWithoutCode"])  # mfaCode is required while MFA is on
    refused(result["deleteWithoutCode"])
    assert result["changed"] == VOID
    assert result["disabled"] == VOID
    assert login_status(hs_server, user.email, NEW_PASSWORD) == 200  # tokens again


def test_delete_account_takes_the_mfa_code(
    node: Node, hs_server: ServerProcess, user: User
) -> None:
    setup = _mfa_on(node, hs_server, user)
    result = node("deleteAccountWithMfa", hs_server, token=user.access_token,
                  password=user.password, mfaCode=setup["backupCodes"][0])
    conforms(result["deleted"], MESSAGE)
    refused(result["profileAfter"])


@proves("listSessions", "revokeSession", "revokeAllSessions", "logout")
def test_sessions(node: Node, hs_server: ServerProcess, user: User) -> None:
    second = log_in(hs_server, user.email, user.password)
    third = log_in(hs_server, user.email, user.password)
    listed = node("listSessions", hs_server, token=user.access_token)["sessions"]
    conforms(listed, SESSIONS_RESPONSE)
    assert len(listed["sessions"]) == 3
    current = [s for s in listed["sessions"] if s.get("current") is True]
    assert len(current) == 1
    others = [s["id"] for s in listed["sessions"] if s is not current[0]]

    revoked = node("revokeSession", hs_server, token=user.access_token, sessionId=others[0])
    assert revoked["revoked"] == VOID
    refused(revoked["unknown"])
    conforms(revoked["after"], SESSIONS_RESPONSE)
    assert others[0] not in {s["id"] for s in revoked["after"]["sessions"]}
    assert len(revoked["after"]["sessions"]) == 2

    everything = node("revokeAllSessions", hs_server, token=user.access_token)
    assert everything["revoked"] == VOID
    assert [s["id"] for s in everything["after"]["sessions"]] == [current[0]["id"]]
    assert refresh_status(hs_server, second[1]) == 401
    assert refresh_status(hs_server, third[1]) == 401

    assert node("logout", hs_server, token=user.access_token)["loggedOut"] == VOID
    assert refresh_status(hs_server, user.refresh_token) == 401


@proves("getSecurityActivities")
def test_get_security_activities(node: Node, hs_server: ServerProcess, user: User) -> None:
    assert login_status(hs_server, user.email, "a wrong password") == 401
    log_in(hs_server, user.email, user.password)
    other = sign_up(hs_server)
    result = node("getSecurityActivities", hs_server, token=user.access_token,
                  activityType="login_failed")
    conforms(result["all"], SECURITY_ACTIVITIES_RESPONSE)
    everything = result["all"]
    assert everything["total"] >= 3  # two sign-ins and a failed one, at least
    assert everything["offset"] == 0
    assert {a["userId"] for a in everything["activities"]} == {user.user_id}
    assert other.user_id not in str(everything)
    assert all(isinstance(a["activityType"], str) for a in everything["activities"])
    conforms(result["page"], SECURITY_ACTIVITIES_RESPONSE)
    assert (result["page"]["limit"], result["page"]["offset"]) == (1, 1)
    assert len(result["page"]["activities"]) == 1
    assert result["page"]["total"] == everything["total"]
    assert result["page"]["activities"][0] == everything["activities"][1]
    conforms(result["ofType"], SECURITY_ACTIVITIES_RESPONSE)
    assert result["ofType"]["total"] == 1
    assert [a["activityType"] for a in result["ofType"]["activities"]] == ["login_failed"]
    assert result["ofType"]["activities"][0]["success"] is False


@proves("initiateSensitiveAction", "sendSensitiveActionCode", "verifySensitiveActionCode")
def test_sensitive_action_codes(node: Node, hs_server: ServerProcess, user: User) -> None:
    context = {"token": user.access_token, "action": ACTION}
    initiated = node("initiateSensitiveAction", hs_server, **context)["initiated"]
    conforms(initiated, INITIATE_SENSITIVE_ACTION_RESPONSE)
    assert initiated["requiresVerification"] is True
    assert initiated["verificationMethods"].get("password") is True
    assert initiated["verificationMethods"]["email"] == {"available": True}

    already = len(mail_to(hs_server, user.email))  # the verification mail of registration
    sent = node("sendSensitiveActionCode", hs_server, **context)["sent"]
    conforms(sent, MESSAGE)
    messages = mail_to(hs_server, user.email)[already:]
    assert len(messages) == 1, messages
    code = six_digit_code(messages[0])
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    verified = node("verifySensitiveActionCode", hs_server, code=code, wrongCode=wrong, **context)
    refused(verified["wrongCode"])
    conforms(verified["verified"], SENSITIVE_ACTION_TOKEN)
    refused(verified["reused"])

    # The token stands in for the password where a 2.2.12 body takes sensitiveActionToken.
    deleted = node("deleteAccount", hs_server, token=user.access_token, password=user.password,
                   sensitiveActionToken=verified["verified"]["token"])
    conforms(deleted["deleted"], MESSAGE)
    refused(deleted["profileAfter"])


@proves("getPasskeyRegistrationOptions", "registerPasskey", "listPasskeys", "renamePasskey",
        "deletePasskey")
def test_passkeys(node: Node, hs_server: ServerProcess, user: User) -> None:
    other = sign_up(hs_server)
    started = node("getPasskeyRegistrationOptions", hs_server, token=user.access_token)
    conforms(started["options"], PASSKEY_REGISTRATION_OPTIONS)
    options = started["options"]["options"]
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["requireResidentKey"] is True
    # The authenticator answers as a browser on the server's own origin would.
    port = urlsplit(hs_server.url).port
    key = SoftAuthenticator()
    credential = key.register(options, origin=f"http://{options['rp']['id']}:{port}")
    result = node("passkeys", hs_server, token=user.access_token, otherToken=other.access_token,
                  credential=credential, challenge=started["options"]["challenge"],
                  name="Laptop", newName="Work laptop")
    conforms(result["registered"], PASSKEY)
    assert result["registered"]["credentialId"] == key.id
    assert result["registered"]["name"] == "Laptop"
    refused(result["reused"])  # the challenge served once
    conforms(result["listed"], [PASSKEY])
    assert [p["id"] for p in result["listed"]] == [result["registered"]["id"]]
    conforms(result["renamed"], PASSKEY)
    assert result["renamed"]["name"] == "Work laptop"
    refused(result["othersRename"])
    refused(result["othersDelete"])
    assert result["deleted"] == VOID
    assert result["after"] == []


# -- the count the README states ----------------------------------------------------------------


def _exports(package: NodePackage) -> list[str]:
    report = run_driver(package, None, "--exports", {})
    assert set(report["kinds"].values()) == {"function"}, report["kinds"]
    names: list[str] = report["names"]
    return names


def test_every_export_is_covered_or_listed_as_not_yet(auth_backend: NodePackage) -> None:
    exports = set(_exports(auth_backend))
    assert COVERED.isdisjoint(NOT_YET), COVERED & NOT_YET
    assert exports == COVERED | NOT_YET, {
        "neither covered nor listed": sorted(exports - COVERED - NOT_YET),
        "not exported": sorted((COVERED | NOT_YET) - exports),
    }


def test_readme_states_what_this_suite_proves(auth_backend: NodePackage) -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    stated = re.search(r"(\d+) of (\d+) exports work against this server", readme)
    assert stated, "README.md must say 'N of M exports work against this server'"
    assert (int(stated.group(1)), int(stated.group(2))) == \
        (len(COVERED), len(_exports(auth_backend))), f"{VERSION}: covered {sorted(COVERED)}"
    paragraph = readme[stated.start():readme.index("\n\n", stated.start())]
    listed = set(re.findall(r"`(\w+)`", paragraph))
    assert listed & (COVERED | NOT_YET) == NOT_YET, "README: list every export not yet supported"
