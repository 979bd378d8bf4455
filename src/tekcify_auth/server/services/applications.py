"""Applications (OAuth clients): the rules of ``/api/applications`` and client secrets.

**Secrets.** Client secrets are generated here, never chosen by people: 32 random bytes
(256 bits). For a secret like that a fast hash is enough: SHA-256 cannot be reversed and
there is nothing to guess, whereas argon2 exists to slow down guessing of *low-entropy*
passwords, and would only add tens of milliseconds and memory to every token request.
The hash is compared in constant time all the same. A secret is returned once, when it
is made (creation, regeneration); the database keeps only its hash, so regenerating
replaces the hash and the old secret stops working when that transaction commits.

**Confidential or public** (issue 15). An application is confidential (it has a
secret) unless it is created with ``tokenEndpointAuthMethod: "none"``: then it is a
public client (RFC 6749 §2.1: a single-page or native app, which cannot keep a secret),
``client_secret_hash`` is ``NULL``, and it names itself with its ``client_id`` alone.
The type is fixed when the application is made: a public client cannot be given a
secret later, nor a confidential one lose it. Public clients must use PKCE (as every
client must here), cannot use ``client_credentials`` or introspection, and a secret
they send is refused (``services/client_auth.py``).

**Validation** (``http-api.md``, Applications). Redirect URIs are absolute, ``https``,
or ``http`` only for the loopback hosts ``127.0.0.1``, ``[::1]`` and ``localhost`` (RFC
8252 §7.3, §8.3), or a native app's private-use scheme named by reverse domain (RFC
8252 §7.1: ``com.example.app:/callback``, a lower-case scheme with a dot in it, then a
path); no fragment (RFC 6749 §3.1.2), no user information, no wildcard. They
are stored exactly as given: the authorization endpoint compares them character for
character, except the port of a loopback URI (RFC 8252 §7.3). Authorized origins are
``scheme://host[:port]`` written as browsers send them
in ``Origin`` (RFC 6454 §6.2: lower-case host, no default port), with the same scheme
rules. Scopes must be ones the server knows (``Settings.scopes``). The checks of single
values raise ``ValueError`` (the request schemas turn it into a 400 naming the field);
:func:`check_scopes` needs the settings and raises the 400 itself.

**Ownership.** Only the owner sees or changes an application; for anyone else it does
not exist (404, never 403), so client ids cannot be probed.

**Active or not.** An owner may set an application inactive (``isActive: false``) and
active again. Inactive, it is refused exactly as a suspended one (its owner disabled)
is: every protocol lookup (:func:`find_application`, :func:`find_client`) leaves it
out, so the authorization endpoint shows its error page, the token endpoint and
introspection refuse the client (``invalid_client``) and the public view is a 404.
Nothing is revoked: setting it active again restores it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from ..db.applications import Application
from ..db.lookups import Lookup, Lookups
from ..db.models import User, UserSession
from ..db.oauth import ClientCredentialsAllowance
from ..errors import ApiError
from ..settings import DEFAULT_SCOPES
from . import activity
from .image_store import LOGO, delete_image_at, replace_image
from .images import ProcessedImage
from .text import check_display_text, has_lone_surrogate

__all__ = [
    "DEFAULT_SCOPES",
    "LOOPBACK_HOSTS",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_ORIGINS",
    "MAX_REDIRECT_URIS",
    "MAX_URI_LENGTH",
    "NOT_FOUND",
    "ApplicationStats",
    "Changes",
    "ClientFacts",
    "check_description",
    "check_name",
    "check_origin",
    "check_primary_color",
    "check_redirect_uri",
    "check_scopes",
    "check_unique",
    "create_application",
    "delete_application",
    "find_application",
    "find_client",
    "hash_client_secret",
    "list_applications",
    "new_client_id",
    "new_client_secret",
    "obfuscate_client_id",
    "owned_application",
    "regenerate_secret",
    "remove_logo",
    "revoke_application_grants",
    "secret_matches",
    "set_logo",
    "update_application",
]

MAX_NAME_LENGTH: Final = 100
MAX_DESCRIPTION_LENGTH: Final = 1000
MAX_REDIRECT_URIS: Final = 20
MAX_ORIGINS: Final = 20
MAX_URI_LENGTH: Final = 2048
#: The hosts a plain ``http`` redirect URI or origin may name (RFC 8252 §7.3, §8.3).
LOOPBACK_HOSTS: Final = ("127.0.0.1", "[::1]", "localhost")
NOT_FOUND: Final = "Application not found"

# Compared against when the client is unknown, so both failures do the same work.
_DUMMY_HASH: Final = hashlib.sha256(b"tekcify-auth: no such client").hexdigest()

# RFC 3986 §2: unreserved, reserved and "%"; anything else must be percent-encoded.
_URI_CHARACTERS: Final = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")
_PORT: Final = re.compile(r"[0-9]{1,5}")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_IPV6_LOOPBACK: Final = ipaddress.IPv6Address("::1")
_LOOPBACK_RULE: Final = (
    "http is allowed only for the loopback hosts 127.0.0.1, [::1] and localhost; use https"
)
_PRIMARY_COLOR: Final = re.compile(r"#[0-9a-fA-F]{6}")
# RFC 8252 §7.1: a private-use scheme is a reverse domain name the app's vendor controls,
# so it has a dot (which no scheme a browser runs, javascript: data: file:, has), and is
# followed by a path.
_PRIVATE_USE: Final = re.compile(r"(?P<scheme>[a-z][a-z0-9+\-]*(?:\.[a-z0-9+\-]+)+):(?P<rest>/.*)")
_REVOKED_DELETED: Final = "application_deleted"
_REVOKED_SCOPES: Final = "application_scopes_reduced"


# -- secrets -----------------------------------------------------------------------------


def new_client_id() -> str:
    """A fresh client id: 128 random bits, 32 hex characters."""
    return secrets.token_hex(16)


def new_client_secret() -> str:
    """A fresh client secret: 256 random bits, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    """The stored form of a client secret: its SHA-256, hex (never raises: see ``hash_token``)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(stored_hash: str | None, presented: str) -> bool:
    """Whether ``presented`` is the secret of ``stored_hash``, in constant time.

    ``None`` (an unknown or public client) never matches, after the same work.
    """
    expected = stored_hash if stored_hash is not None else _DUMMY_HASH
    same = hmac.compare_digest(expected, hash_client_secret(presented))
    return same and stored_hash is not None


# -- checks of single values -------------------------------------------------------------


def check_name(value: str) -> str:
    """An application name, trimmed: 1 to 100 characters, shown as it reads.

    The rules of person names (``services/text.py``): no control characters or line
    breaks, no bidirectional controls, and at least one visible character.

    >>> check_name("  My app ")
    'My app'
    """
    name = value.strip()
    if not name:
        raise ValueError("must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"must be at most {MAX_NAME_LENGTH} characters")
    return check_display_text(name)


def check_description(value: str | None) -> str | None:
    """A description, trimmed: at most 1,000 characters; empty is none.

    The rules of names, but line breaks and tabs are allowed (``services/text.py``).
    """
    if value is None:
        return None
    text = value.strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise ValueError(f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
    return check_display_text(text, lines=True) or None


@dataclass(frozen=True, slots=True)
class _Parts:
    scheme: str
    host: str  # as written; an IPv6 literal with its brackets
    port: str | None
    rest: str  # path, query and fragment, as written


def _host_is_valid(host: str) -> bool:
    if host.startswith("["):
        if not host.endswith("]") or "%" in host:  # a zone id names an interface, not a host
            return False
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    if len(host) > 253:
        return False
    labels = host.split(".")
    if labels[-1].isdigit():
        # Dotted numbers are an IPv4 address or nothing, never a DNS name (WHATWG URL).
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return all(_LABEL.fullmatch(label) for label in labels)


def _is_loopback(host: str) -> bool:
    if host.startswith("["):
        return ipaddress.IPv6Address(host[1:-1]) == _IPV6_LOOPBACK
    return host.lower() in LOOPBACK_HOSTS


def _check_characters(value: str) -> None:
    if "*" in value:
        raise ValueError("must not contain wildcards (*)")
    if not _URI_CHARACTERS.fullmatch(value):
        raise ValueError(
            "contains a character a URI cannot hold as it is (a space, quote, backslash, "
            "non-ASCII letter...): percent-encode it"
        )
    if _BAD_PERCENT.search(value):
        raise ValueError("has a % that does not start a percent-encoded byte (%XX)")


def _split(value: str, example: str) -> _Parts:
    """The checks redirect URIs and origins share; ``ValueError`` saying what is wrong."""
    _check_characters(value)
    scheme = _SCHEME.match(value)
    if scheme is None or not value[scheme.end():].startswith("//"):
        raise ValueError(f"must be absolute, such as {example}")
    name = scheme.group(1)
    if name not in _DEFAULT_PORTS:
        raise ValueError(
            "must use https (or http for a loopback host), in lower case"
            + (", or a native app's private-use scheme such as com.example.app:/callback"
               if example.endswith("/callback") else "")
        )
    after = value[scheme.end() + 2:]
    cut = min((i for i in (after.find("/"), after.find("?"), after.find("#")) if i >= 0),
              default=len(after))
    authority, rest = after[:cut], after[cut:]
    if "@" in authority:
        raise ValueError("must not contain user information (user:password@)")
    if authority.startswith("[") and "]" in authority:
        end = authority.index("]") + 1
        host, port_part = authority[:end], authority[end:]
    else:
        host, colon, port_text = authority.partition(":")
        port_part = colon + port_text
    if not host:
        raise ValueError("has no host")
    if not _host_is_valid(host):
        raise ValueError(f"has an invalid host: {host[:100]}")
    port: str | None = None
    if port_part:
        port = port_part[1:]
        if not port_part.startswith(":") or not _PORT.fullmatch(port) or int(port) > 65535:
            raise ValueError("has an invalid port (a number from 1 to 65535)")
        if int(port) == 0:
            raise ValueError("has an invalid port (a number from 1 to 65535)")
    if name == "http" and not _is_loopback(host):
        raise ValueError(_LOOPBACK_RULE)
    return _Parts(name, host, port, rest)


def check_redirect_uri(value: str) -> str:
    """A redirect URI (see the module docstring): returned unchanged, or ``ValueError``.

    >>> check_redirect_uri("http://127.0.0.1:8080/callback")
    'http://127.0.0.1:8080/callback'
    """
    if len(value) > MAX_URI_LENGTH:
        raise ValueError(f"must be at most {MAX_URI_LENGTH} characters")
    if "#" in value:
        raise ValueError("must not have a fragment (#), RFC 6749 §3.1.2")
    private = _PRIVATE_USE.fullmatch(value)
    if private is not None and private.group("scheme") not in _DEFAULT_PORTS:
        _check_characters(value)
        if private.group("rest").startswith("//") and "@" in private.group("rest"):
            raise ValueError("must not contain user information (user:password@)")
        return value
    _split(value, "https://app.example.com/callback")
    return value


def check_origin(value: str) -> str:
    """An authorized origin, ``scheme://host[:port]``: returned unchanged, or ``ValueError``.

    >>> check_origin("http://localhost:3000")
    'http://localhost:3000'
    """
    if len(value) > MAX_URI_LENGTH:
        raise ValueError(f"must be at most {MAX_URI_LENGTH} characters")
    parts = _split(value, "https://app.example.com")
    host = parts.host.lower()
    if host.startswith("["):
        host = f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
    port = parts.port
    if port is not None:
        port = None if int(port) == _DEFAULT_PORTS[parts.scheme] else str(int(port))
    canonical = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    if parts.rest:
        raise ValueError(
            f"must be only scheme://host[:port], without a path, query or fragment: {canonical}"
        )
    if canonical != value:
        raise ValueError(f"must be written as browsers send it: {canonical}")
    return value


def check_primary_color(value: str | None) -> str | None:
    """A primary colour, ``#rrggbb`` (either case), stored in lower case; ``ValueError`` otherwise.

    >>> check_primary_color("#1A2B3C")
    '#1a2b3c'
    """
    if value is None:
        return None
    if not _PRIMARY_COLOR.fullmatch(value):
        raise ValueError("must be a colour written #rrggbb (six hexadecimal digits)")
    return value.lower()


def obfuscate_client_id(client_id: str) -> str:
    """``client_id`` with all but its first 8 and last 4 characters masked by ``*``.

    Short ids (12 characters or fewer) keep only their first quarter.

    >>> obfuscate_client_id("0123456789abcdef0123456789abcdef")
    '01234567********************cdef'
    """
    if len(client_id) > 12:
        return client_id[:8] + "*" * (len(client_id) - 12) + client_id[-4:]
    shown = len(client_id) // 4
    return client_id[:shown] + "*" * (len(client_id) - shown)


def check_unique(values: list[str]) -> list[str]:
    """``values`` unchanged, or ``ValueError`` naming the first one listed twice."""
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"lists {value[:100]} twice")
        seen.add(value)
    return values


def check_scopes(scopes: Sequence[str], known: Sequence[str]) -> list[str]:
    """``scopes`` when each is one of ``known``; otherwise a 400 naming the first that is not."""
    allowed = set(known)
    for index, scope in enumerate(scopes):
        if scope not in allowed:
            field = f"scopes.{index}"
            reason = (
                f"unknown scope {scope[:64]!r}; this server knows {' '.join(known)} (its "
                "operator adds scopes with TEKCIFY_EXTRA_SCOPES, e.g. "
                f"TEKCIFY_EXTRA_SCOPES=\"{scope[:64]}=What it lets the application do\")"
            )
            raise ApiError(
                400, f"Invalid field {field}: {reason}",
                details=[{"field": field, "type": "unknown_scope", "message": reason}],
            )
    return list(scopes)


# -- the rows ----------------------------------------------------------------------------


# Built once: every client authentication looks the client up, and building the
# statement per call cost a third of the lookup (benchmarks/server.py).
# An application whose owner is disabled is suspended, and one its owner set inactive
# cannot be used: neither is found (see below).
_USABLE = (User.disabled_at.is_(None), Application.is_active.is_(True))
_BY_CLIENT_ID = (
    select(Application)
    .join(User, User.id == Application.owner_id)
    .where(Application.client_id == bindparam("client_id"), *_USABLE)
)


def find_application(db: Session, client_id: str) -> Application | None:
    """The application ``client_id``, if any, active and not suspended.

    Every protocol path looks the client up here (client authentication, the
    authorization request, client tokens at introspection, the public page), so while
    the owner's account is disabled, or the owner has set it inactive, the application
    is as if it did not exist: no token of any grant (refresh included), no
    authorization by anyone, its ``client_credentials`` tokens inactive. Nothing is
    deleted or revoked: enabling the owner again (``tekcify-auth users enable``) or
    setting it active restores it.
    """
    # No id holds a NUL or a lone surrogate, and the drivers refuse to send either (a 500).
    if "\x00" in client_id or has_lone_surrogate(client_id):
        return None
    return db.execute(_BY_CLIENT_ID, {"client_id": client_id}).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What the protocol endpoints need to know of an application, read in one lookup.

    ``client_credentials_scopes`` is the administrator's allowance as stored (``None``:
    not allowed); ``client_credentials.allowed_scopes`` narrows it to the registered
    scopes.
    """

    client_id: str
    client_secret_hash: str | None
    scopes: list[str]
    authorized_origins: list[str]
    client_credentials_scopes: str | None


