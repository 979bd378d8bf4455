"""Helpers for users' tests: mint Tekcify access tokens without a server.

>>> token = mint_access_token("user-1", secret="test-secret", scopes=["read:profile"])
>>> from tekcify_auth import verify_access_token
>>> verify_access_token(token, secret="test-secret").payload["scopes"]
['read:profile']

Asymmetric tokens come from a :class:`SigningKey`, which also gives the JWKS a
:class:`~tekcify_auth.JwksVerifier` would fetch; ``jwks=`` (on ``verify_access_token``
and every guard) takes that document as it is, or its JSON, or a joserfc ``KeySet``:

>>> key = SigningKey.generate("ES256")
>>> verify_access_token(key.mint("user-1"), key=key.public_jwk()).valid
True
>>> verify_access_token(key.mint("user-1"), jwks=key.jwks()).valid
True
"""

from __future__ import annotations

import functools
import inspect
import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from joserfc import jws
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

from ._config import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from ._keys import SignatureRegistry, load_hmac_key
from ._models import UserPayload

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .fastapi import JwksAuthGuard, JwtAuthGuard

__all__ = ["DEFAULT_TEST_SECRET", "SigningKey", "mint_access_token"]

#: The secret :func:`mint_access_token` signs with when none is given.
DEFAULT_TEST_SECRET: Final = "tekcify-test-secret-not-for-production"

_GENERATORS: Final[dict[str, Callable[[], RSAKey | ECKey | OKPKey]]] = {
    "RS256": lambda: RSAKey.generate_key(2048),
    "RS384": lambda: RSAKey.generate_key(2048),
    "RS512": lambda: RSAKey.generate_key(2048),
    "PS256": lambda: RSAKey.generate_key(2048),
    "PS384": lambda: RSAKey.generate_key(2048),
    "PS512": lambda: RSAKey.generate_key(2048),
    "ES256": lambda: ECKey.generate_key("P-256"),
    "ES384": lambda: ECKey.generate_key("P-384"),
    "ES512": lambda: ECKey.generate_key("P-521"),
    "EdDSA": lambda: OKPKey.generate_key("Ed25519"),
}


def _claims(
    sub: str,
    *,
    scopes: Iterable[str],
    email: str | None,
    expires_in: float,
    issuer: str | None,
    audience: str | None,
    now: float | None,
    extra: dict[str, Any],
    client_id: str | None = None,
) -> dict[str, Any]:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": sub, "type": "access", "scopes": list(scopes)}
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience if client_id is None else [audience, client_id]
    if client_id is not None:
        claims["clientId"] = client_id
    if email is not None:
        claims["email"] = email
    claims.update(
        {"role": "user", "jti": str(uuid.uuid4()), "iat": issued, "exp": int(issued + expires_in)}
    )
    # Extra claims win, and a claim given as None is left out (to test missing claims).
    claims.update(extra)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], alg: str, key: Key, header: dict[str, Any]) -> str:
    payload = json.dumps(claims, separators=(",", ":"))
    protected = {"alg": alg, "typ": "JWT", **header}
    registry = SignatureRegistry(algorithms=[alg])
    return jws.serialize_compact(protected, payload, key, registry=registry)


def mint_access_token(
    sub: str,
    *,
    secret: str | bytes = DEFAULT_TEST_SECRET,
    scopes: Iterable[str] = (),
    email: str | None = None,
    expires_in: float = 900,
    issuer: str | None = DEFAULT_ISSUER,
    audience: str | None = DEFAULT_AUDIENCE,
    algorithm: str = "HS256",
    now: float | None = None,
    header: dict[str, Any] | None = None,
    client_id: str | None = None,
    **claims: Any,
) -> str:
    """An HS256 access token as the Tekcify server issues it, signed with ``secret``.

    ``client_id`` makes it an application's token, as the server issues them: the
    ``clientId`` claim and ``aud: [audience, client_id]``; without it the token is
    first-party. ``mint_access_token("app-1", client_id="app-1")`` is a
    ``client_credentials`` token (``sub`` is the client id: no user). ``expires_in`` may
    be negative for an expired token; any extra keyword becomes a claim
    (``role="admin"``...), and a claim given as ``None`` is left out.
    """
    body = _claims(
        sub, scopes=scopes, email=email, expires_in=expires_in, issuer=issuer,
        audience=audience, now=now, extra=claims, client_id=client_id,
    )
    return _sign(body, algorithm, load_hmac_key(secret), header or {})


