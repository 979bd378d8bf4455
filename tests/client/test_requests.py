"""The I/O-free layer: request builders, answer and error parsing, retry rules, the
introspection cache, uploads. Nothing here opens a socket."""

from __future__ import annotations

import doctest
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import tekcify_auth._client
import tekcify_auth._client_models
import tekcify_auth._default
import tekcify_auth._requests
import tekcify_auth._retry
import tekcify_auth._uploads
import tekcify_auth.aio
from tekcify_auth import (
    AuthServerError,
    AuthServerInvalidResponse,
    CreateApplicationData,
    IntrospectResult,
    MessageResponse,
    RetryPolicy,
    TokenSet,
    UpdateProfileData,
    UserProfile,
)
from tekcify_auth import _requests as rq
from tekcify_auth._requests import (
    MAX_ERROR_BODY_BYTES,
    ApiRequest,
    ApiResponse,
    BodyReader,
    ClientAuth,
    IntrospectionCache,
    error_from_response,
)
from tekcify_auth._retry import parse_retry_after
from tekcify_auth._uploads import MAX_UPLOAD_BYTES, read_upload, sniff_image_type

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 24
GIF = b"GIF89a" + b"\0" * 24
WEBP = b"RIFF\x24\0\0\0WEBPVP8 " + b"\0" * 24
PROFILE = {"userId": "u1", "email": "ada@example.com", "firstName": "Ada", "lastName": None,
           "avatarUrl": None}


def answer(status: int = 200, body: Any = None, *, raw: bytes | None = None,
           headers: dict[str, str] | None = None, reason: str = "") -> ApiResponse:
    content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return ApiResponse(status, httpx.Headers(headers or {}), content, reason)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- builders ------------------------------------------------------------------------------

BUILDERS: list[tuple[Callable[[], ApiRequest[Any]], str, str, bool]] = [
    (lambda: rq.fetch_user_info("t"), "GET", "/api/oauth/userinfo", True),
    (lambda: rq.introspect_token("t"), "POST", "/api/oauth/token/introspect", True),
    (lambda: rq.get_user_profile("t"), "GET", "/api/user/profile", True),
    (lambda: rq.update_user_profile("t", {}), "PUT", "/api/user/profile", True),
    (lambda: rq.upload_profile_picture("t", PNG), "POST", "/api/user/profile/picture", False),
    (lambda: rq.export_user_data("t"), "GET", "/api/user/export-data", True),
    (lambda: rq.delete_account("t", "pw"), "DELETE", "/api/user/account", True),
    (lambda: rq.list_applications("t"), "GET", "/api/applications", True),
    (lambda: rq.get_application_by_client_id("c1"), "GET", "/api/applications/public/c1", True),
    (lambda: rq.create_application("t", {"name": "n", "redirect_uris": [], "scopes": []}),
     "POST", "/api/applications", False),
    (lambda: rq.update_application("t", "c1", {}), "PUT", "/api/applications/c1", True),
    (lambda: rq.delete_application("t", "c1"), "DELETE", "/api/applications/c1", True),
    (lambda: rq.upload_application_logo("t", "c1", PNG), "POST", "/api/applications/c1/logo",
     False),
    (lambda: rq.regenerate_application_secret("t", "c1"), "POST",
     "/api/applications/c1/regenerate-secret", False),
    (lambda: rq.list_connected_apps("t"), "GET", "/api/oauth/connected-apps", True),
    (lambda: rq.revoke_connected_app("t", "c1"), "DELETE", "/api/oauth/connected-apps/c1", True),
    (lambda: rq.register("a@b.c", "pw"), "POST", "/api/auth/register", False),
    (lambda: rq.login("a@b.c", "pw", Clock()), "POST", "/api/auth/login", False),
    (lambda: rq.refresh_tokens("r", Clock()), "POST", "/api/auth/refresh", False),
    (lambda: rq.logout("t"), "POST", "/api/auth/sessions/logout", False),
    (lambda: rq.list_sessions("t"), "GET", "/api/auth/sessions", True),
    (lambda: rq.revoke_session("t", "s1"), "DELETE", "/api/auth/sessions/s1", True),
    (lambda: rq.revoke_all_sessions("t"), "DELETE", "/api/auth/sessions", True),
    (lambda: rq.change_password("t", "old", "new"), "POST", "/api/auth/password/change", False),
    (lambda: rq.oauth_token({"grant_type": "client_credentials"}, ClientAuth("c", "s"), Clock()),
     "POST", "/api/oauth/token", False),
    (lambda: rq.oauth_revoke("t", ClientAuth("c", "s")), "POST", "/api/oauth/revoke", True),
]