# The client, its allowance and its owner's state, for client authentication, client
# tokens and CORS: one indexed read through db/lookups.py on every protocol request.
_CLIENT = Lookup(
    select(
        Application.client_id, Application.client_secret_hash, Application.scopes,
        Application.authorized_origins,
        ClientCredentialsAllowance.scopes.label("client_credentials_scopes"),
    )
    .join(User, User.id == Application.owner_id)
    .outerjoin(
        ClientCredentialsAllowance,
        ClientCredentialsAllowance.client_id == Application.client_id,
    )
    .where(Application.client_id == bindparam("client_id"), *_USABLE)
)


def find_client(lookups: Lookups, client_id: str) -> ClientFacts | None:
    """:func:`find_application`'s answer as :class:`ClientFacts`, without the ORM.

    Asked of the database on every call, never cached: a regenerated secret, a deleted
    application or a disabled owner is refused by the very next request, on every
    instance sharing the database. An inactive application is not found either.
    """
    if "\x00" in client_id or has_lone_surrogate(client_id) or len(client_id) > 64:
        return None
    row = lookups.one(_CLIENT, client_id=client_id)
    if row is None:
        return None
    return ClientFacts(
        row.client_id, row.client_secret_hash, list(row.scopes),
        list(row.authorized_origins), row.client_credentials_scopes,
    )


