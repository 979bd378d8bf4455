"""Account security (issue 13) through every way of calling the server: email
verification, password reset, email change, sign-in methods, passwords, sensitive-action
codes, the security log and the 2.2.12 bodies, with the codes and links read from the
messages the real server sent (its queue, or the ``.eml`` files of its outbox), as the
user would read them in their mailbox."""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3
import time
from dataclasses import dataclass
from email.message import EmailMessage

import pytest

from tekcify_auth import (
    AuthClient,
    AuthMethods,
    AuthServerError,
    ExportedUserData,
    InitiateSensitiveActionResponse,
    MessageResponse,
    SecurityActivities,
    SensitiveActionToken,
)

from .support import PASSWORD, Account, Api, MakeAccount, ServerProcess, new_email

pytestmark = pytest.mark.slow

_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")
# Six digits standing alone: never part of a link's token ([A-Za-z0-9_-]) or a port.
_CODE = re.compile(r"(?<![\w:-])(\d{6})(?![\w-])")
#: How long a message may take to be queued (the reset mail is queued after the answer).
MAIL_WAIT = 10.0


@dataclass(frozen=True)
class Mail:
    """A message the server queued: what the user reads."""

    kind: str
    to: str
    text: str

    @property
    def token(self) -> str:
        """The token of the first link that carries one."""
        found = _TOKEN.search(self.text)
        assert found is not None, self.text
        return found.group(1)

    @property
    def code(self) -> str:
        """The 6-digit code on a line of its own."""
        found = _CODE.search(self.text)
        assert found is not None, self.text
        return found.group(1)