@pytest.mark.parametrize(("build", "method", "path", "idempotent"), BUILDERS)
def test_builder_method_path_and_idempotence(
    build: Callable[[], ApiRequest[Any]], method: str, path: str, idempotent: bool
) -> None:
    request = build()
    assert (request.method, request.path, request.idempotent) == (method, path, idempotent)


def test_bearer_token_goes_in_the_authorization_header_and_never_in_repr() -> None:
    request = rq.get_user_profile("secret-token")
    assert request.headers == {"Authorization": "Bearer secret-token"}
    assert "secret-token" not in repr(request)
    assert "Authorization" not in rq.get_application_by_client_id("c1").headers


@pytest.mark.parametrize("token", ["", "   ", None, 42])
def test_an_empty_or_non_string_token_is_refused(token: Any) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        rq.get_user_profile(token)


def test_path_segments_are_percent_encoded_and_dot_segments_refused() -> None:
    assert rq.delete_application("t", "a/b?c#d").path == "/api/applications/a%2Fb%3Fc%23d"
    assert rq.revoke_session("t", "s 1").path == "/api/auth/sessions/s%201"
    for bad in ("", ".", ".."):
        with pytest.raises(ValueError, match="client_id"):
            rq.get_application_by_client_id(bad)


def test_list_applications_sends_page_and_limit_as_node_does() -> None:
    assert rq.list_applications("t").params == {"page": "1", "limit": "10"}
    assert rq.list_applications("t", page=3, limit=50).params == {"page": "3", "limit": "50"}
    with pytest.raises(ValueError, match="at least 1"):
        rq.list_applications("t", page=0)


def test_introspection_uses_the_tekcify_json_form() -> None:
    assert rq.introspect_token("tok").json == {"token": "tok"}
    request = rq.introspect_token("tok", "cid", "csecret")
    assert request.json == {"token": "tok", "clientId": "cid", "clientSecret": "csecret"}
    assert request.oauth


def test_register_sends_only_the_names_given() -> None:
    assert rq.register("a@b.c", "pw").json == {"email": "a@b.c", "password": "pw"}
    assert rq.register("a@b.c", "pw", "Ada", "L").json == {
        "email": "a@b.c", "password": "pw", "firstName": "Ada", "lastName": "L",
    }


# -- request bodies: the model or a dict, snake_case or camelCase --------------------------


def test_data_as_model_snake_dict_or_camel_dict_gives_the_same_wire_body() -> None:
    wire = {"name": "App", "redirectUris": ["https://a.example/cb"], "scopes": ["openid"]}
    model = CreateApplicationData(
        name="App", redirect_uris=["https://a.example/cb"], scopes=["openid"]
    )
    snake = {"name": "App", "redirect_uris": ["https://a.example/cb"], "scopes": ["openid"]}
    for data in (model, snake, wire):
        assert rq.create_application("t", data).json == wire


def test_only_the_fields_given_are_sent_and_unknown_keys_pass_through() -> None:
    assert rq.update_user_profile("t", {"first_name": "Ada"}).json == {"firstName": "Ada"}
    assert rq.update_user_profile("t", UpdateProfileData(last_name=None)).json == {
        "lastName": None
    }
    assert rq.update_application("t", "c", {"name": "N", "newField": 1}).json == {
        "name": "N", "newField": 1,
    }


