"""Purge what can no longer be used, so that lookups do not slow down with history.

Refresh rotation writes a row per refresh, sign-ins a session each, the code grant a
code per authorization: without a purge, a year of traffic grows these tables without
bound. :func:`purge` deletes, in small batches (short write transactions, so that
sign-ins and refreshes never wait long behind it):

* authorization codes that expired more than ``retention`` ago (a code lives 60
  seconds; kept a while so that a late replay still finds the code and revokes the
  session it started, RFC 9700 §4.5);
* refresh tokens that have expired: they are refused anyway, and so is their reuse;
* sessions revoked, or ended (every refresh token expired, or their own ``expires_at``
  passed), more than ``retention`` ago, with everything that hangs off them (refresh
  tokens, the pages' sign-in): reuse detection needs a rotated token only while its
  session is live;
* revoked client-credentials tokens whose ``exp`` has passed;
* security activity older than ``TEKCIFY_ACTIVITY_RETENTION_DAYS`` (the log's own
  retention, passed as ``activity_retention``; without it the log is left alone);
* mail sent or failed more than ``retention`` ago (``mail_queue``; their bodies were
  wiped when they were sent or gave up);
* mailed links and codes (``account_codes``) that have expired, used or not;
* WebAuthn challenges (``webauthn_challenges``) that have expired, never answered.

Nothing live is touched: a live session keeps all its rotated tokens, so presenting an
old one still revokes it. The server runs it every ``TEKCIFY_PURGE_INTERVAL`` seconds,
and ``tekcify-auth db purge`` runs it by hand.

**One purge at a time** per database, whatever runs it (:func:`purge_lock`); another
one that finds it taken does nothing and reports ``skipped``:

* on PostgreSQL, a session-level advisory lock, held on a connection of its own for the
  whole purge; PostgreSQL releases it when that connection ends, a killed process's
  included;
* on SQLite, a **lease**: the ``server_state`` row ``purge_lease`` names its holder and
  when it last renewed it. It is taken with a conditional UPDATE (free, or not renewed
  for :data:`LEASE`), renewed inside every batch's write transaction, and freed at the
  end. A batch commits only if its renewal found the lease still this purge's, so a
  purge paused past its lease (and overtaken) stops at its next batch instead of
  running beside the new holder; a killed process's lease is free again once it has
  gone :data:`LEASE` without renewal.

Why a lease rather than an OS lock on a file beside the database: the lease is checked in
the very transaction that deletes, so exclusion and deletion cannot drift apart; it lives
in the database it guards, so it needs no file, path or permission of its own and works
on every OS SQLite runs on (``flock`` is POSIX-only, and ``fcntl`` locks do not exclude
two engines of one process). Its price, a killed purge blocking the next for up to
:data:`LEASE`, is nothing beside an hourly interval. Lease times are the caller's
``now`` moved on by the real time elapsed since the purge began.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

import anyio.to_thread
from sqlalchemy import and_, delete, exists, not_, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..context import ServerContext
from ..db import locks
from ..db.engine import Database
from ..db.models import RefreshToken, ServerState, UserSession
from ..db.oauth import AuthorizationCode, RevokedClientToken
from ..db.passkeys import WebAuthnChallenge
from ..db.security import AccountCode, MailMessage, SecurityActivity

__all__ = [
    "BATCH", "LEASE", "LEASE_NAME", "LockLost", "PurgeLock", "PurgeReport", "purge",
    "purge_lock", "purge_periodically",
]

logger = logging.getLogger("tekcify_auth.server.purge")

#: Rows deleted per write transaction.
BATCH: Final = 500
#: SQLite: how long a purge's lease lasts without renewal (it is renewed every batch,
#: and a batch waits at most the database timeout for the write lock).
LEASE: Final = timedelta(minutes=2)
#: The ``server_state`` row of the SQLite lease: ``value`` its holder ("" when free),
#: ``updated_at`` its last renewal.
LEASE_NAME: Final = "purge_lease"


@dataclass
class PurgeReport:
    """How many rows of each kind one purge deleted (``skipped``: another one was running)."""

    codes: int = 0
    refresh_tokens: int = 0
    sessions: int = 0
    revoked_client_tokens: int = 0
    activities: int = 0
    mail: int = 0
    account_codes: int = 0
    webauthn_challenges: int = 0
    skipped: bool = False

    @property
    def total(self) -> int:
        return (
            self.codes + self.refresh_tokens + self.sessions + self.revoked_client_tokens
            + self.activities
            + self.mail
            + self.account_codes
            + self.webauthn_challenges
        )


def _ended_sessions(cutoff: datetime) -> Any:
    """The ids of sessions revoked or ended before ``cutoff``."""
    live_token = exists().where(
        RefreshToken.session_id == UserSession.id, RefreshToken.expires_at > cutoff
    )
    ended = or_(
        UserSession.revoked_at < cutoff,
        and_(UserSession.expires_at.is_not(None), UserSession.expires_at < cutoff),
        # A refresh-token session whose last token expired before the cutoff (or that
        # has none left) and that has not been used since.
        and_(
            UserSession.expires_at.is_(None), UserSession.last_used_at < cutoff,
            not_(live_token),
        ),
    )
    return select(UserSession.id).where(ended)


def _batches(
    db_write: Callable[[], Any], statement_for: Callable[[], Any], lock: PurgeLock
) -> int:
    """Run ``DELETE ... WHERE id IN (the next batch)`` until a batch is not full, each
    in a write transaction that first renews ``lock`` (raises :class:`LockLost`)."""
    deleted = 0
    while True:
        with db_write() as db:
            lock.renew(db)
            done = int(db.execute(statement_for()).rowcount)
        deleted += done
        if done < BATCH:
            return deleted


class LockLost(Exception):
    """The purge's SQLite lease was taken over (it went unrenewed past :data:`LEASE`)."""


