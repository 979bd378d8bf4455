"""Two instances, one PostgreSQL and one Redis: whatever one instance does, the other
knows at once, because nothing lives only in one process's memory (issue 6, item 2).

Every request crosses a real socket to ``tekcify-auth serve``; A and B are the two
instances of the ``fleet`` fixture (``conftest.py``). Each test makes its own accounts.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
import redis
from PIL import Image

from e2e.support import Browser
from tekcify_auth import JwksVerifier

from .conftest import JWKS_MAX_AGE, KEY_RELOAD_INTERVAL, MAX_FAILURES, Fleet

pytestmark = [pytest.mark.slow, pytest.mark.needs("postgres", "redis")]

PASSWORD = "correct horse battery staple"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
#: How long a change may take to reach the other instance's key ring: its reload
#: interval, and generous slack for a loaded machine (polled, never slept through).
KEY_PROPAGATION = KEY_RELOAD_INTERVAL + 15.0


@pytest.fixture
def a(fleet: Fleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.a.url, timeout=30) as client:
        yield client


@pytest.fixture
def b(fleet: Fleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.b.url, timeout=30) as client:
        yield client


def _ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_email() -> str:
    return f"fleet-{uuid.uuid4().hex[:12]}@example.com"


def register(client: httpx.Client) -> str:
    email = new_email()
    _ok(client.post("/api/auth/register", json={"email": email, "password": PASSWORD}), 201)
    return email


def login(client: httpx.Client, email: str, **headers: str) -> dict[str, Any]:
    return _ok(
        client.post("/api/auth/login", json={"email": email, "password": PASSWORD},
                    headers=headers)
    )


def introspect(client: httpx.Client, token: str) -> bool:
    active: bool = _ok(client.post("/api/oauth/token/introspect", json={"token": token}))["active"]
    return active


def kid_of(token: str) -> str:
    head = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    return kid


# -- sessions and revocation -----------------------------------------------------------------


def test_login_on_a_refresh_on_b(a: httpx.Client, b: httpx.Client) -> None:
    email = register(a)
    first = login(a, email)
    second = _ok(b.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]}))
    for instance in (a, b):
        me = _ok(instance.get("/api/oauth/userinfo", headers=bearer(second["accessToken"])))
        assert me["email"] == email
    # The rotated token, presented again on A, is reuse: the session ends everywhere.
    reused = a.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reused.status_code == 401
    assert not introspect(b, second["accessToken"])
    assert b.post(
        "/api/auth/refresh", json={"refreshToken": second["refreshToken"]}
    ).status_code == 401


def test_logout_on_b_is_inactive_on_a_at_once(a: httpx.Client, b: httpx.Client) -> None:
    email = register(b)
    pair = login(a, email)
    assert introspect(a, pair["accessToken"])
    assert a.get("/api/oauth/userinfo", headers=bearer(pair["accessToken"])).status_code == 200
    logout = b.post(
        "/api/auth/sessions/logout", headers=bearer(pair["accessToken"]),
        json={"refreshToken": pair["refreshToken"]},
    )
    assert logout.status_code in (200, 204), logout.text
    # No waiting: A answers from the database, not from what it verified a moment ago.
    assert not introspect(a, pair["accessToken"])
    refused = a.get("/api/oauth/userinfo", headers=bearer(pair["accessToken"]))
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers["www-authenticate"]


def test_the_login_rate_limit_is_shared(fleet: Fleet, a: httpx.Client, b: httpx.Client) -> None:
    email = register(a)
    wrong = {"email": email, "password": "not the password"}
    for n in range(MAX_FAILURES):
        assert (a if n % 2 == 0 else b).post("/api/auth/login", json=wrong).status_code == 401
    for instance in (b, a):
        blocked = instance.post("/api/auth/login", json={"email": email, "password": PASSWORD})
        assert blocked.status_code == 429, blocked.text
        assert 1 <= int(blocked.headers["retry-after"]) <= 900
    # The counters are Redis's, under the limiter's prefix (and hold no email address).
    shared = redis.Redis.from_url(fleet.redis_url)
    try:
        keys = [key.decode() for key in shared.scan_iter("tekcify:login:*")]
    finally:
        shared.close()
    assert keys
    assert not any(email in key for key in keys)


def test_a_spoofed_x_forwarded_for_is_not_believed(a: httpx.Client) -> None:
    # No TEKCIFY_TRUSTED_PROXIES: the peer (127.0.0.1) is the client, whatever it claims.
    email = register(a)
    pair = login(a, email, **{"X-Forwarded-For": "203.0.113.9"})
    sessions = _ok(a.get("/api/auth/sessions", headers=bearer(pair["accessToken"])))["sessions"]
    assert [s["ipAddress"] for s in sessions] == ["127.0.0.1"]


# -- keys ----------------------------------------------------------------------------------


def _jwks_kids(client: httpx.Client) -> list[str]:
    return [key["kid"] for key in _ok(client.get("/api/.well-known/jwks.json"))["keys"]]


def _wait_for_kid(instances: tuple[httpx.Client, ...], kid: str) -> None:
    """Poll the instances' JWKS until ``kid`` is the active (first) key of each."""
    deadline = time.monotonic() + KEY_PROPAGATION
    pending = list(instances)
    while pending:
        pending = [client for client in pending if _jwks_kids(client)[:1] != [kid]]
        if pending and time.monotonic() > deadline:
            late = [str(client.base_url) for client in pending]
            raise AssertionError(f"{late} did not publish {kid} within {KEY_PROPAGATION} s")
        if pending:
            threading.Event().wait(0.1)