def test_data_of_the_wrong_type_is_refused_before_sending() -> None:
    with pytest.raises(TypeError, match="UpdateProfileData or a dict"):
        rq.update_user_profile("t", ["first_name"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="redirectUris"):
        rq.create_application("t", {"name": "n", "scopes": []})


def test_uploads_are_multipart_field_file_with_sniffed_name_and_type() -> None:
    request = rq.upload_profile_picture("t", PNG)
    assert request.files == {"file": ("file.png", PNG, "image/png")}
    request = rq.upload_application_logo("t", "c", JPEG, "logo.jpeg", "image/x-custom")
    assert request.files == {"file": ("logo.jpeg", JPEG, "image/x-custom")}


# -- parsing answers -----------------------------------------------------------------------


def test_a_good_answer_becomes_its_model_and_unknown_fields_are_kept() -> None:
    profile = rq.get_user_profile("t").result(answer(200, {**PROFILE, "locale": "en"}))
    assert isinstance(profile, UserProfile)
    assert (profile.user_id, profile.first_name, profile.last_name) == ("u1", "Ada", None)
    assert profile.model_extra == {"locale": "en"}
    assert profile.model_dump(by_alias=True)["userId"] == "u1"


def test_answers_are_frozen() -> None:
    profile = rq.get_user_profile("t").result(answer(200, PROFILE))
    with pytest.raises(ValueError, match="frozen"):
        profile.email = "x"  # type: ignore[misc]


def test_lists_and_pages() -> None:
    app = {"clientId": "c1", "name": "A", "redirectUris": ["https://a/cb"], "scopes": ["openid"],
           "createdAt": "2025-01-31T12:00:00.000Z", "updatedAt": "2025-01-31T12:00:00.000Z"}
    page = rq.list_applications("t", 2, 5).result(
        answer(200, [app, app], headers={"X-Total-Count": "7"})
    )
    assert [a.client_id for a in page] == ["c1", "c1"]
    assert (page.total, page.page, page.limit) == (7, 2, 5)
    assert page[0].created_at is not None
    assert page[0].created_at.year == 2025
    assert rq.list_applications("t").result(answer(200, [])).total is None
    bad_total = answer(200, [], headers={"X-Total-Count": "lots"})
    assert rq.list_applications("t").result(bad_total).total is None
    with pytest.raises(AuthServerInvalidResponse, match="not a list of Session"):
        rq.list_sessions("t").result(answer(200, {"items": []}))
    with pytest.raises(AuthServerInvalidResponse, match="not a list of Application"):
        rq.list_applications("t").result(answer(200, {"success": True, "stats": None}))


def test_list_applications_reads_the_2_2_12_envelope() -> None:
    app = {"clientId": "c1", "name": "A", "redirectUris": ["https://a/cb"], "scopes": ["openid"],
           "primaryColor": "#a1b2c3", "isActive": False,
           "createdAt": "2025-01-31T12:00:00.000Z", "updatedAt": "2025-01-31T12:00:00.000Z"}
    envelope = {
        "success": True, "stats": {"total": 7, "active": 6, "inactive": 1}, "data": [app],
        "pagination": {"page": 2, "limit": 5, "total": 7, "totalPages": 2},
    }
    page = rq.list_applications("t", 2, 5).result(answer(200, envelope))
    assert [a.client_id for a in page] == ["c1"]
    assert (page.total, page.page, page.limit, page.total_pages) == (7, 2, 5, 2)
    assert page.stats is not None
    assert (page.stats.total, page.stats.active, page.stats.inactive) == (7, 6, 1)
    assert (page[0].primary_color, page[0].is_active) == ("#a1b2c3", False)
    # Only the envelope, without the header; and the bare array has no stats.
    assert page.total == 7
    bare = rq.list_applications("t").result(answer(200, [app], headers={"X-Total-Count": "1"}))
    assert (bare.total, bare.stats, bare.total_pages) == (1, None, None)


def test_sessions_and_connected_apps_read_the_2_2_12_wrappers_and_bare_arrays() -> None:
    session = {"id": "s1", "applicationName": "Tekcify", "applicationLogo": None,
               "ipAddress": "203.0.113.1", "userAgent": "UA", "scopes": ["openid"],
               "createdAt": "2025-01-31T12:00:00.000Z", "lastUsedAt": "2025-01-31T12:00:00.000Z",
               "expiresAt": "2025-02-07T12:00:00.000Z", "current": True}
    [wrapped] = rq.list_sessions("t").result(answer(200, {"sessions": [session]}))
    assert wrapped.application_name == "Tekcify"
    assert wrapped.scopes == ["openid"]
    assert wrapped.expires_at is not None
    assert wrapped.current is True
    assert [s.id for s in rq.list_sessions("t").result(answer(200, [session]))] == ["s1"]

    connected = {"id": "k1", "clientId": "c1", "name": "A", "description": None,
                 "logoUrl": None, "scopes": ["openid"],
                 "connectedAt": "2025-01-31T12:00:00.000Z",
                 "updatedAt": "2025-01-31T12:00:00.000Z"}
    [app] = rq.list_connected_apps("t").result(
        answer(200, {"success": True, "data": [connected]})
    )
    assert (app.id, app.client_id) == ("k1", "c1")
    assert [a.client_id for a in rq.list_connected_apps("t").result(answer(200, [connected]))] == [
        "c1"
    ]
    revoked = rq.revoke_connected_app("t", "c1").result(
        answer(200, {"success": True, "message": "Access withdrawn"})
    )
    assert revoked.message == "Access withdrawn"


def test_the_public_application_has_no_timestamps() -> None:
    body = {"clientId": "c1", "name": "A", "description": None, "logoUrl": None,
            "redirectUris": ["https://a/cb"], "authorizedOrigins": None, "scopes": ["openid"]}
    app = rq.get_application_by_client_id("c1").result(answer(200, body))
    assert app.created_at is None
    assert app.authorized_origins is None


def test_secrets_are_kept_out_of_repr() -> None:
    body = {"clientId": "c1", "name": "A", "redirectUris": [], "scopes": [],
            "clientSecret": "s3cr3t"}
    created = rq.create_application("t", {"name": "A", "redirect_uris": [], "scopes": []}).result(
        answer(201, body)
    )
    assert created.client_secret == "s3cr3t"
    assert "s3cr3t" not in repr(created)
    regenerated = rq.regenerate_application_secret("t", "c1").result(
        answer(200, {"clientId": "c1", "clientSecret": "n3w", "message": "ok"})
    )
    assert regenerated.client_secret == "n3w"
    assert "n3w" not in repr(regenerated)


@pytest.mark.parametrize(
    ("response", "match"),
    [
        (answer(200), "empty body"),
        (answer(200, raw=b"<html><title>Login</title></html>",
                headers={"content-type": "text/html"}), r"not JSON \(text/html\): Login"),
        (answer(200, ["not", "an", "object"]), "not a UserProfile"),
        (answer(200, {"userId": "u1"}), r"not a UserProfile \(email: Field required\)"),
    ],
)
def test_a_2xx_body_that_does_not_fit_is_a_clear_invalid_response(
    response: ApiResponse, match: str
) -> None:
    with pytest.raises(AuthServerInvalidResponse, match=match) as info:
        rq.get_user_profile("t").result(response)
    assert info.value.status_code == 200
    assert not isinstance(info.value, AuthServerError)


def test_an_invalid_answer_does_not_echo_its_values() -> None:
    with pytest.raises(AuthServerInvalidResponse) as info:
        rq.login("a@b.c", "pw", Clock()).result(answer(200, {"accessToken": 12345678}))
    assert "12345678" not in str(info.value)


def test_a_truncated_2xx_body_is_refused() -> None:
    response = ApiResponse(200, httpx.Headers(), b"{", "OK", truncated=True)
    with pytest.raises(AuthServerInvalidResponse, match="larger than the client's limit"):
        rq.get_user_profile("t").result(response)


def test_message_endpoints_accept_204_without_a_body() -> None:
    assert rq.revoke_connected_app("t", "c").result(answer(204)) == MessageResponse(message="")
    assert rq.delete_application("t", "c").result(answer(200, {"message": "Deleted"})).message == (
        "Deleted"
    )


def test_revocation_reads_no_body() -> None:
    assert rq.oauth_revoke("t", ClientAuth("c")).result(answer(200)) is None


def test_export_is_any_json_object() -> None:
    data = {"user": {"id": "u1"}, "sessions": []}
    assert rq.export_user_data("t").result(answer(200, data)) == data
    with pytest.raises(AuthServerInvalidResponse, match="not a JSON object"):
        rq.export_user_data("t").result(answer(200, [1]))


def test_token_sets_from_login_and_from_the_token_endpoint() -> None:
    clock = Clock(1000.4)
    login = rq.login("a@b.c", "pw", clock).result(answer(200, {
        "accessToken": "at", "refreshToken": "rt", "tokenType": "Bearer", "expiresIn": 900,
    }))
    assert (login.access_token, login.refresh_token, login.expires_at) == ("at", "rt", 1900)
    assert "at" not in repr(login).replace("expires_at", "").replace("token_type", "")
    oauth = rq.oauth_token({}, ClientAuth("c"), clock).result(answer(200, {
        "access_token": "at2", "token_type": "Bearer", "expires_in": 60, "scope": "openid email",
    }))
    assert (oauth.expires_at, oauth.scopes, oauth.refresh_token) == (1060, ("openid", "email"),
                                                                      None)
    assert oauth.is_expired(now=1059) is False
    assert oauth.is_expired(now=1060) is True
    assert oauth.is_expired(leeway=5, now=1056) is True
    assert TokenSet(access_token="x").is_expired() is False


def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one() -> None:
    request = rq.oauth_token({}, ClientAuth("c"), Clock(), previous_refresh_token="old")
    kept = request.result(answer(200, {"access_token": "a", "token_type": "Bearer"}))
    assert kept.refresh_token == "old"
    rotated = request.result(answer(200, {"access_token": "a", "refresh_token": "new"}))
    assert rotated.refresh_token == "new"


def test_introspection_reads_both_spellings() -> None:
    active = rq.introspect_token("t").result(answer(200, {
        "active": True, "sub": "u1", "scope": "openid profile", "clientId": "c1",
        "client_id": "c1", "exp": 2000, "aud": ["a", "b"], "tokenType": "Bearer",
    }))
    assert (active.client_id, active.token_type, active.aud) == ("c1", "Bearer", ("a", "b"))
    assert active.scopes == ("openid", "profile")
    camel_only = rq.introspect_token("t").result(answer(200, {"active": True, "clientId": "c2"}))
    assert camel_only.client_id == "c2"
    inactive = rq.introspect_token("t").result(answer(200, {"active": False}))
    assert (inactive.active, inactive.sub, inactive.scopes) == (False, None, ())


# -- errors --------------------------------------------------------------------------------


def test_the_servers_message_is_the_errors_message() -> None:
    response = answer(401, {"statusCode": 401, "error": "Unauthorized",
                            "message": "Invalid or expired token"})
    with pytest.raises(AuthServerError) as info:
        rq.get_user_profile("t").result(response)
    error = info.value
    assert (error.status_code, error.message, error.error) == (401, "Invalid or expired token",
                                                               None)
    assert str(error) == "401: Invalid or expired token"


def test_oauth_errors_carry_the_code_and_fall_back_to_the_description() -> None:
    body = {"error": "invalid_grant", "error_description": "The code has expired"}
    error = error_from_response(answer(400, body), oauth=True)
    assert (error.error, error.message) == ("invalid_grant", "The code has expired")
    with_message = error_from_response(answer(400, {**body, "message": "Shown"}), oauth=True)
    assert (with_message.error, with_message.message) == ("invalid_grant", "Shown")
    bare = error_from_response(answer(401, {"error": "invalid_client"}), oauth=True)
    assert (bare.error, bare.message) == ("invalid_client", "invalid_client")
    # Outside the protocol endpoints "error" is the HTTP reason, not a protocol code...
    plain = error_from_response(answer(404, {"error": "Not Found", "message": "No such app"}))
    assert (plain.error, plain.message) == (None, "No such app")
    # ...unless the body is plainly an RFC 6749 error.
    assert error_from_response(answer(400, body)).error == "invalid_grant"
    # A protocol endpoint answering in the Tekcify shape (a 503, a 413) has no code there.
    unavailable = {"statusCode": 503, "error": "Service Unavailable", "message": "Try later"}
    down = error_from_response(answer(503, unavailable), oauth=True)
    assert (down.error, down.message) == (None, "Try later")


def test_userinfo_errors_take_the_code_from_the_bearer_challenge() -> None:
    # What the real server answers a revoked token (tests/e2e/test_oauth_endpoints.py).
    response = answer(
        401, {"statusCode": 401, "error": "Unauthorized", "message": "Invalid or expired token"},
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    with pytest.raises(AuthServerError) as info:
        rq.fetch_user_info("t").result(response)
    assert (info.value.error, info.value.message) == ("invalid_token", "Invalid or expired token")


def test_the_bearer_challenge_gives_the_error_code() -> None:
    response = answer(401, {"message": "Invalid or expired token"}, headers={
        "WWW-Authenticate": 'Bearer error="invalid_token", error_description="expired"'
    })
    assert error_from_response(response).error == "invalid_token"
    insufficient = answer(403, {"message": "x"}, headers={
        "WWW-Authenticate": 'Bearer error_description="d", error="insufficient_scope"'
    })
    assert error_from_response(insufficient).error == "insufficient_scope"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (answer(400, {"message": ["name must be a string", "scopes is empty"]}),
         "name must be a string; scopes is empty"),
        (answer(404, {"detail": "Not Found"}), "Not Found"),
        (answer(500, {"message": "  "}), 'Internal Server Error: {"message": " "}'),
        (answer(502, reason="Bad Gateway"), "Bad Gateway"),
        (answer(503, raw=b"upstream connect error\r\nor disconnect"),
         "Service Unavailable: upstream connect error or disconnect"),
        (answer(502, raw=b"<html><head><title>502 Bad Gateway</title></head><body>"
                         b"<center>nginx</center></body></html>",
                headers={"content-type": "text/html"}, reason="Bad Gateway"),
         "Bad Gateway: 502 Bad Gateway"),
        (answer(504, raw=b"<body><h1>Gateway  Timeout</h1>\n<p>try &amp; retry</p></body>"),
         "Gateway Timeout: Gateway Timeout try & retry"),
        (answer(599), "HTTP 599"),
        (answer(500, raw=b"\xff\xfe not utf-8 \x00"), "Internal Server Error: �� not utf-8"),
    ],
)
def test_bodies_without_a_message_fall_back_to_the_reason_and_a_snippet(
    response: ApiResponse, message: str
) -> None:
    assert error_from_response(response).message == message


