"""Access tokens and refresh-token families: issue, rotate, detect reuse.

**Access tokens** are JWTs with every claim of ``http-api.md`` (``iss aud sub type
scopes email role sid jti iat exp`` and ``clientId`` when the session belongs to an
OAuth application), signed by the :class:`~.signing.Signer`. An application's token
carries ``email`` only when ``email`` or ``read:profile`` was granted
(:func:`~.userinfo.email_granted`). A first-party token's ``aud`` is the configured
audience (a string, as the Node server issues it); an application's is
``[audience, client id]``, so that a resource server can accept only the tokens issued
to its own application (RFC 7519 §4.1.3; the Node verifier accepts a list that contains
its audience).

**Refresh tokens** are 256-bit random strings; the database keeps only their SHA-256.
A session is one token family: every refresh rotates the presented token (RFC 9700
§4.14.2). Rotation is one conditional UPDATE (``... WHERE rotated_at IS NULL``), so
of any number of concurrent requests exactly one wins, on SQLite (where a write
transaction holds the write lock, ``BEGIN IMMEDIATE``) and on PostgreSQL (where the
losers' UPDATE waits for the winner's row lock and then matches nothing).

Presenting an already-rotated token is **reuse**: the whole session is revoked and
committed before the refusal is raised. The exception is the operator's **retry grace
window** (``TEKCIFY_REFRESH_RETRY_GRACE`` seconds, off by default): within it, a retry
of the just-rotated token gets the *same* new pair back, provided that pair is still
the family's head. To answer with the same pair without storing usable tokens, the
winner stores the pair encrypted (AES-256-GCM) under a key derived from the presented
token itself (HMAC-SHA256 of it); only a holder of that token can decrypt it, and the
database alone reveals nothing. Outside the window the stored pair is never used.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from .. import metrics
from ..context import ServerContext
from ..db.models import RefreshToken, User, UserSession
from ..db.types import new_id
from . import activity
from .sessions import limit_sessions
from .signing import token_kid
from .userinfo import email_granted

__all__ = [
    "DEFAULT_AMR",
    "AccessGrant",
    "RefreshRefused",
    "TokenPair",
    "access_claims",
    "hash_token",
    "new_refresh_token",
    "rotate_refresh_token",
    "start_access_session",
    "start_session",
]

_RETRY_INFO: Final = b"tekcify-auth refresh retry v1"
MAX_REFRESH_TOKEN_LENGTH: Final = 512
#: The ``amr`` of a session opened by a password alone (RFC 8176).
DEFAULT_AMR: Final = "pwd"


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or refresh answers: the tokens and the access token's lifetime."""

    access_token: str
    refresh_token: str
    expires_in: int
    scope: str
    session_id: str


class RefreshRefused(Exception):
    """A refresh token was not accepted; ``reason`` is a machine word, ``message`` prose.

    Reasons: ``unknown`` (no such token), ``foreign`` (issued to another client),
    ``expired``, ``revoked`` (session revoked or account disabled), ``reused``
    (already rotated: the session has now been revoked).
    """

    MESSAGES: Final = {
        "unknown": "Invalid refresh token",
        "foreign": "Invalid refresh token",
        "expired": "Refresh token expired",
        "revoked": "The session of this refresh token has been revoked",
        "reused": "Refresh token already used; the session has been revoked",
    }

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.message = self.MESSAGES[reason]
        super().__init__(self.message)


def new_refresh_token() -> str:
    """A fresh opaque refresh token: 32 random bytes, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a refresh token is stored and looked up.

    Never raises: a string UTF-8 cannot encode (a lone surrogate) hashes as well, and
    matches nothing, as every token the server issued is ASCII.
    """
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def access_claims(
    ctx: ServerContext, user: User, session: UserSession, now: datetime
) -> dict[str, Any]:
    """The claims of an access token for ``user`` in ``session``, issued at ``now``."""
    issued = int(now.timestamp())
    audience: str | list[str] = ctx.settings.audience
    if session.client_id is not None:
        audience = [ctx.settings.audience, session.client_id]
    claims: dict[str, Any] = {
        "iss": ctx.settings.issuer,
        "aud": audience,
        "sub": user.id,
        "type": "access",
        "scopes": session.scopes.split(),
        "role": user.role,
        "sid": session.id,
        "jti": str(uuid.uuid4()),
        "iat": issued,
        "exp": issued + ctx.settings.access_token_ttl,
    }
    if session.client_id is not None:
        claims["clientId"] = session.client_id
    # RFC 8176: how the user signed in (``pwd``, ``pwd otp``, ``hwk user``), kept by the
    # session so that refreshed tokens say it too.
    claims["amr"] = (session.amr or DEFAULT_AMR).split()
    if email_granted(claims["scopes"], session.client_id):
        claims["email"] = user.email
    return claims