def test_a_key_rotated_with_the_cli_signs_and_verifies_everywhere(
    fleet: Fleet, a: httpx.Client, b: httpx.Client, tmp_path: Path
) -> None:
    email = register(a)
    before = login(a, email)
    old_kid = kid_of(before["accessToken"])
    assert _jwks_kids(a)[0] == _jwks_kids(b)[0] == old_kid

    # --now: a scheduled rotation switches after the JWKS max-age (tests/server/
    # test_key_lifecycle.py drives one through with a clock); this one switches at once.
    rotated = fleet.cli("keys", "rotate", "--now", data_dir=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    found = re.search(r"new signing key (\S+) \(ES256\)", rotated.stdout)
    assert found, rotated.stdout
    new_kid = found.group(1)
    assert new_kid != old_kid

    _wait_for_kid((a, b), new_kid)
    for instance in (a, b):
        assert _jwks_kids(instance) == [new_kid, old_kid]  # the old key stays published
    tokens = [login(a, email)["accessToken"], login(b, email)["accessToken"]]
    assert [kid_of(token) for token in tokens] == [new_kid, new_kid]
    for token in [*tokens, before["accessToken"]]:
        for server, instance in zip(fleet.instances, (a, b), strict=True):
            assert instance.get("/api/oauth/userinfo", headers=bearer(token)).status_code == 200
            assert introspect(instance, token)
            # A resource server that knows only the instance's JWKS accepts it too.
            verified = JwksVerifier(auth_server_url=server.url).verify(token)
            assert verified.valid, verified.error


def test_a_scheduled_rotation_switches_every_instance_and_no_resource_server_refuses(
    fleet: Fleet, a: httpx.Client, b: httpx.Client, tmp_path: Path
) -> None:
    email = register(a)
    before = login(a, email)["accessToken"]
    old_kid = kid_of(before)
    # Resource servers that fetched the JWKS before the rotation: they keep it for its
    # max-age and fetch again at most once per refetch_cooldown, here the max-age (2 s).
    # (TEKCIFY_JWKS_MAX_AGE must not be below the resource servers' cooldown: README;
    # tests/server/test_key_lifecycle.py proves the default 300 s with cooldown 30.)
    verifiers = [JwksVerifier(auth_server_url=server.url, refetch_cooldown=JWKS_MAX_AGE)
                 for server in fleet.instances]
    for verifier in verifiers:
        assert verifier.verify(before).valid
    rotated = fleet.cli("keys", "rotate", data_dir=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    found = re.search(r"next signing key (\S+) \(ES256\), published in the JWKS now",
                      rotated.stdout)
    assert found, rotated.stdout
    new_kid = found.group(1)
    # Published on both instances at once (within a reload), while the old key still signs.
    deadline = time.monotonic() + KEY_PROPAGATION
    while not all(new_kid in _jwks_kids(instance) for instance in (a, b)):
        assert time.monotonic() < deadline, "the next key was not published"
        threading.Event().wait(0.1)
    for instance in (a, b):
        token = login(instance, email)["accessToken"]
        assert kid_of(token) == old_kid
        assert all(verifier.verify(token).valid for verifier in verifiers)
    # Each instance switches by itself; every token either signs verifies at once.
    seen: set[str] = set()
    deadline = time.monotonic() + 13 + KEY_PROPAGATION
    while seen != {new_kid}:
        assert time.monotonic() < deadline, f"still signing with {seen}"
        seen = set()
        for instance in (a, b):
            token = login(instance, email)["accessToken"]
            seen.add(kid_of(token))
            for verifier in verifiers:
                verified = verifier.verify(token)
                assert verified.valid, (kid_of(token), verified.error)
        threading.Event().wait(0.5)


def test_a_key_revoked_with_the_cli_is_refused_everywhere(
    fleet: Fleet, a: httpx.Client, b: httpx.Client, tmp_path: Path
) -> None:
    email = register(a)
    pair = login(a, email)
    token = pair["accessToken"]
    leaked = kid_of(token)
    for instance in (a, b):  # verified once: in each instance's verifier cache
        assert introspect(instance, token)
        assert instance.get("/api/oauth/userinfo", headers=bearer(token)).status_code == 200

    revoked = fleet.cli("keys", "revoke", "--now", "--", leaked, data_dir=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    found = re.search(r"new signing key (\S+) \(ES256\), signing now", revoked.stdout)
    assert found, revoked.stdout
    _wait_for_kid((a, b), found.group(1))  # each instance has re-read the keys
    for instance in (a, b):
        assert leaked not in _jwks_kids(instance)
        assert not introspect(instance, token)
        assert instance.get("/api/oauth/userinfo", headers=bearer(token)).status_code == 401
    fresh = _ok(b.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]}))
    assert kid_of(fresh["accessToken"]) == found.group(1)
    for instance in (a, b):
        assert introspect(instance, fresh["accessToken"])