def owned_application(
    db: Session, owner_id: str, client_id: str, *, lock: bool = False
) -> Application:
    """The application ``client_id`` when ``owner_id`` owns it; 404 otherwise, never 403.

    ``lock`` reads it ``FOR UPDATE`` (PostgreSQL; SQLite write transactions are
    serialised already), for changes that depend on what was read.
    """
    query = select(Application).where(
        Application.client_id == client_id, Application.owner_id == owner_id
    )
    if lock:
        query = query.with_for_update()
    application = db.execute(query).scalar_one_or_none()
    if application is None:
        raise ApiError(404, NOT_FOUND)
    return application


@dataclass(frozen=True, slots=True)
class ApplicationStats:
    """How many applications an owner has: all of them, the active ones, the inactive."""

    total: int
    active: int

    @property
    def inactive(self) -> int:
        """The applications set inactive."""
        return self.total - self.active


def list_applications(
    db: Session, owner_id: str, *, page: int, limit: int
) -> tuple[list[Application], ApplicationStats]:
    """Page ``page`` (from 1) of the owner's applications, newest first; and their counts."""
    counts = db.execute(
        select(func.count(), func.count().filter(Application.is_active.is_(True)))
        .select_from(Application)
        .where(Application.owner_id == owner_id)
    ).one()
    rows = db.execute(
        select(Application)
        .where(Application.owner_id == owner_id)
        .order_by(Application.created_at.desc(), Application.client_id)
        .offset((page - 1) * limit)
        .limit(limit)
    ).scalars()
    return list(rows), ApplicationStats(total=int(counts[0]), active=int(counts[1]))