def test_a_long_error_body_is_cut_to_a_snippet() -> None:
    error = error_from_response(answer(500, raw=b"x" * 10_000))
    assert len(error.message) < 260
    assert error.message.endswith("…")


def test_redirects_are_errors_not_followed() -> None:
    with pytest.raises(AuthServerError) as info:
        rq.get_user_profile("t").result(answer(302, headers={"Location": "https://elsewhere"}))
    assert info.value.message == "Found"


# -- reading bodies ------------------------------------------------------------------------


def test_the_body_reader_stops_at_the_limit() -> None:
    reader = BodyReader(200, httpx.Headers(), limit=10)
    assert reader.feed(b"12345") is True
    assert reader.feed(b"678901") is False
    response = reader.response("OK")
    assert (response.content, response.truncated) == (b"1234567890", True)


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    reader = BodyReader(200, httpx.Headers({"Content-Length": "11"}), limit=10)
    assert reader.truncated
    assert not BodyReader(200, httpx.Headers({"Content-Length": "10"}), limit=10).truncated


def test_error_bodies_are_read_only_far_enough_for_the_message() -> None:
    reader = BodyReader(500, httpx.Headers({"Content-Length": str(10**9)}), limit=10**9)
    assert reader.limit == MAX_ERROR_BODY_BYTES
    assert not reader.truncated
    reader.feed(b"x" * (MAX_ERROR_BODY_BYTES + 1))
    response = reader.response("Internal Server Error")
    assert len(response.content) == MAX_ERROR_BODY_BYTES
    assert not response.truncated