def _sign_access(ctx: ServerContext, user: User, session: UserSession, now: datetime) -> str:
    """The session's access token; the session records the ``kid`` that signed it
    (``keys revoke --revoke-sessions``), before its row is written."""
    token = ctx.signer.sign(access_claims(ctx, user, session, now))
    session.signing_kid = token_kid(token)
    return token


def _add_refresh_token(
    db: Session, ctx: ServerContext, session_id: str, now: datetime, token_id: str | None = None
) -> str:
    token = new_refresh_token()
    db.add(
        RefreshToken(
            id=token_id or new_id(),
            session_id=session_id,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.refresh_token_ttl),
        )
    )
    return token


def start_session(
    db: Session,
    ctx: ServerContext,
    user: User,
    *,
    scopes: list[str],
    client_id: str | None = None,
    user_agent: str | None = None,
    ip_address: str | None = None,
    amr: list[str] | None = None,
) -> TokenPair:
    """Open a session for ``user`` and issue its first pair (login, code exchange).

    ``amr`` says how the user signed in (RFC 8176: ``["pwd"]``, the default,
    ``["pwd", "otp"]``, ``["hwk", "user"]``); every access token of the session carries it.
    Past ``TEKCIFY_MAX_SESSIONS_PER_ACCOUNT`` live sessions the least recently used
    are revoked (:func:`.sessions.limit_sessions`).
    """
    now = ctx.clock()
    session, access = _open_session(
        db, ctx, user, scopes, client_id, user_agent, ip_address, now, None, amr
    )
    refresh = _add_refresh_token(db, ctx, session.id, now)
    db.flush()
    limit_sessions(db, user.id, session.id, ctx.settings.max_sessions_per_account, now)
    return TokenPair(access, refresh, ctx.settings.access_token_ttl, session.scopes, session.id)


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """An access token without a refresh token, and its session."""

    access_token: str
    expires_in: int
    scope: str
    session_id: str


def start_access_session(
    db: Session,
    ctx: ServerContext,
    user: User,
    *,
    scopes: list[str],
    client_id: str,
    user_agent: str | None = None,
    ip_address: str | None = None,
    amr: list[str] | None = None,
) -> AccessGrant:
    """Open an application session that ends with its one access token (no refresh token).

    For a code exchange without ``offline_access`` (OIDC Core §11): the session ends
    when the access token expires (``expires_at``), and is listed until then. ``amr``
    as for :func:`start_session`.
    """
    now = ctx.clock()
    ends = now + timedelta(seconds=ctx.settings.access_token_ttl)
    session, access = _open_session(
        db, ctx, user, scopes, client_id, user_agent, ip_address, now, ends, amr
    )
    limit_sessions(db, user.id, session.id, ctx.settings.max_sessions_per_account, now)
    return AccessGrant(access, ctx.settings.access_token_ttl, session.scopes, session.id)


def _open_session(
    db: Session,
    ctx: ServerContext,
    user: User,
    scopes: list[str],
    client_id: str | None,
    user_agent: str | None,
    ip_address: str | None,
    now: datetime,
    expires_at: datetime | None,
    amr: list[str] | None = None,
) -> tuple[UserSession, str]:
    """The new session and its first access token."""
    session = UserSession(
        id=new_id(), user_id=user.id, client_id=client_id, scopes=" ".join(scopes),
        user_agent=user_agent, ip_address=ip_address, created_at=now, last_used_at=now,
        expires_at=expires_at, amr=" ".join(amr) if amr else DEFAULT_AMR,
    )
    access = _sign_access(ctx, user, session, now)
    db.add(session)
    db.flush()  # the session row first: refresh_tokens refers to it
    return session, access


def _retry_key(presented: str) -> bytes:
    return hmac.new(presented.encode(), _RETRY_INFO, hashlib.sha256).digest()


def _seal(presented: str, token_id: str, pair: TokenPair, expires_at: int) -> bytes:
    plain = json.dumps(
        {"a": pair.access_token, "r": pair.refresh_token, "x": expires_at, "s": pair.scope,
         "i": pair.session_id},
        separators=(",", ":"),
    ).encode()
    nonce = os.urandom(12)
    return nonce + AESGCM(_retry_key(presented)).encrypt(nonce, plain, token_id.encode())


def _open(presented: str, token_id: str, blob: bytes, now: datetime) -> TokenPair | None:
    try:
        plain = AESGCM(_retry_key(presented)).decrypt(blob[:12], blob[12:], token_id.encode())
    except (InvalidTag, ValueError):
        return None
    data = json.loads(plain)
    expires_in = max(0, int(data["x"]) - int(now.timestamp()))
    return TokenPair(data["a"], data["r"], expires_in, data["s"], data["i"])


def _revoke_session(db: Session, session_id: str, now: datetime, reason: str) -> None:
    db.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