def create_application(
    db: Session,
    *,
    owner_id: str,
    name: str,
    redirect_uris: Sequence[str],
    scopes: Sequence[str],
    now: datetime,
    description: str | None = None,
    authorized_origins: Sequence[str] = (),
    confidential: bool = True,
    primary_color: str | None = None,
    post_logout_redirect_uris: Sequence[str] = (),
    address: str | None = None,
    user_agent: str | None = None,
) -> tuple[Application, str | None]:
    """Insert an application; returns it and its secret (``None`` for a public client).

    The secret is returned only here: the database keeps its hash. The arguments are
    stored as given; the applications API checks them first. Logged for the owner
    (``application_created``) from ``address`` and ``user_agent``.
    """
    secret = new_client_secret() if confidential else None
    application = Application(
        client_id=new_client_id(), owner_id=owner_id, name=name, description=description,
        redirect_uris=list(redirect_uris), authorized_origins=list(authorized_origins),
        scopes=list(scopes), post_logout_redirect_uris=list(post_logout_redirect_uris),
        client_secret_hash=hash_client_secret(secret) if secret is not None else None,
        logo_url=None, is_active=True, primary_color=primary_color, created_at=now,
        updated_at=now,
    )
    db.add(application)
    db.flush()
    _record(db, now, owner_id, "application_created", application, address, user_agent)
    return application, secret