# -- retry rules ---------------------------------------------------------------------------


def test_backoff_is_full_jitter_over_a_capped_exponential() -> None:
    policy = RetryPolicy(retries=10, backoff=0.5, max_backoff=3.0)
    assert [policy.backoff_delay(n, rand=1.0) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.backoff_delay(3, rand=0.0) == 0.0
    assert policy.backoff_delay(3, rand=0.25) == 0.75
    assert RetryPolicy(retries=5000).backoff_delay(4999, rand=1.0) == 8.0


def test_only_idempotent_requests_after_connection_errors_are_tried_again() -> None:
    policy = RetryPolicy(retries=2, backoff=1.0)
    request = httpx.Request("GET", "http://x")
    refused = httpx.ConnectError("refused", request=request)
    assert policy.after_error(True, 0, refused, rand=0.5) == 0.5
    assert policy.after_error(True, 1, refused, rand=0.5) == 1.0
    assert policy.after_error(True, 2, refused, rand=0.5) is None  # retries used up
    assert policy.after_error(False, 0, refused, rand=0.5) is None  # a POST
    for error in (httpx.ConnectTimeout("t", request=request),
                  httpx.RemoteProtocolError("closed", request=request),
                  httpx.ReadError("reset", request=request)):
        assert policy.after_error(True, 0, error, rand=1.0) == 1.0
    for error in (httpx.ReadTimeout("slow", request=request),
                  httpx.PoolTimeout("busy", request=request)):
        assert policy.after_error(True, 0, error, rand=1.0) is None


def test_statuses_tried_again_and_retry_after() -> None:
    policy = RetryPolicy(retries=2, backoff=1.0, max_retry_after=30)
    for status in (429, 502, 503, 504):
        assert policy.after_status(True, 0, status, None, now=0, rand=0.5) == 0.5
    for status in (400, 401, 404, 409, 500, 501):
        assert policy.after_status(True, 0, status, None, now=0, rand=0.5) is None
    assert policy.after_status(False, 0, 503, None, now=0, rand=0.5) is None
    assert policy.after_status(True, 2, 503, None, now=0, rand=0.5) is None
    assert policy.after_status(True, 0, 429, "7", now=0, rand=0.5) == 7.0
    assert policy.after_status(True, 0, 429, "31", now=0, rand=0.5) is None  # over the cap
    date = "Wed, 21 Oct 2015 07:28:10 GMT"  # 1445412490
    assert policy.after_status(True, 0, 503, date, now=1445412480, rand=0.5) == 10.0
    assert policy.after_status(True, 0, 503, "soon", now=0, rand=0.5) == 0.5  # unreadable


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), (" 12 ", 12.0), ("-3", None), ("1.5", None), ("", None), ("soon", None),
     ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
     ("\uff12", None), (None, None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=1445412480) == expected