class PurgeLock:
    """The right to purge ``database`` now: see :func:`purge_lock`.

    ``held`` says whether it was got. On SQLite :meth:`renew` must run in each batch's
    write transaction; on PostgreSQL the advisory lock needs no renewal.
    """

    def __init__(self, database: Database, now: datetime) -> None:
        self.database = database
        self.held = False
        self.holder = f"pid {os.getpid()} on {socket.gethostname()} ({secrets.token_hex(4)})"
        self._began, self._clock0 = now, time.monotonic()

    def now(self) -> datetime:
        """The caller's ``now`` moved on by the real time elapsed since."""
        return self._began + timedelta(seconds=time.monotonic() - self._clock0)

    def take(self) -> bool:
        """SQLite: take the lease if it is free or expired (one conditional UPDATE)."""
        now = self.now()
        with self.database.write() as db:
            db.execute(
                sqlite_insert(ServerState)
                .values(name=LEASE_NAME, value="", updated_at=now)
                .on_conflict_do_nothing()
            )
            taken = db.execute(
                update(ServerState)
                .where(
                    ServerState.name == LEASE_NAME,
                    or_(ServerState.value == "", ServerState.updated_at < now - LEASE),
                )
                .values(value=self.holder, updated_at=now)
            )
        self.held = taken.rowcount == 1  # type: ignore[attr-defined]
        return self.held

    def renew(self, db: Session) -> None:
        """SQLite: extend the lease in ``db``'s write transaction; raises
        :class:`LockLost` if it is no longer this purge's (nothing then commits)."""
        if self.database.dialect != "sqlite":
            return
        renewed = db.execute(
            update(ServerState)
            .where(ServerState.name == LEASE_NAME, ServerState.value == self.holder)
            .values(updated_at=self.now())
        )
        if renewed.rowcount != 1:  # type: ignore[attr-defined]
            self.held = False
            raise LockLost(f"the purge lease of {self.holder} was taken over")

    def release(self) -> None:
        """SQLite: free the lease, if it is still this purge's."""
        with self.database.write() as db:
            db.execute(
                update(ServerState)
                .where(ServerState.name == LEASE_NAME, ServerState.value == self.holder)
                .values(value="", updated_at=self.now())
            )
        self.held = False


@contextmanager
def purge_lock(database: Database, now: datetime) -> Iterator[PurgeLock]:
    """The right to purge ``database``, for one process of a fleet at a time.

    ``lock.held`` is false when another purge (of any process or host) holds it. On
    PostgreSQL: a session-level advisory lock on a connection of its own; on SQLite: the
    lease in ``server_state`` (see the module docstring). ``now`` is the caller's clock.
    """
    lock = PurgeLock(database, now)
    if database.dialect == "sqlite":
        lock.take()
        try:
            yield lock
        finally:
            if lock.held:
                lock.release()
        return
    with database.engine.connect() as conn:
        lock.held = locks.try_lock(conn, locks.PURGE)
        conn.commit()
        try:
            yield lock
        finally:
            if lock.held:
                locks.unlock(conn, locks.PURGE)
                conn.commit()
                lock.held = False