class SigningKey:
    """A private key that mints asymmetric tokens, with its public JWK and JWKS."""

    def __init__(
        self, key: RSAKey | ECKey | OKPKey, algorithm: str, kid: str | None = None
    ) -> None:
        self.key = key
        self.algorithm = algorithm
        self.kid = kid or key.thumbprint()

    @classmethod
    def generate(cls, algorithm: str = "RS256", kid: str | None = None) -> SigningKey:
        """A fresh key for ``algorithm`` (RS*, PS*, ES256/384/512 or EdDSA)."""
        try:
            generator = _GENERATORS[algorithm]
        except KeyError:
            raise ValueError(f"no asymmetric algorithm {algorithm!r}") from None
        return cls(generator(), algorithm, kid)

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK with ``kid``, ``alg`` and ``use``."""
        jwk: dict[str, Any] = dict(self.key.as_dict(private=False))
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        pem: bytes = self.key.as_pem(private=False)
        return pem

    def jwks(self, *others: SigningKey) -> dict[str, Any]:
        """A JWKS document holding this key and ``others``."""
        return {"keys": [k.public_jwk() for k in (self, *others)]}

    def mint(
        self,
        sub: str,
        *,
        scopes: Iterable[str] = (),
        email: str | None = None,
        expires_in: float = 900,
        issuer: str | None = DEFAULT_ISSUER,
        audience: str | None = DEFAULT_AUDIENCE,
        now: float | None = None,
        header: dict[str, Any] | None = None,
        client_id: str | None = None,
        **claims: Any,
    ) -> str:
        """An access token signed with this key, its ``kid`` in the header.

        ``client_id`` and the other options are those of :func:`mint_access_token`.
        """
        body = _claims(
            sub, scopes=scopes, email=email, expires_in=expires_in, issuer=issuer,
            audience=audience, now=now, extra=claims, client_id=client_id,
        )
        return _sign(body, self.algorithm, self.key, {"kid": self.kid, **(header or {})})


# Flask and Django: stand in for the guard in users' tests. The frameworks are imported
# only when an override is created, so importing this module loads none of them.

_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def _stand_in_user(
    user: str | UserPayload,
    scopes: Iterable[str],
    email: str | None,
    role: str | None,
    client_id: str | None = None,
) -> UserPayload:
    if isinstance(user, UserPayload):
        return user
    claims = {"sub": user, "type": "access", "scopes": list(scopes), "role": role}
    if email is not None:
        claims["email"] = email
    if client_id is not None:
        claims["clientId"] = client_id
    return UserPayload(
        user_id=user, email=email, scopes=tuple(scopes), role=role, client_id=client_id,
        claims=claims,
    )


class UserOverride:
    """Makes every guard of one framework accept a stand-in user, with or without a token.

    A context manager (``with``) and a decorator for sync and ``async`` test functions;
    made by :func:`override_flask_user` and :func:`override_django_user`. While active,
    the token, its verification and ``get_user_info`` are skipped; scope checks and the
    guard's ``clients`` / ``allow_client_tokens`` still run, so a test can prove a route's
    403 (give the stand-in ``client_id=`` when the guard names ``clients``). It is
    process-wide (servers running in threads see it too) and meant for tests only.
    """

    def __init__(
        self, swap: Callable[[UserPayload | None], UserPayload | None], user: UserPayload
    ) -> None:
        self.user = user
        self._swap = swap
        self._previous: list[UserPayload | None] = []

    def __enter__(self) -> UserPayload:
        self._previous.append(self._swap(self.user))
        return self.user

    def __exit__(self, *exc_info: object) -> None:
        self._swap(self._previous.pop())

    def __call__(self, fn: _Fn) -> _Fn:
        """Use the override around every call of ``fn`` (a test function)."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await fn(*args, **kwargs)

            return cast(_Fn, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return cast(_Fn, wrapper)


def override_flask_user(
    user: str | UserPayload = "test-user",
    *,
    scopes: Iterable[str] = (),
    email: str | None = None,
    role: str | None = "user",
    client_id: str | None = None,
) -> UserOverride:
    """Every ``tekcify_auth.flask`` guard accepts ``user`` while this is active.

    ``user`` is a user id (a :class:`~tekcify_auth.UserPayload` is built with
    ``scopes``, ``email`` and ``role``) or a ready ``UserPayload``. No token is needed;
    ``@auth.required(scopes=...)`` still answers 403 when ``scopes`` lack one::

        def test_profile(client):
            with override_flask_user("user-1", scopes=["read:profile"]):
                assert client.get("/api/profile").json["userId"] == "user-1"

        @override_flask_user("user-1")
        def test_orders(client): ...
    """
    from . import flask as adapter

    return UserOverride(
        adapter._swap_override, _stand_in_user(user, scopes, email, role, client_id)
    )


def override_django_user(
    user: str | UserPayload = "test-user",
    *,
    scopes: Iterable[str] = (),
    email: str | None = None,
    role: str | None = "user",
    client_id: str | None = None,
) -> UserOverride:
    """``JwtAuthMiddleware``, ``auth_required`` and DRF's ``JwtAuthentication`` accept ``user``.

    ``user`` is a user id (a :class:`~tekcify_auth.UserPayload` is built with
    ``scopes``, ``email`` and ``role``) or a ready ``UserPayload``. No token is needed;
    scope checks still answer 403 when ``scopes`` lack one::

        @override_django_user("user-1", scopes=["read:profile"])
        def test_profile(client):
            assert client.get("/api/profile").json()["userId"] == "user-1"
    """
    from .django import _conf

    return UserOverride(
        _conf._swap_override, _stand_in_user(user, scopes, email, role, client_id)
    )


__all__ += ["UserOverride", "override_django_user", "override_flask_user"]


# FastAPI: the stand-in goes into app.dependency_overrides, so only that app is affected.


def override_guard(
    app: FastAPI,
    guard: JwtAuthGuard | JwksAuthGuard,
    user: str | UserPayload = "test-user",
    *,
    scopes: Iterable[str] = (),
    email: str | None = None,
    role: str | None = "user",
    client_id: str | None = None,
) -> UserOverride:
    """``guard`` accepts ``user`` on ``app`` while this is active, with or without a token.

    ``user`` is a user id (a :class:`~tekcify_auth.UserPayload` is built with
    ``scopes``, ``email``, ``role`` and ``client_id``, the application the stand-in's
    token would have been issued to) or a ready ``UserPayload``. The stand-in goes
    into ``app.dependency_overrides`` and stores the user where ``CurrentUser`` reads
    it; the guard's own ``scopes`` and ``require_scopes`` still answer 403 when
    ``scopes`` lack one::

        from tekcify_auth.testing import override_guard
        from myapp import app, guard

        def test_profile(client):
            with override_guard(app, guard, "user-1", scopes=["read:profile"]):
                assert client.get("/profile").json()["userId"] == "user-1"

        @override_guard(app, guard, "user-1")
        async def test_orders(client): ...

    Raises :class:`~tekcify_auth.ConfigurationError` when ``guard`` is not a
    ``tekcify_auth.fastapi`` guard, and on entry when ``app.dependency_overrides``
    already replaces it with something of your own.
    """
    from . import fastapi as adapter

    return UserOverride(
        adapter._override_swap(app, guard), _stand_in_user(user, scopes, email, role, client_id)
    )


__all__ += ["override_guard"]