def _record(
    db: Session, now: datetime, owner_id: str, what: str, application: Application,
    address: str | None, user_agent: str | None,
) -> None:
    activity.record(
        db, now, user_id=owner_id, activity_type=what, address=address, user_agent=user_agent,
        metadata={"clientId": application.client_id, "name": application.name},
    )


@dataclass(frozen=True, slots=True)
class Changes:
    """The fields an update sets, already checked; a field left out is not in ``fields``."""

    fields: frozenset[str]
    name: str | None = None
    description: str | None = None
    redirect_uris: Sequence[str] = ()
    authorized_origins: Sequence[str] = ()
    scopes: Sequence[str] = ()
    primary_color: str | None = None
    is_active: bool = True
    post_logout_redirect_uris: Sequence[str] = ()


def update_application(
    db: Session, owner_id: str, client_id: str, changes: Changes, now: datetime
) -> Application:
    """Apply ``changes`` to the owner's application (404 when it is not theirs).

    Taking a scope away revokes the application's sessions that hold it: their refresh
    tokens would otherwise go on minting access tokens with the scope.
    """
    application = owned_application(db, owner_id, client_id, lock=True)
    before = (
        application.name, application.description, application.redirect_uris,
        application.authorized_origins, application.scopes, application.primary_color,
        application.is_active, application.post_logout_redirect_uris,
    )
    if "name" in changes.fields and changes.name is not None:
        application.name = changes.name
    if "description" in changes.fields:
        application.description = changes.description
    if "redirect_uris" in changes.fields:
        application.redirect_uris = list(changes.redirect_uris)
    if "authorized_origins" in changes.fields:
        application.authorized_origins = list(changes.authorized_origins)
    if "scopes" in changes.fields:
        lost = set(before[4]) - set(changes.scopes)
        application.scopes = list(changes.scopes)
        if lost:
            _revoke_sessions_holding(db, client_id, lost, now)
    if "primary_color" in changes.fields:
        application.primary_color = changes.primary_color
    if "is_active" in changes.fields:
        application.is_active = changes.is_active
    if "post_logout_redirect_uris" in changes.fields:
        application.post_logout_redirect_uris = list(changes.post_logout_redirect_uris)
    after = (
        application.name, application.description, application.redirect_uris,
        application.authorized_origins, application.scopes, application.primary_color,
        application.is_active, application.post_logout_redirect_uris,
    )
    if after != before:
        application.updated_at = now
    db.flush()
    return application