def purge(
    database: Database,
    now: datetime,
    retention: timedelta,
    *,
    activity_retention: timedelta | None = None,
) -> PurgeReport:
    """Delete what can no longer be used (see the module docstring); returns the counts.

    ``activity_retention``: security events older than this go too.
    """
    cutoff = now - retention
    report = PurgeReport()
    with purge_lock(database, now) as lock:
        if not lock.held:
            report.skipped = True
            return report
        try:
            _purge(database, now, cutoff, report, lock)
            if activity_retention is not None:
                report.activities = _purge_activity(database, now - activity_retention, lock)
        except LockLost:
            logger.warning(
                "the purge stopped: it went %d s without renewing its lease and another "
                "one took over", LEASE.total_seconds(),
            )
    if report.total:
        logger.info(
            "purged %d codes, %d sessions (with their refresh tokens), %d more refresh "
            "tokens, %d revoked client tokens, %d security events, %d sent or failed mail "
            "messages, %d expired account codes, %d expired WebAuthn challenges",
            report.codes, report.sessions, report.refresh_tokens,
            report.revoked_client_tokens, report.activities, report.mail,
            report.account_codes, report.webauthn_challenges,
        )
    return report


def _purge(
    database: Database, now: datetime, cutoff: datetime, report: PurgeReport, lock: PurgeLock
) -> None:

    def codes() -> Any:
        batch = select(AuthorizationCode.id).where(
            AuthorizationCode.expires_at < cutoff
        ).limit(BATCH)
        return delete(AuthorizationCode).where(AuthorizationCode.id.in_(batch))

    def refresh_tokens() -> Any:
        batch = select(RefreshToken.id).where(RefreshToken.expires_at < now).limit(BATCH)
        return delete(RefreshToken).where(RefreshToken.id.in_(batch))

    def sessions() -> Any:
        batch = _ended_sessions(cutoff).limit(BATCH)
        return delete(UserSession).where(UserSession.id.in_(batch.scalar_subquery()))

    def client_tokens() -> Any:
        batch = select(RevokedClientToken.jti).where(
            RevokedClientToken.expires_at < now
        ).limit(BATCH)
        return delete(RevokedClientToken).where(RevokedClientToken.jti.in_(batch))

    def account_codes() -> Any:
        # Links and codes mailed to users: useless once expired, used ones included.
        batch = select(AccountCode.id).where(AccountCode.expires_at < now).limit(BATCH)
        return delete(AccountCode).where(AccountCode.id.in_(batch))

    def challenges() -> Any:
        batch = select(WebAuthnChallenge.id).where(
            WebAuthnChallenge.expires_at < now
        ).limit(BATCH)
        return delete(WebAuthnChallenge).where(WebAuthnChallenge.id.in_(batch))

    def mail() -> Any:
        batch = select(MailMessage.id).where(
            or_(MailMessage.sent_at < cutoff, MailMessage.failed_at < cutoff)
        ).limit(BATCH)
        return delete(MailMessage).where(MailMessage.id.in_(batch))

    # Each count is set as soon as its kind is done, so a lost lease reports what went.
    report.codes = _batches(database.write, codes, lock)
    report.sessions = _batches(database.write, sessions, lock)
    report.refresh_tokens = _batches(database.write, refresh_tokens, lock)
    report.revoked_client_tokens = _batches(database.write, client_tokens, lock)
    report.mail = _batches(database.write, mail, lock)
    report.account_codes = _batches(database.write, account_codes, lock)
    report.webauthn_challenges = _batches(database.write, challenges, lock)


def _purge_activity(database: Database, cutoff: datetime, lock: PurgeLock) -> int:
    def events() -> Any:
        batch = select(SecurityActivity.id).where(
            SecurityActivity.created_at < cutoff
        ).limit(BATCH)
        return delete(SecurityActivity).where(SecurityActivity.id.in_(batch))

    return _batches(database.write, events, lock)


async def purge_periodically(ctx: ServerContext, every: float) -> None:
    """Purge expired and ended rows every ``every`` seconds, until cancelled.

    A failed purge (the database away for a moment) is logged and tried again next time;
    it never stops the server.
    """
    retention = timedelta(seconds=ctx.settings.purge_retention)
    activity_retention = timedelta(days=ctx.settings.activity_retention_days)
    while True:
        await asyncio.sleep(every)
        try:
            await anyio.to_thread.run_sync(
                partial(purge, activity_retention=activity_retention),
                ctx.db, ctx.clock(), retention,
            )
        except Exception:
            logger.exception("the purge failed; it runs again in %.0f s", every)
