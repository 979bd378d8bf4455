"""Account security (issue 13) through every way of calling the server: sign-in
methods, passwords, sensitive-action codes, the security log and the 2.2.12 bodies, with
the codes read from the messages the real server sent (its queue, or the ``.eml`` files
of its outbox), as the user would read them in their mailbox."""

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
    AuthMethods,
    AuthServerError,
    InitiateSensitiveActionResponse,
    SecurityActivities,
    SensitiveActionToken,
)

from .support import Account, Api, MakeAccount, ServerProcess

pytestmark = pytest.mark.slow

_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")
_CODE = re.compile(r"(?<![\d:])(\d{6})(?!\d)")
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
