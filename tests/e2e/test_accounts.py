"""First-party accounts and sessions (``/api/auth``) through every way of calling the
server: register, login, refresh, password change, sessions, logout, and the server's
refusals as :class:`~tekcify_auth.AuthServerError` carrying its status and message."""

from __future__ import annotations

import time

import pytest

from tekcify_auth import AuthServerError, Session, TokenSet, UserProfile

from .support import PASSWORD, Account, Api, MakeAccount, new_email

pytestmark = pytest.mark.slow


async def test_register_returns_the_profile(api: Api) -> None:
    email = new_email("Register")
    profile = await api.register(email, PASSWORD, "Ada", "Lovelace")
    assert isinstance(profile, UserProfile)
    assert profile.email == email.lower()  # the server keeps emails in lower case
    assert (profile.first_name, profile.last_name, profile.avatar_url) == ("Ada", "Lovelace", None)
    assert profile.user_id


async def test_register_twice_is_409_with_the_servers_message(api: Api, account: Account) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.register(account.email.upper(), PASSWORD)
    assert caught.value.status_code == 409
    assert caught.value.message == "An account with this email already exists"
    assert caught.value.error is None


async def test_register_with_a_bad_email_is_400(api: Api) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.register("not-an-email", PASSWORD)
    assert caught.value.status_code == 400
    assert "email" in caught.value.message.lower()


async def test_login_returns_a_token_set(api: Api, account: Account) -> None:
    before = int(time.time())
    tokens = await api.login(account.email, account.password)
    assert isinstance(tokens, TokenSet)
    assert tokens.token_type == "Bearer"
    assert tokens.access_token
    assert tokens.refresh_token
    assert tokens.expires_in == 900
    assert tokens.expires_at is not None
    assert before + 900 <= tokens.expires_at <= int(time.time()) + 900
    assert not tokens.is_expired()
    # The token is a live Tekcify access token of this user.
    assert (await api.get_user_profile(tokens.access_token)).user_id == account.user_id


async def test_login_with_a_wrong_password_is_401(api: Api, account: Account) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.login(account.email, "wrong password, surely")
    assert (caught.value.status_code, caught.value.message) == (401, "Invalid email or password")


async def test_refresh_rotates_and_reuse_revokes_the_session(api: Api, account: Account) -> None:
    old_refresh = account.tokens.refresh_token
    assert old_refresh is not None
    fresh = await api.refresh_tokens(old_refresh)
    assert fresh.refresh_token not in (None, old_refresh)
    assert fresh.access_token != account.access_token
    assert (await api.get_user_profile(fresh.access_token)).email == account.email

    with pytest.raises(AuthServerError) as caught:
        await api.refresh_tokens(old_refresh)
    assert caught.value.status_code == 401
    assert caught.value.message == "Refresh token already used; the session has been revoked"
    # Reuse revoked the whole session: the pair just issued is dead too.
    with pytest.raises(AuthServerError) as dead:
        await api.get_user_profile(fresh.access_token)
    assert (dead.value.status_code, dead.value.error) == (401, "invalid_token")


async def test_refresh_with_an_unknown_token_is_401(api: Api) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.refresh_tokens("no-such-refresh-token")
    assert (caught.value.status_code, caught.value.message) == (401, "Invalid refresh token")


async def test_sessions_list_revoke_and_revoke_all(api: Api, account: Account) -> None:
    second = await api.login(account.email, account.password)
    third = await api.login(account.email, account.password)

    listed = await api.list_sessions(account.access_token)
    assert len(listed) == 3
    assert all(isinstance(s, Session) for s in listed)
    assert [s.current for s in listed].count(True) == 1
    mine = next(s for s in listed if s.current)
    assert mine.created_at.tzinfo is not None
    # 2.2.12 Session fields: a first-party sign-in names the server, and has an end.
    assert mine.application_name == "Tekcify"
    assert mine.expires_at is not None
    assert mine.expires_at > mine.created_at

    # Revoke the second session from the first: the second's token stops working.
    second_id = next(s.id for s in await api.list_sessions(second.access_token) if s.current)
    said = await api.revoke_session(account.access_token, second_id)
    assert said.message == "Session revoked"
    with pytest.raises(AuthServerError) as caught:
        await api.list_sessions(second.access_token)
    assert (caught.value.status_code, caught.value.message) == (401, "Invalid or expired token")

    said = await api.revoke_all_sessions(account.access_token)
    assert said.message == "Revoked 1 other session"
    with pytest.raises(AuthServerError):
        await api.list_sessions(third.access_token)
    assert [s.id for s in await api.list_sessions(account.access_token)] == [mine.id]


async def test_revoking_an_unknown_session_is_404(api: Api, account: Account) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.revoke_session(account.access_token, "00000000-0000-4000-8000-000000000000")
    assert (caught.value.status_code, caught.value.message) == (404, "Session not found")


async def test_another_users_session_cannot_be_revoked(
    api: Api, account: Account, make_account: MakeAccount
) -> None:
    other = make_account("other")
    other_session = (await api.list_sessions(other.access_token))[0].id
    with pytest.raises(AuthServerError) as caught:
        await api.revoke_session(account.access_token, other_session)
    assert caught.value.status_code == 404
    assert len(await api.list_sessions(other.access_token)) == 1


async def test_logout_ends_the_session_and_its_refresh_token(api: Api, account: Account) -> None:
    said = await api.logout(account.access_token)
    assert said.message == "Logged out"
    with pytest.raises(AuthServerError) as caught:
        await api.get_user_profile(account.access_token)
    assert (caught.value.status_code, caught.value.error) == (401, "invalid_token")
    assert account.tokens.refresh_token is not None
    with pytest.raises(AuthServerError) as refused:
        await api.refresh_tokens(account.tokens.refresh_token)
    assert refused.value.status_code == 401
    assert refused.value.message == "The session of this refresh token has been revoked"


async def test_change_password(api: Api, account: Account) -> None:
    other = await api.login(account.email, account.password)
    new_password = "an even better passphrase"

    with pytest.raises(AuthServerError) as caught:
        await api.change_password(account.access_token, "not the password", new_password)
    assert (caught.value.status_code, caught.value.message) == (
        400, "The current password is incorrect"
    )

    said = await api.change_password(account.access_token, account.password, new_password)
    assert said.message == "Password changed; other sessions were signed out"
    with pytest.raises(AuthServerError):
        await api.get_user_profile(other.access_token)
    assert (await api.get_user_profile(account.access_token)).email == account.email
    with pytest.raises(AuthServerError):
        await api.login(account.email, account.password)
    assert (await api.login(account.email, new_password)).access_token


async def test_a_call_without_a_valid_token_is_401_with_the_bearer_error(api: Api) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.list_sessions("not.a.token")
    assert caught.value.status_code == 401
    assert caught.value.message == "Invalid or expired token"
    assert caught.value.error == "invalid_token"  # from WWW-Authenticate (RFC 6750 §3)


async def test_too_many_failed_logins_is_the_servers_429(
    api: Api, account: Account
) -> None:
    for _attempt in range(5):
        with pytest.raises(AuthServerError) as wrong:
            await api.login(account.email, "wrong password, surely")
        assert wrong.value.status_code == 401
    with pytest.raises(AuthServerError) as limited:
        await api.login(account.email, account.password)
    assert limited.value.status_code == 429
    assert limited.value.message == "Too many failed login attempts; try again later"