def test_retry_policy_refuses_negative_settings() -> None:
    with pytest.raises(ValueError, match="retries"):
        RetryPolicy(retries=-1)
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(backoff=-0.1)


# -- the introspection cache ---------------------------------------------------------------


def test_the_introspection_cache_is_off_unless_given_a_ttl() -> None:
    cache = IntrospectionCache(None, 5, 10, Clock())
    cache.put("k", IntrospectResult(active=True))
    assert cache.get("k") is None


def test_active_answers_live_until_the_earlier_of_exp_and_the_ttl() -> None:
    clock = Clock(1000)
    cache = IntrospectionCache(60, 5, 10, clock)
    short = IntrospectResult(active=True, exp=1030)
    long = IntrospectResult(active=True, exp=5000)
    no_exp = IntrospectResult(active=True)
    for key, result in (("short", short), ("long", long), ("none", no_exp)):
        cache.put(key, result)
    clock.now = 1029.9
    assert cache.get("short") is short
    assert cache.get("long") is long
    clock.now = 1030
    assert cache.get("short") is None
    assert cache.get("long") is long
    clock.now = 1060
    assert cache.get("long") is None
    assert cache.get("none") is None


def test_inactive_answers_live_a_few_seconds_and_expired_tokens_not_at_all() -> None:
    clock = Clock(1000)
    cache = IntrospectionCache(60, 5, 10, clock)
    cache.put("inactive", IntrospectResult(active=False))
    cache.put("expired", IntrospectResult(active=True, exp=999))
    assert cache.get("expired") is None
    clock.now = 1004.9
    assert cache.get("inactive") is not None
    clock.now = 1005
    assert cache.get("inactive") is None
    no_negative = IntrospectionCache(60, 0, 10, clock)
    no_negative.put("inactive", IntrospectResult(active=False))
    assert no_negative.get("inactive") is None