# -- images ----------------------------------------------------------------------------------


def test_an_avatar_uploaded_through_a_is_served_by_b(a: httpx.Client, b: httpx.Client) -> None:
    email = register(a)
    token = login(a, email)["accessToken"]
    picture = io.BytesIO()
    Image.new("RGB", (40, 30), (secrets.randbelow(256), 80, 160)).save(picture, "PNG")
    uploaded = _ok(a.post(
        "/api/user/profile/picture", headers=bearer(token),
        files={"file": ("me.png", picture.getvalue(), "image/png")},
    ))
    path = urlsplit(uploaded["avatarUrl"]).path
    from_a, from_b = a.get(path), b.get(path)
    assert from_b.status_code == 200, from_b.text
    # A PNG stays a PNG.
    assert from_b.headers["content-type"] == from_a.headers["content-type"] == "image/png"
    assert from_b.content == from_a.content
    assert Image.open(io.BytesIO(from_b.content)).size == (40, 30)
    assert from_b.headers["etag"] == from_a.headers["etag"]
    profile = _ok(b.get("/api/user/profile", headers=bearer(token)))
    # The same image; without TEKCIFY_PUBLIC_URL each instance names it under its own
    # address (the stored value is the path).
    assert urlsplit(profile["avatarUrl"]).path == path
    assert profile["avatarUrl"].startswith(str(b.base_url).rstrip("/"))


# -- authorization codes -----------------------------------------------------------------------


def _authorize_query(client_id: str) -> tuple[str, str]:
    """The query of an authorization request, and its PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    query = urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile", "state": "fleet-state", "code_challenge_method": "S256",
        "code_challenge": challenge.rstrip(b"=").decode(),
    })
    return f"/api/oauth/authorize?{query}", verifier


def _code_form(code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }


def test_an_authorization_code_is_redeemed_once_across_the_fleet(
    fleet: Fleet, a: httpx.Client, b: httpx.Client
) -> None:
    owner = register(a)
    created = _ok(a.post(
        "/api/applications", headers=bearer(login(a, owner)["accessToken"]),
        json={"name": "Fleet app", "redirectUris": [REDIRECT_URI],
              "scopes": ["openid", "profile"]},
    ), 201)
    client_id, secret = created["clientId"], created["clientSecret"]
    user = register(b)
    # The user signs in and consents on A's pages (driven over HTTP, CSRF from the forms).
    on_a = Browser(fleet.a.url)
    on_b = Browser(fleet.b.url)
    try:
        url, verifier = _authorize_query(client_id)
        answer = on_a.authorize(url, user, PASSWORD)
        assert on_a.pages == ["login", "consent"]
        assert answer["state"] == "fleet-state"
        code = answer["code"]
        # The same browser (its cookies) on B: signed in and consented already, so B
        # issues a code at once, from the login session and consent A stored.
        on_b.http.cookies.update(on_a.http.cookies)
        url_b, verifier_b = _authorize_query(client_id)
        from_b = on_b.authorize(url_b, user, PASSWORD)
        assert on_b.pages == []
    finally:
        on_a.close()
        on_b.close()
    redeemed_on_a = a.post(
        "/api/oauth/token", data=_code_form(from_b["code"], verifier_b), auth=(client_id, secret)
    )
    assert redeemed_on_a.status_code == 200, redeemed_on_a.text

    form = _code_form(code, verifier)
    attempts = 20
    start = threading.Barrier(attempts)
    answers: list[httpx.Response | BaseException] = [RuntimeError("not run")] * attempts

    def redeem(i: int) -> None:
        url = fleet.instances[i % 2].url
        with httpx.Client(base_url=url, timeout=30, auth=(client_id, secret)) as http:
            http.get("/health")  # connected before the start, so the posts truly race
            start.wait(timeout=30)
            try:
                answers[i] = http.post("/api/oauth/token", data=form)
            except BaseException as exc:  # reported below, with the others
                answers[i] = exc

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == attempts - 1, statuses
    refused = [r.json() for r in answers if isinstance(r, httpx.Response) and r.status_code == 400]
    assert {body["error"] for body in refused} == {"invalid_grant"}
    winner = next(r for r in answers if isinstance(r, httpx.Response) and r.status_code == 200)
    # Every other redemption was a reuse: the tokens of the one that won are revoked,
    # on both instances.
    access = winner.json()["access_token"]
    assert not introspect(a, access)
    assert not introspect(b, access)
