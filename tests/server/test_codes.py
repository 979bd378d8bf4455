"""Single-use secrets (``services/codes.py``), on SQLite and PostgreSQL: stored only as
hashes, used once, expiring, bound to their purpose and target, and a code locked after
ten wrong guesses."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tekcify_auth.server.db.engine import Database
from tekcify_auth.server.db.models import User
from tekcify_auth.server.db.security import AccountCode
from tekcify_auth.server.services import codes

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)


@pytest.fixture
def db(clean_db: str) -> Iterator[Database]:
    database = Database(clean_db)
    with database.write() as session:
        for name in ("ada", "bob"):
            session.add(User(id=name, email=f"{name}@example.com", password_hash="x",
                             created_at=NOW, updated_at=NOW))
    try:
        yield database
    finally:
        database.dispose()


def _link(db: Database, user: str = "ada", purpose: str = "reset", **kw: object) -> str:
    with db.write() as session:
        return codes.issue_link(session, user, purpose, ttl=TTL, now=NOW, **kw)  # type: ignore[arg-type]


def _code(db: Database, user: str = "ada", purpose: str = "verify", **kw: object) -> str:
    with db.write() as session:
        return codes.issue_code(session, user, purpose, ttl=TTL, now=NOW, **kw)  # type: ignore[arg-type]


def _redeem_link(db: Database, token: str, purpose: str = "reset", **kw: object) -> codes.Redeemed:
    with db.write() as session:
        return codes.redeem_link(session, purpose, token, NOW + timedelta(minutes=1), **kw)  # type: ignore[arg-type]


def test_only_the_hash_is_stored(db: Database) -> None:
    token = _link(db)
    with db.read() as session:
        stored = session.execute(select(AccountCode.secret_hash)).scalar_one()
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored


def test_a_link_is_used_once(db: Database) -> None:
    token = _link(db)
    assert _redeem_link(db, token).user_id == "ada"
    with pytest.raises(codes.CodeRefused, match="already been used"):
        _redeem_link(db, token)


def test_an_expired_link_is_refused(db: Database) -> None:
    token = _link(db)
    with db.write() as session, pytest.raises(codes.CodeRefused, match="expired"):
        codes.redeem_link(session, "reset", token, NOW + TTL)


def test_an_altered_link_and_another_purpose_are_refused(db: Database) -> None:
    token = _link(db)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(codes.CodeRefused, match="not valid"):
        _redeem_link(db, altered)
    with pytest.raises(codes.CodeRefused, match="not valid"):
        _redeem_link(db, token, purpose="verify_email")
    assert _redeem_link(db, token).user_id == "ada"  # still good for its own purpose


def test_a_link_bound_to_a_target_needs_that_target(db: Database) -> None:
    token = _link(db, purpose="email_change", target="new@example.com")
    with pytest.raises(codes.CodeRefused):
        _redeem_link(db, token, purpose="email_change", target="other@example.com")
    redeemed = _redeem_link(db, token, purpose="email_change", target="new@example.com")
    assert redeemed.target == "new@example.com"


def test_a_new_link_withdraws_the_older_one(db: Database) -> None:
    first = _link(db)
    second = _link(db)
    with pytest.raises(codes.CodeRefused, match="already been used"):
        _redeem_link(db, first)
    assert _redeem_link(db, second).user_id == "ada"


def test_a_code_is_the_users_own_and_used_once(db: Database) -> None:
    code = _code(db)
    assert len(code) == 6
    assert code.isdigit()
    with pytest.raises(codes.CodeRefused):
        _guess_committed(db, code, user="bob")  # another user's code is no code of bob's
    assert _guess_committed(db, code).user_id == "ada"
    with pytest.raises(codes.CodeRefused, match="ask for a new one"):
        _guess_committed(db, code)


def test_an_expired_code_is_refused(db: Database) -> None:
    code = _code(db)
    with pytest.raises(codes.CodeRefused, match="ask for a new one"):
        _guess_committed(db, code, when=NOW + TTL)


def _guess_committed(
    db: Database, code: str, user: str = "ada", when: datetime = NOW
) -> codes.Redeemed:
    """One guess whose counted attempt is committed even when it is refused."""
    refused: codes.CodeRefused | None = None
    with db.write() as session:
        try:
            result = codes.redeem_code(session, user, "verify", code, when)
        except codes.CodeRefused as exc:
            refused = exc
    if refused is not None:
        raise refused
    return result


def test_ten_wrong_guesses_lock_the_code(db: Database) -> None:
    code = _code(db)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(codes.MAX_ATTEMPTS - 1):
        with pytest.raises(codes.CodeRefused, match="not valid") as refused:
            _guess_committed(db, wrong)
        assert not refused.value.locked
    with pytest.raises(codes.CodeRefused) as locked:
        _guess_committed(db, wrong)
    assert locked.value.locked
    # Locked for good: the right code no longer works either.
    with pytest.raises(codes.CodeRefused, match="ask for a new one"):
        _guess_committed(db, code)


def test_two_racing_redemptions_of_one_link_give_one_success(db: Database) -> None:
    token = _link(db)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def redeem() -> None:
        barrier.wait()
        try:
            _redeem_link(db, token)
            results.append("ok")
        except codes.CodeRefused:
            results.append("refused")
        except Exception as exc:  # a lock timeout would be a refusal too, but say so
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=redeem) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok", "refused"]
