"""ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.6, §12.2) and ``id_token_hint``.

An id token is issued by the token endpoint with the access token of a session whose
scopes include ``openid``: on the ``authorization_code`` grant, and on every refresh of
such a session. It is signed by :attr:`~..context.ServerContext.id_token_signer`: the
access tokens' key when they are RS256, ES256 or EdDSA, else an RS256 key of its own
(``services/keystore.py``), so it is always asymmetric and verifiable with the JWKS.

Claims: ``iss`` (the OIDC issuer: the public base URL, ``routers/images.py``), ``sub``
(the user id, the ``sub`` of the access tokens and UserInfo), ``aud`` (the client id),
``azp`` (the same: the party it was issued to), ``exp`` (``TEKCIFY_ACCESS_TOKEN_TTL``
after ``iat``), ``iat``, ``auth_time`` (when the user signed in on the pages; kept by the
session so a refreshed id token says the same, §12.2), ``nonce`` (the authorization
request's, byte for byte; never on refresh), ``at_hash`` (§3.1.3.6: the left half of the
access token's hash by the signing algorithm's hash), ``amr`` (RFC 8176, as in the
access tokens), ``acr`` (always ``"0"``: the server makes no ISO/IEC 29115 assurance
claim, ``amr`` says how the user signed in), ``sid`` (the browser sign-in's session,
listed by ``GET /api/auth/sessions``), and the UserInfo claims the scopes allow
(``services/userinfo.py``: ``email``/``email_verified`` with ``email``, the names,
``picture`` and ``updated_at`` with ``profile``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jws
from joserfc.errors import JoseError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tekcify_auth._keys import SignatureRegistry

from ...context import ServerContext
from ...db.models import User, UserSession
from ...db.oauth import AuthorizationCode
from ..signing import ASYMMETRIC_SIGNING_ALGORITHMS, KeyRingSigner
from ..tokens import DEFAULT_AMR
from ..userinfo import userinfo_claims

__all__ = [
    "ACR",
    "OPENID",
    "Hint",
    "InvalidHint",
    "at_hash",
    "id_token_for_session",
    "read_id_token_hint",
]

#: The scope that makes a request an OpenID Connect one.
OPENID: Final = "openid"
#: The ``acr`` of every id token: no ISO/IEC 29115 level is claimed (OIDC Core §2).
ACR: Final = "0"
#: The hash of ``at_hash`` by signing algorithm (OIDC Core §3.1.3.6; Ed25519: SHA-512).
_HASHES: Final = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}


def at_hash(access_token: str, alg: str) -> str:
    """The ``at_hash`` of ``access_token`` for an id token signed with ``alg``."""
    digest = _HASHES[alg](access_token.encode("ascii")).digest()
    half = digest[: len(digest) // 2]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode("ascii")


def _claims(
    ctx: ServerContext,
    issuer: str,
    user: User,
    session: UserSession,
    access_token: str,
    nonce: str | None,
    alg: str,
) -> dict[str, Any]:
    now = int(ctx.clock().timestamp())
    scopes = session.scopes.split()
    assert session.client_id is not None  # id tokens are for applications
    auth_time = session.auth_time or session.created_at
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.id,
        "aud": session.client_id,
        "azp": session.client_id,
        "exp": now + ctx.settings.access_token_ttl,
        "iat": now,
        "auth_time": int(auth_time.timestamp()),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    claims["at_hash"] = at_hash(access_token, alg)
    claims["amr"] = (session.amr or DEFAULT_AMR).split()
    claims["acr"] = ACR
    if session.browser_session_id is not None:
        claims["sid"] = session.browser_session_id
    profile = userinfo_claims(user, scopes, base_url=issuer)
    profile.pop("sub")
    return {**profile, **claims}


def id_token_for_session(
    db: Session,
    ctx: ServerContext,
    *,
    issuer: str,
    session_id: str,
    access_token: str,
    with_nonce: bool,
) -> str | None:
    """The id token to answer with ``access_token`` of ``session_id``, or ``None`` when
    the session's scopes lack ``openid``.

    ``with_nonce``: the code grant (the nonce of the code that opened the session); a
    refresh gets none (OIDC Core §12.2 keeps it to the original authentication).
    """
    found = db.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.id == session_id)
    ).first()
    if found is None:
        return None
    session, user = found
    if OPENID not in session.scopes.split() or session.client_id is None:
        return None
    nonce = None
    if with_nonce:
        nonce = db.execute(
            select(AuthorizationCode.nonce).where(AuthorizationCode.session_id == session_id)
        ).scalar_one_or_none()
    signer = ctx.id_token_signer
    return signer.sign(_claims(ctx, issuer, user, session, access_token, nonce, signer.algorithm))


class InvalidHint(ValueError):
    """An ``id_token_hint`` this server did not issue (or cannot read); ``reason`` says why:
    ``malformed``, ``algorithm`` (none, HS256, or not the key's), ``unknown_key``,
    ``signature``, ``issuer`` or ``audience`` (issued to another application)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"id_token_hint refused: {reason}")


@dataclass(frozen=True, slots=True)
class Hint:
    """What a verified ``id_token_hint`` says: the user, and the sign-in (``sid``)."""

    sub: str
    sid: str | None
    aud: tuple[str, ...]
    claims: dict[str, Any]


def read_id_token_hint(
    signer: KeyRingSigner, token: str, *, issuer: str, client_id: str | None = None
) -> Hint:
    """Verify an id token this server issued, presented back as a hint.

    The signature must be by a key the JWKS publishes, with that key's own algorithm
    (``alg: none``, HS256 or another key's token is refused), and ``iss`` must be
    ``issuer``. An expired one is accepted: it still names the user (OIDC Core §3.1.2.1
    asks the OP only to have issued it). ``client_id`` given: ``aud`` must hold it.
    Raises :class:`InvalidHint`.
    """
    try:
        header = json.loads(_b64(token.split(".", 1)[0]))
    except (ValueError, UnicodeDecodeError):
        raise InvalidHint("malformed") from None
    if not isinstance(header, dict):
        raise InvalidHint("malformed")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ASYMMETRIC_SIGNING_ALGORITHMS:
        raise InvalidHint("algorithm")
    entry = signer.ring.lookup(kid) if isinstance(kid, str) else None
    if entry is None:
        raise InvalidHint("unknown_key")
    if entry.alg != alg:
        raise InvalidHint("algorithm")
    try:
        compact = jws.deserialize_compact(
            token, entry.key, registry=SignatureRegistry(algorithms=[entry.alg])
        )
        claims = json.loads(compact.payload)
    except (JoseError, ValueError):
        raise InvalidHint("signature") from None
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise InvalidHint("malformed")
    if claims.get("iss") != issuer:
        raise InvalidHint("issuer")
    raw_aud = claims.get("aud")
    aud = (raw_aud,) if isinstance(raw_aud, str) else tuple(
        a for a in raw_aud if isinstance(a, str)
    ) if isinstance(raw_aud, list) else ()
    if client_id is not None and client_id not in aud:
        raise InvalidHint("audience")
    sid = claims.get("sid")
    return Hint(claims["sub"], sid if isinstance(sid, str) else None, aud, claims)


def _b64(part: str) -> bytes:
    if len(part) > 4096:
        raise ValueError("too long")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