# The statements of a rotation, built once and the writes run as Core on the session's
# connection: building them per call, and the ORM's unit of work for one INSERT, cost
# more than the queries (benchmarks/server.py: 1.3 -> 0.5 ms of CPU per rotation).
_PRESENTED = (
    select(RefreshToken, UserSession, User)
    .join(UserSession, RefreshToken.session_id == UserSession.id)
    .join(User, UserSession.user_id == User.id)
    .where(RefreshToken.token_hash == bindparam("token_hash"))
)
_CLAIM_ROTATION = (
    update(RefreshToken)
    .where(RefreshToken.id == bindparam("token_id"), RefreshToken.rotated_at.is_(None))
    .values(
        rotated_at=bindparam("now"), replaced_by_id=bindparam("successor_id"),
        retry_blob=bindparam("blob"),
    )
)
_ADD_TOKEN = insert(RefreshToken)
_TOUCH_SESSION = (
    update(UserSession)
    .where(UserSession.id == bindparam("session_id"))
    .values(last_used_at=bindparam("now"), signing_kid=bindparam("kid"))
)


def rotate_refresh_token(
    db: Session,
    ctx: ServerContext,
    presented: str,
    *,
    client_id: str | None = None,
    address: str | None = None,
    user_agent: str | None = None,
) -> TokenPair:
    """Exchange ``presented`` for a new pair, rotating it; ``db`` must be a write session.

    ``client_id`` is the OAuth client asking (``None`` for the first-party
    ``/api/auth/refresh``); a token of another client's session is ``foreign``.
    Raises :class:`RefreshRefused`. On reuse the session's revocation is committed
    before raising, so the caller's rollback cannot undo it, with a
    ``refresh_token_reuse`` event from ``address`` and ``user_agent``.
    """
    if not presented or len(presented) > MAX_REFRESH_TOKEN_LENGTH:
        raise RefreshRefused("unknown")
    row = db.execute(_PRESENTED, {"token_hash": hash_token(presented)}).first()
    if row is None:
        raise RefreshRefused("unknown")
    token, session, user = row
    if session.client_id != client_id:
        raise RefreshRefused("foreign")
    if session.revoked_at is not None or user.disabled_at is not None:
        raise RefreshRefused("revoked")
    now = ctx.clock()
    if token.rotated_at is None:
        if token.expires_at <= now:
            raise RefreshRefused("expired")
        pair = _rotate(db, ctx, presented, token, session, user, now)
        if pair is not None:
            return pair
        # Lost the race: another request rotated it since we read it. Read its result.
        db.expire(token)
        db.refresh(token)
    return _retry_or_reuse(db, ctx, presented, token, session, now, (address, user_agent))


def _rotate(
    db: Session,
    ctx: ServerContext,
    presented: str,
    token: RefreshToken,
    session: UserSession,
    user: User,
    now: datetime,
) -> TokenPair | None:
    successor_id = new_id()
    refresh = new_refresh_token()
    claims = access_claims(ctx, user, session, now)
    access = ctx.signer.sign(claims)
    pair = TokenPair(access, refresh, ctx.settings.access_token_ttl, session.scopes, session.id)
    blob = None
    if ctx.settings.refresh_retry_grace > 0:
        blob = _seal(presented, token.id, pair, claims["exp"])
    connection = db.connection()
    won = connection.execute(
        _CLAIM_ROTATION,
        {"token_id": token.id, "now": now, "successor_id": successor_id, "blob": blob},
    )
    if won.rowcount != 1:
        return None
    connection.execute(
        _ADD_TOKEN,
        {
            "id": successor_id, "session_id": session.id, "token_hash": hash_token(refresh),
            "created_at": now,
            "expires_at": now + timedelta(seconds=ctx.settings.refresh_token_ttl),
        },
    )
    connection.execute(
        _TOUCH_SESSION, {"session_id": session.id, "now": now, "kid": token_kid(access)}
    )
    return pair


def _retry_or_reuse(
    db: Session,
    ctx: ServerContext,
    presented: str,
    token: RefreshToken,
    session: UserSession,
    now: datetime,
    client: tuple[str | None, str | None],
) -> TokenPair:
    grace = ctx.settings.refresh_retry_grace
    if (
        grace > 0
        and token.rotated_at is not None
        and token.retry_blob is not None
        and token.replaced_by_id is not None
        and (now - token.rotated_at).total_seconds() <= grace
    ):
        successor = db.execute(
            select(RefreshToken.rotated_at).where(RefreshToken.id == token.replaced_by_id)
        ).first()
        if successor is not None and successor.rotated_at is None:
            pair = _open(presented, token.id, token.retry_blob, now)
            if pair is not None:
                return pair
    _revoke_session(db, session.id, now, "refresh_token_reuse")
    activity.record(
        db, now, user_id=session.user_id, activity_type="refresh_token_reuse", success=False,
        address=client[0], user_agent=client[1], metadata={"sessionId": session.id},
    )
    db.commit()
    metrics.refresh_reuse()
    raise RefreshRefused("reused")
