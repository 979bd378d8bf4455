"""Registration and login: validation, normalisation, same answer for unknown and wrong."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.context import ServerContext
from tekcify_auth.server.db.models import User

from .conftest import (
    PASSWORD,
    FakeClock,
    bearer,
    login,
    make_settings,
    register,
    running,
    signed_up,
)


async def test_register_answers_201_with_the_profile(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "  Ada@Example.COM ", "password": PASSWORD, "firstName": "Ada",
              "lastName": "Lovelace"},
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "userId", "email", "firstName", "lastName", "avatarUrl", "emailVerifiedAt"
    }
    assert body["emailVerifiedAt"] is None
    assert body["email"] == "ada@example.com"
    assert body["firstName"] == "Ada"
    assert body["lastName"] == "Lovelace"
    assert body["avatarUrl"] is None
    assert len(body["userId"]) == 36


async def test_register_twice_is_409_whatever_the_case(client: httpx.AsyncClient) -> None:
    await register(client, "ada@example.com")
    response = await client.post(
        "/api/auth/register", json={"email": "ADA@example.com", "password": PASSWORD}
    )
    assert response.status_code == 409
    assert response.json()["message"] == "An account with this email already exists"


async def test_login_ignores_the_email_case(client: httpx.AsyncClient) -> None:
    await register(client, "Ada@Example.com")
    tokens = await login(client, "ADA@EXAMPLE.COM")
    assert tokens["tokenType"] == "Bearer"
    assert tokens["expiresIn"] == 900
    assert set(tokens) == {"accessToken", "refreshToken", "tokenType", "expiresIn"}


def _assert_400(response: httpx.Response, message: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert body["statusCode"] == 400
    assert body["error"] == "Bad Request"
    assert body["message"] == message
    return body


async def test_missing_field_is_400_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", json={"email": "ada@example.com"})
    body = _assert_400(response, "Missing field: password")
    assert body["details"][0]["field"] == "password"


async def test_wrong_typed_field_is_400_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": "ada@example.com", "password": 12345678}
    )
    _assert_400(response, "Invalid field password: Input should be a valid string")


async def test_unknown_field_is_400_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "role": "admin"},
    )
    _assert_400(response, "Unknown field: role")


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login", content=b'{"email": "ada@example.com",',
        headers={"content-type": "application/json"},
    )
    _assert_400(response, "Malformed JSON body")


async def test_a_body_that_is_not_an_object_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json=["ada@example.com", PASSWORD])
    _assert_400(response, "The request body must be a JSON object sent as application/json")


async def test_a_body_without_the_json_content_type_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/login", content=b'{"email": "ada@example.com", "password": "x"}',
        headers={"content-type": "text/plain"},
    )
    _assert_400(response, "The request body must be a JSON object sent as application/json")


async def test_an_empty_body_is_400(client: httpx.AsyncClient) -> None:
    _assert_400(await client.post("/api/auth/login"), "Missing request body")


@pytest.mark.parametrize(
    "email", ["ada", "ada@", "@example.com", "ada@example", "a da@example.com", "ada@@example.com",
              "ada..b@example.com", "ada@-example.com", "ada@example.123"],
)
async def test_an_email_that_is_not_one_is_400(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    _assert_400(response, "Invalid field email: not a valid email address")


@pytest.mark.parametrize(("length", "status"), [(7, 400), (8, 201), (1024, 201), (1025, 400)])
async def test_passwords_have_8_to_1024_characters(
    client: httpx.AsyncClient, length: int, status: int
) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": f"u{length}@example.com", "password": "p" * length}
    )
    assert response.status_code == status, response.text
    if status == 400:
        assert response.json()["message"].startswith("Invalid field password")


@pytest.mark.parametrize("name", ["Ada\x00", "Ada\nLovelace", "\u202eadA", "A" * 101])
async def test_names_with_control_characters_or_too_long_are_400(
    client: httpx.AsyncClient, name: str
) -> None:
    # A NUL byte reached PostgreSQL and came back as a 500 before names were checked here.
    response = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "firstName": name},
    )
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("Invalid field firstName")


async def test_names_are_trimmed_and_blank_means_none(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "firstName": "  Ada ",
              "lastName": "   "},
    )
    assert response.status_code == 201, response.text
    assert (response.json()["firstName"], response.json()["lastName"]) == ("Ada", None)


async def test_nothing_is_half_written_by_a_refused_registration(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await client.post("/api/auth/register", json={"email": "ada@example.com", "password": "short"})
    ctx: ServerContext = app.state.ctx
    with ctx.db.read() as db:
        assert db.execute(select(User)).first() is None


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    await register(client)
    wrong = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "not the password"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": "bob@example.com", "password": "not the password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {
        "statusCode": 401, "error": "Unauthorized", "message": "Invalid email or password",
    }
    strip = {"x-request-id", "content-length"}
    assert {k: v for k, v in wrong.headers.items() if k not in strip} == {
        k: v for k, v in unknown.headers.items() if k not in strip
    }


async def test_unknown_email_and_wrong_password_do_the_same_work(
    clean_db: str, tmp_path: Any, clock: FakeClock
) -> None:
    # Same time means same work: each failure must run exactly one argon2id verification
    # with the same parameters. Counting the verifications proves it without a timed
    # assertion (those fail on a loaded machine and pass on a broken server).
    settings = make_settings(database_url=clean_db, data_dir=tmp_path)
    async with running(settings, clock) as (app, client):
        await register(client)
        passwords = app.state.ctx.passwords
        real_hasher = passwords._hasher
        calls: list[str] = []

        class CountingHasher:
            def verify(self, stored: str, password: str) -> bool:
                calls.append(stored.rsplit("$", 2)[0])  # "$argon2id$v=19$m=..,t=..,p=.."
                return bool(real_hasher.verify(stored, password))

            def __getattr__(self, name: str) -> Any:
                return getattr(real_hasher, name)

        passwords._hasher = CountingHasher()
        try:
            answers = []
            for email in ("ada@example.com", "nobody@example.com"):
                response = await client.post(
                    "/api/auth/login", json={"email": email, "password": "not the password"}
                )
                answers.append((response.status_code, response.json()["message"]))
        finally:
            passwords._hasher = real_hasher
    assert answers[0] == answers[1]
    assert answers[0][0] == 401
    assert len(calls) == 2
    assert calls[0] == calls[1]


async def test_the_hash_is_argon2id_and_redone_when_parameters_change(
    clean_db: str, tmp_path: Any, clock: FakeClock
) -> None:
    async with running(make_settings(database_url=clean_db, data_dir=tmp_path), clock) as (
        first, client
    ):
        await register(client)
        with first.state.ctx.db.read() as db:
            before = db.execute(select(User.password_hash)).scalar_one()
    assert before.startswith("$argon2id$v=19$m=8,t=1,p=1$")

    stronger = make_settings(
        database_url=clean_db, data_dir=tmp_path, argon2_time_cost=2,
        argon2_memory_cost=16, argon2_parallelism=1,
    )
    async with running(stronger, clock) as (second, client):
        await login(client)
        with second.state.ctx.db.read() as db:
            after = db.execute(select(User.password_hash)).scalar_one()
        assert after.startswith("$argon2id$v=19$m=16,t=2,p=1$")
        await login(client)  # the new hash works


async def test_a_disabled_account_cannot_log_in_and_its_tokens_stop_working(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    tokens = await signed_up(client)
    ctx: ServerContext = app.state.ctx
    from tekcify_auth.server.services import accounts

    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, "ada@example.com")
    response = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert response.json()["message"] == "This account is disabled"
    assert (await client.get("/api/auth/sessions", headers=bearer(tokens["accessToken"]))
            ).status_code == 401
    refreshed = await client.post(
        "/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
    )
    assert refreshed.status_code == 401