class Mailbox:
    """The messages of the session's server, as the user reads them.

    Which messages exist comes from the server's database (``mail_queue``, read only);
    the text from the row while it waits, or from the ``.eml`` file the mail sender
    wrote to ``<data dir>/outbox/`` (named after the row's id) once it was delivered and
    the row's body wiped.
    """

    def __init__(self, server: ServerProcess) -> None:
        self.path = server.data_dir / "tekcify.sqlite3"
        self.outbox = server.data_dir / "outbox"

    def _rows(self, kind: str, to: str) -> list[tuple[str, str, str]]:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(
                "SELECT id, to_address, text_body FROM mail_queue"
                " WHERE kind = ? AND to_address = ? ORDER BY created_at, rowid",
                (kind, to.lower()),
            ).fetchall()

    def _delivered(self, message_id: str) -> str | None:
        for path in self.outbox.glob(f"*-{message_id}.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            return str(body.get_content())
        return None

    def wait_for(self, kind: str, to: str, count: int = 1) -> Mail:
        """The newest message of ``kind`` to ``to`` once there are ``count`` of them."""
        deadline = time.monotonic() + MAIL_WAIT
        while True:
            rows = self._rows(kind, to)
            if len(rows) >= count:
                message_id, address, text = rows[-1]
                text = text or self._delivered(message_id) or ""
                if text:
                    return Mail(kind, address, text)
            assert time.monotonic() < deadline, f"no {kind} message to {to}"
            time.sleep(0.05)


@pytest.fixture
def mailbox(auth_server: ServerProcess) -> Mailbox:
    """The messages the server queued."""
    return Mailbox(auth_server)


# -- email verification ---------------------------------------------------------------------


async def test_verify_email_with_the_mailed_code(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    code = mailbox.wait_for("verify_email", account.email).code
    said = await api.verify_email(account.access_token, code=code)
    assert isinstance(said, MessageResponse)
    assert said.message == "Your email address is verified"
    assert (await api.get_user_profile(account.access_token)).email_verified_at is not None
    with pytest.raises(AuthServerError) as again:  # used up, and verified already
        await api.verify_email(account.access_token, code=code)
    assert again.value.status_code == 400


async def test_verify_email_with_the_links_token_needs_no_access_token(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    token = mailbox.wait_for("verify_email", account.email).token
    said = await api.verify_email(token=token)
    assert said.message == "Your email address is verified"
    with pytest.raises(AuthServerError) as reused:
        await api.verify_email(token=token)
    assert reused.value.status_code == 400


async def test_a_wrong_code_is_400_and_verifies_nothing(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    code = mailbox.wait_for("verify_email", account.email).code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(AuthServerError) as caught:
        await api.verify_email(account.access_token, code=wrong)
    assert caught.value.status_code == 400
    assert caught.value.message
    assert (await api.get_user_profile(account.access_token)).email_verified_at is None


async def test_resend_verification_email_mails_a_new_code(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    first = mailbox.wait_for("verify_email", account.email)
    said = await api.resend_verification_email(account.access_token)
    assert said.message == "A new verification link and code are on their way"
    second = mailbox.wait_for("verify_email", account.email, count=2)
    assert second.token != first.token
    await api.verify_email(account.access_token, code=second.code)
    with pytest.raises(AuthServerError) as verified:  # nothing left to verify
        await api.resend_verification_email(account.access_token)
    assert verified.value.status_code == 400


# -- password reset ----------------------------------------------------------------------------


async def test_forgot_and_reset_password(
    api: Api, make_account: MakeAccount, mailbox: Mailbox
) -> None:
    account = make_account("reset")
    said = await api.forgot_password(account.email)
    assert said.message
    token = mailbox.wait_for("password_reset", account.email).token
    new_password = "a brand new passphrase, long enough"
    done = await api.reset_password(token, new_password)
    assert done.message == "Your password was reset; sign in with the new one"
    with pytest.raises(AuthServerError) as signed_out:  # every session was revoked
        await api.get_user_profile(account.access_token)
    assert signed_out.value.status_code == 401
    with pytest.raises(AuthServerError) as old:
        await api.login(account.email, PASSWORD)
    assert old.value.status_code == 401
    assert (await api.login(account.email, new_password)).access_token
    with pytest.raises(AuthServerError) as reused:
        await api.reset_password(token, "yet another passphrase, long enough")
    assert reused.value.status_code == 400


def test_forgot_password_answers_the_same_for_an_unknown_email(
    client: AuthClient, account: Account
) -> None:
    # Once, not through the four ways: the server allows a client 20 of these an hour.
    assert client.forgot_password(account.email) == client.forgot_password(new_email("nobody"))


async def test_a_reset_with_a_made_up_token_is_400(api: Api) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.reset_password("x" * 43, "a brand new passphrase, long enough")
    assert caught.value.status_code == 400


# -- email change ------------------------------------------------------------------------------


async def test_request_and_confirm_an_email_change(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    new_address = new_email("moved")
    said = await api.request_email_change(account.access_token, new_address, account.password)
    assert said.message == "Confirm the change with the link sent to the new address"
    mailbox.wait_for("email_change_notice", account.email)
    token = mailbox.wait_for("email_change_confirm", new_address).token
    assert (await api.get_user_profile(account.access_token)).email == account.email
    done = await api.confirm_email_change(token)
    assert done.message == "Your email address was changed"
    assert (await api.get_user_profile(account.access_token)).email == new_address
    assert (await api.login(new_address, account.password)).access_token
    with pytest.raises(AuthServerError) as reused:
        await api.confirm_email_change(token)
    assert reused.value.status_code == 400


async def test_an_email_change_needs_the_password_and_a_free_address(
    api: Api, make_account: MakeAccount
) -> None:
    account, other = make_account("change"), make_account("taken")
    with pytest.raises(AuthServerError) as wrong:
        await api.request_email_change(account.access_token, new_email(), "not the password")
    assert wrong.value.status_code == 400
    with pytest.raises(AuthServerError) as taken:
        await api.request_email_change(account.access_token, other.email, account.password)
    assert taken.value.status_code == 409


# -- sign-in methods, sensitive actions, the security log ---------------------------------


async def test_get_auth_methods(api: Api, account: Account) -> None:
    methods = await api.get_auth_methods(account.access_token)
    assert isinstance(methods, AuthMethods)
    assert methods.has_password is True
    assert methods.oauth_providers == []


async def test_set_or_change_password_changes_it_with_the_current_one(
    api: Api, account: Account
) -> None:
    new_password = "a changed passphrase, long enough"
    with pytest.raises(AuthServerError) as wrong:
        await api.set_or_change_password(account.access_token, new_password, "not it")
    assert (wrong.value.status_code, wrong.value.message) == (
        400, "The current password is incorrect"
    )
    said = await api.set_or_change_password(
        account.access_token, new_password, current_password=account.password
    )
    assert said.message == "Password changed; other sessions were signed out"
    assert (await api.login(account.email, new_password)).access_token


async def test_a_mailed_code_confirms_an_account_deletion(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    start = await api.initiate_sensitive_action(account.access_token, "delete_account")
    assert isinstance(start, InitiateSensitiveActionResponse)
    assert start.requires_verification is True
    assert start.verification_methods.password is True
    assert start.verification_methods.email is not None
    assert start.verification_methods.email.available is True
    sent = await api.send_sensitive_action_code(account.access_token, "delete_account")
    assert sent.message == "A verification code was sent to your email address"
    code = mailbox.wait_for("sensitive_action_code", account.email).code
    proof = await api.verify_sensitive_action_code(account.access_token, "delete_account", code)
    assert isinstance(proof, SensitiveActionToken)
    assert proof.token not in repr(proof)
    with pytest.raises(AuthServerError) as reused_code:
        await api.verify_sensitive_action_code(account.access_token, "delete_account", code)
    assert reused_code.value.status_code == 400
    said = await api.delete_account(account.access_token, sensitive_action_token=proof.token)
    assert said.message == "Your account and all its data have been deleted"
    with pytest.raises(AuthServerError) as gone:
        await api.get_user_profile(account.access_token)
    assert gone.value.status_code == 401


async def test_a_token_for_another_action_deletes_nothing(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    await api.send_sensitive_action_code(account.access_token, "set_password")
    code = mailbox.wait_for("sensitive_action_code", account.email).code
    proof = await api.verify_sensitive_action_code(account.access_token, "set_password", code)
    with pytest.raises(AuthServerError) as refused:
        await api.delete_account(account.access_token, sensitive_action_token=proof.token)
    assert refused.value.status_code == 403
    assert (await api.get_user_profile(account.access_token)).email == account.email


async def test_a_wrong_sensitive_action_code_is_400(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    await api.send_sensitive_action_code(account.access_token, "delete_account")
    code = mailbox.wait_for("sensitive_action_code", account.email).code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    with pytest.raises(AuthServerError) as caught:
        await api.verify_sensitive_action_code(account.access_token, "delete_account", wrong)
    assert caught.value.status_code == 400
    assert caught.value.message


async def test_get_security_activities(api: Api, make_account: MakeAccount) -> None:
    account = make_account("log")
    with pytest.raises(AuthServerError):
        await api.login(account.email, "not the password")
    log = await api.get_security_activities(account.access_token)
    assert isinstance(log, SecurityActivities)
    assert (log.total, log.limit, log.offset) == (2, 20, 0)
    failed, succeeded = log.activities  # newest first
    assert (failed.activity_type, failed.success) == ("login_failed", False)
    assert (succeeded.activity_type, succeeded.success) == ("login_success", True)
    assert succeeded.user_id == account.user_id
    assert succeeded.ip_address == "127.0.0.1"
    assert succeeded.user_agent is not None
    assert succeeded.user_agent.startswith("tekcify-auth-python/")
    assert succeeded.created_at.tzinfo is not None
    only = await api.get_security_activities(
        account.access_token, limit=1, offset=0, activity_type="login_success"
    )
    assert (only.total, only.limit, [e.id for e in only.activities]) == (1, 1, [succeeded.id])
    later = await api.get_security_activities(account.access_token, limit=1, offset=1)
    assert [e.id for e in later.activities] == [succeeded.id]
    with pytest.raises(AuthServerError) as unknown:
        await api.get_security_activities(account.access_token, activity_type="no_such_type")
    assert unknown.value.status_code == 400


async def test_change_password_and_delete_account_send_the_2_2_12_bodies(
    api: Api, account: Account
) -> None:
    # mfaCode is accepted (and unused until MFA exists); confirmDelete: true is sent.
    new_password = "another changed passphrase, long enough"
    await api.change_password(account.access_token, account.password, new_password, "123456")
    tokens = await api.login(account.email, new_password)
    with pytest.raises(AuthServerError) as both:  # one proof, not two
        await api.delete_account(tokens.access_token, new_password, "a-token")
    assert both.value.status_code == 400
    said = await api.delete_account(tokens.access_token, new_password, mfa_code="123456")
    assert said.message == "Your account and all its data have been deleted"


# -- the data export ---------------------------------------------------------------------------


async def test_export_user_data_reads_the_2_2_12_layout(
    api: Api, account: Account, mailbox: Mailbox
) -> None:
    code = mailbox.wait_for("verify_email", account.email).code
    await api.verify_email(account.access_token, code=code)
    data = await api.export_user_data(account.access_token)
    assert isinstance(data, ExportedUserData)
    assert data.profile is not None
    assert (data.profile.email, data.profile.role, data.profile.mfa_enabled) == (
        account.email, "user", False
    )
    assert data.profile.email_verified_at is not None
    assert data.profile.last_login_at is not None
    assert data.profile.created_at is not None
    assert (data.connected_apps, data.social_providers, data.passkeys) == ([], [], [])
    assert "login_success" in {event.activity_type for event in data.security_activity}
    assert "email_verified" in {event.activity_type for event in data.security_activity}
    assert data.exported_at is not None
    # This server's own sections stay readable, typed as JSON.
    assert data.model_extra is not None
    assert len(data.model_extra["sessions"]) == 1
    assert data["profile"]["userId"] == account.user_id