def test_cache_keys_are_hashes_that_tell_clients_apart() -> None:
    key = IntrospectionCache.key("the-token", "c1", "s1")
    assert "the-token" not in key
    assert len(key) == 64
    assert key != IntrospectionCache.key("the-token", "c1", "s2")
    assert key != IntrospectionCache.key("the-token", "c2", "s1")
    assert IntrospectionCache.key("a", "b\0c", None) != IntrospectionCache.key("a", "b", "c")
    with pytest.raises(ValueError, match="> 0"):
        IntrospectionCache(0, 5, 10, Clock())


# -- uploads -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (b"GIF87a", "image/gif"),
     (WEBP, "image/webp"), (b"RIFF\0\0\0\0WAVE", "application/octet-stream"),
     (b"%PDF-1.7", "application/octet-stream"), (b"", "application/octet-stream")],
)
def test_sniffing_magic_numbers(data: bytes, content_type: str) -> None:
    assert sniff_image_type(data) == content_type


def test_uploads_from_bytes_a_path_and_file_objects(tmp_path: Any) -> None:
    assert read_upload(bytearray(GIF)).file_name == "file.gif"
    assert read_upload(memoryview(b"data")).file_name == "file"
    path = tmp_path / "avatar.webp"
    path.write_bytes(WEBP)
    for given in (path, str(path)):
        upload = read_upload(given)
        assert (upload.file_name, upload.content, upload.content_type) == (
            "avatar.webp", WEBP, "image/webp"
        )
    with path.open("rb") as handle:
        assert read_upload(handle).file_name == "avatar.webp"
    with path.open("rb", buffering=0) as raw:
        assert read_upload(raw).content == WEBP
    unnamed = read_upload(io.BytesIO(JPEG), content_type="image/pjpeg")
    assert (unnamed.file_name, unnamed.content_type) == ("file.jpg", "image/pjpeg")
    assert read_upload(PNG, file_name="me.png").file_name == "me.png"


def test_bad_uploads_are_refused(tmp_path: Any) -> None:
    path = tmp_path / "note.txt"
    path.write_text("hello")
    with path.open() as text, pytest.raises(TypeError, match="binary mode"):
        read_upload(text)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not int"):
        read_upload(42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        read_upload(str(tmp_path / "missing.png"))
    with pytest.raises(ValueError, match="larger than"):
        read_upload(io.BytesIO(bytes(MAX_UPLOAD_BYTES + 1)))


# -- the examples in the docstrings --------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [tekcify_auth._client, tekcify_auth._client_models, tekcify_auth._default,
     tekcify_auth._requests, tekcify_auth._retry, tekcify_auth._uploads, tekcify_auth.aio],
)
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
