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
* revoked client-credentials tokens whose ``exp`` has passed.

Nothing live is touched: a live session keeps all its rotated tokens, so presenting an
old one still revokes it. The server runs it every ``TEKCIFY_PURGE_INTERVAL`` seconds
(one instance at a time on PostgreSQL: a transaction-level advisory lock), and
``tekcify-auth db purge`` runs it by hand.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import anyio.to_thread
from sqlalchemy import and_, delete, exists, not_, or_, select, text

from ..context import ServerContext
from ..db.engine import Database
from ..db.models import RefreshToken, UserSession
from ..db.oauth import AuthorizationCode, RevokedClientToken

__all__ = ["BATCH", "PurgeReport", "purge", "purge_periodically"]

logger = logging.getLogger("tekcify_auth.server.purge")

#: Rows deleted per write transaction.
BATCH: Final = 500
# Any constant shared by every server process and the CLI (not the keystore's).
_LOCK_ID: Final = 0x7E6C1F3


@dataclass
class PurgeReport:
    """How many rows of each kind one purge deleted (``skipped``: another one was running)."""

    codes: int = 0
    refresh_tokens: int = 0
    sessions: int = 0
    revoked_client_tokens: int = 0
    skipped: bool = False

    @property
    def total(self) -> int:
        return self.codes + self.refresh_tokens + self.sessions + self.revoked_client_tokens


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


def _batches(db_write: Callable[[], Any], statement_for: Callable[[], Any]) -> int:
    """Run ``DELETE ... WHERE id IN (the next batch)`` until a batch is not full."""
    deleted = 0
    while True:
        with db_write() as db:
            done = int(db.execute(statement_for()).rowcount)
        deleted += done
        if done < BATCH:
            return deleted


@contextmanager
def _only_one(database: Database) -> Iterator[bool]:
    """Whether this process may purge now: on PostgreSQL, one instance of a fleet at a time
    (a session-level advisory lock held on its own connection for the whole purge)."""
    if database.dialect != "postgresql":
        yield True  # SQLite's write transactions already exclude each other
        return
    with database.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _LOCK_ID})
                   .scalar_one())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _LOCK_ID})
                conn.commit()


def purge(database: Database, now: datetime, retention: timedelta) -> PurgeReport:
    """Delete what can no longer be used (see the module docstring); returns the counts."""
    cutoff = now - retention
    report = PurgeReport()
    with _only_one(database) as allowed:
        if not allowed:
            report.skipped = True
            return report
        _purge(database, now, cutoff, report)
    if report.total:
        logger.info(
            "purged %d codes, %d sessions, %d refresh tokens, %d revoked client tokens",
            report.codes, report.sessions, report.refresh_tokens,
            report.revoked_client_tokens,
        )
    return report


def _purge(database: Database, now: datetime, cutoff: datetime, report: PurgeReport) -> None:

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

    report.codes = _batches(database.write, codes)
    report.sessions = _batches(database.write, sessions)
    report.refresh_tokens = _batches(database.write, refresh_tokens)
    report.revoked_client_tokens = _batches(database.write, client_tokens)


async def purge_periodically(ctx: ServerContext, every: float) -> None:
    """Purge expired and ended rows every ``every`` seconds, until cancelled.

    A failed purge (the database away for a moment) is logged and tried again next time;
    it never stops the server.
    """
    retention = timedelta(seconds=ctx.settings.purge_retention)
    while True:
        await asyncio.sleep(every)
        try:
            await anyio.to_thread.run_sync(purge, ctx.db, ctx.clock(), retention)
        except Exception:
            logger.exception("the purge failed; it runs again in %.0f s", every)
