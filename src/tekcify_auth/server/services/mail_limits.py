"""How often an account or a client may make the server send mail.

Every flow that mails on request (a verification resent, a password reset, an email
change) counts its messages here, in the login limiter's store (``ratelimit.py``): in
memory, in the workers' shared file, or in Redis, so a fleet of instances shares the
count. Keys hash the email address as the login limits do, so Redis holds no address.
Past the limit the request is refused with 429 and ``Retry-After``, whether or not the
account exists (no enumeration).
"""

from __future__ import annotations

import hashlib
import math
from typing import Final

from .. import metrics
from ..context import ServerContext
from ..errors import ApiError
from .ratelimit import client_key

__all__ = ["MAIL_WINDOW", "PER_ACCOUNT", "PER_ADDRESS", "TOO_MANY_MAILS", "throttle"]

#: The window of every mail counter, in seconds.
MAIL_WINDOW: Final = 3600.0
#: Messages one account (or one email address) may ask for per window, per flow.
PER_ACCOUNT: Final = 5
#: Messages one client address may ask for per window, per flow.
PER_ADDRESS: Final = 20
TOO_MANY_MAILS: Final = "Too many messages asked for; try again later"


def _hashed(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def throttle(
    ctx: ServerContext,
    flow: str,
    *,
    account: str | None = None,
    address: str | None = None,
    per_account: int = PER_ACCOUNT,
    per_address: int = PER_ADDRESS,
) -> None:
    """Count one message of ``flow`` for ``account`` (an id or email) and the client
    ``address``; raise 429 (``Retry-After``) when either is over its limit (then nothing
    is counted)."""
    store = ctx.limiter.store
    now = ctx.timestamp()
    keys: list[tuple[str, int]] = []
    if account is not None:
        keys.append((f"mail:{flow}:ac:{_hashed(account)}", per_account))
    if address is not None:
        where = client_key(address, ctx.settings.login_ipv6_prefix)
        keys.append((f"mail:{flow}:ad:{where}", per_address))
    wait = 0.0
    for key, limit in keys:
        count, oldest = store.recent(key, MAIL_WINDOW, now)
        if count >= limit and oldest is not None:
            wait = max(wait, oldest + MAIL_WINDOW - now)
    if wait > 0:
        seconds = min(math.ceil(MAIL_WINDOW), max(1, math.ceil(wait)))
        metrics.rate_limited("mail")
        raise ApiError(429, TOO_MANY_MAILS, headers={"Retry-After": str(seconds)})
    for key, limit in keys:
        store.add(key, MAIL_WINDOW, now, keep=limit)