def regenerate_secret(
    db: Session, owner_id: str, client_id: str, now: datetime, *,
    address: str | None = None, user_agent: str | None = None,
) -> str:
    """A new secret for the owner's application; the old one stops working on commit.

    A public client has no secret to replace: 400. Logged as
    ``application_secret_regenerated``.
    """
    application = owned_application(db, owner_id, client_id, lock=True)
    if application.client_secret_hash is None:
        raise ApiError(400, "This application is a public client and has no secret")
    secret = new_client_secret()
    application.client_secret_hash = hash_client_secret(secret)
    application.updated_at = now
    db.flush()
    _record(
        db, now, owner_id, "application_secret_regenerated", application, address, user_agent
    )
    return secret


def set_logo(
    db: Session,
    owner_id: str,
    client_id: str,
    processed: ProcessedImage,
    *,
    now: datetime,
) -> str:
    """Store ``processed`` as the application's logo, deleting the one it replaces.

    Returns the logo's path (``image_store.image_url`` makes it absolute). 404 when not
    the owner's.
    """
    application = owned_application(db, owner_id, client_id, lock=True)
    url = replace_image(
        db, owner_id, LOGO, processed, old_url=application.logo_url, now=now
    )
    application.logo_url = url
    application.updated_at = now
    db.flush()
    return url


def remove_logo(db: Session, owner_id: str, client_id: str, *, now: datetime) -> bool:
    """Take the logo off the owner's application and delete its stored image (404 when
    not the owner's); whether it had one. The consent page then shows no logo."""
    application = owned_application(db, owner_id, client_id, lock=True)
    if application.logo_url is None:
        return False
    delete_image_at(db, owner_id, LOGO, application.logo_url)
    application.logo_url = None
    application.updated_at = now
    db.flush()
    return True


def _revoke_sessions_holding(db: Session, client_id: str, lost: set[str], now: datetime) -> None:
    live = db.execute(
        select(UserSession.id, UserSession.scopes).where(
            UserSession.client_id == client_id, UserSession.revoked_at.is_(None)
        )
    ).all()
    doomed = [row.id for row in live if lost.intersection(row.scopes.split())]
    if doomed:
        db.execute(
            update(UserSession)
            .where(UserSession.id.in_(doomed), UserSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=_REVOKED_SCOPES)
        )


def revoke_application_grants(db: Session, client_id: str, now: datetime) -> None:
    """Withdraw, for every user, what the application ``client_id`` was given.

    Its sessions are revoked: that ends their refresh tokens and, through the session
    check, their access tokens at this server. Rows that refer to the application with
    ``ON DELETE CASCADE`` (consents, authorization codes) go with its row in
    :func:`delete_application`; a grant kept any other way is withdrawn here.
    """
    db.execute(
        update(UserSession)
        .where(UserSession.client_id == client_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=_REVOKED_DELETED)
    )


def delete_application(
    db: Session, owner_id: str, client_id: str, now: datetime, *,
    address: str | None = None, user_agent: str | None = None,
) -> None:
    """Delete the owner's application and its logo; revoke what it was given (404 if not
    theirs). Logged as ``application_deleted``."""
    application = owned_application(db, owner_id, client_id, lock=True)
    _record(db, now, owner_id, "application_deleted", application, address, user_agent)
    revoke_application_grants(db, client_id, now)
    delete_image_at(db, owner_id, LOGO, application.logo_url)
    db.delete(application)
    db.flush()
