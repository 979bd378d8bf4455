"""Hypothesis on ``Authorization`` header parsing and the guard core.

``extract_bearer`` and ``GuardCore.authenticate`` / ``aauthenticate`` get arbitrary
header values and near-valid ones (scheme spellings, spaces and tabs, a valid token or
its mutants, junk after it). The only outcomes allowed: the caller, when the header
carries a token genuinely signed with the key, or an :class:`AuthenticationError` whose
wire form renders (a JSON body; a ``WWW-Authenticate`` value fit for a header). Every
refusal is logged on one line, whatever the route and client address hold.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tekcify_auth import AuthenticationError, TokenVerifier, UserPayload
from tekcify_auth._guard import MISSING_HEADER, GuardCore, extract_bearer
from tekcify_auth.testing import mint_access_token

from .tokens import NOW, VALID_CLAIMS, b64url, genuine, hmac_sign, json_values, mutate, mutations

SECRET: Final = "fuzz-secret-that-only-the-server-knows"
VALID: Final = mint_access_token("user-1", secret=SECRET, scopes=["read:profile"], now=NOW - 60)
_B64TOKEN: Final = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class _Lines(logging.Handler):
    """Keeps the formatted refusal lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


LINES: Final = _Lines()
_LOGGER: Final = logging.getLogger("tekcify_auth.tests.fuzz")
_LOGGER.addHandler(LINES)
_LOGGER.propagate = False

#: Shared across examples: the verifier's cache and the guard's memo hold the valid token.
CORE: Final = GuardCore(TokenVerifier(secret=SECRET, clock=lambda: NOW), log=_LOGGER)
HOOKED: Final = GuardCore(
    TokenVerifier(secret=SECRET, clock=lambda: NOW),
    get_user_info=lambda user_id: {"email": "ada@example.com"} if user_id == "user-1" else None,
    log=_LOGGER,
)

FUZZ: Final = settings(
    max_examples=300, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

_SCHEMES: Final = st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]) | st.sampled_from(
    ["Bearer:", "Basic", "Token", "Bearer\u00a0", "Bearerx", ""]
)
_GAPS: Final = st.just("") | st.text(alphabet=" \t", max_size=3)
_SEPARATORS: Final = st.sampled_from([" ", "  ", "\t", " \t", ""])
_TAILS: Final = st.just("") | st.sampled_from([" ", "\t", ",", ", Bearer x", " x", "\r\n", "\x00"])


@st.composite
def _built_headers(draw: st.DrawFn) -> str:
    token = draw(
        st.just(VALID)
        | mutations().map(lambda steps: mutate(VALID, steps))
        | st.text(max_size=40)
    )
    return (
        draw(_GAPS) + draw(_SCHEMES) + draw(_SEPARATORS) + token + draw(_TAILS) + draw(_GAPS)
    )


#: Header values: absent, any text (latin-1, as servers decode headers, or not), built.
headers: Final = st.one_of(
    _built_headers(),
    _built_headers(),
    st.none(),
    st.text(max_size=100),
    st.text(st.characters(max_codepoint=255), max_size=100),
)
#: Route and client address as a request may bring them.
_REQUEST_TEXT: Final = st.text(max_size=60)


def assert_renders(exc: AuthenticationError) -> None:
    """The refusal's wire form: JSON body, one-line latin-1 ``WWW-Authenticate``."""
    assert exc.status_code in (401, 403)
    body = exc.body()
    assert body["statusCode"] == exc.status_code
    assert isinstance(body["message"], str)
    json.dumps(body)
    for name, value in exc.headers().items():
        assert name == "WWW-Authenticate"
        assert value.startswith("Bearer")
        assert "\r" not in value
        assert "\n" not in value
        value.encode("latin-1")


@FUZZ
@given(header=headers)
def test_extract_bearer_gives_one_token_or_the_401(header: str | None) -> None:
    token = _attempt(extract_bearer, header)
    if isinstance(token, AuthenticationError):
        assert token.status_code == 401
        assert token.message == MISSING_HEADER
        assert token.reason in ("missing_header", "invalid_header")
        assert_renders(token)
        return
    assert header is not None
    value = header.strip(" \t")
    assert _B64TOKEN.fullmatch(token)
    assert value[:6].lower() == "bearer"
    assert value.endswith(token)
    assert value[6:-len(token)].strip(" ") == ""


def _attempt(call: Any, *args: Any, **kwargs: Any) -> Any:
    """What ``call`` returns, or the :class:`AuthenticationError` it raises."""
    try:
        return call(*args, **kwargs)
    except AuthenticationError as exc:
        return exc


def _check(outcome: object, header: str | None) -> None:
    if isinstance(outcome, UserPayload):
        assert genuine(extract_bearer(header), VALID), header
        assert outcome.user_id == "user-1"
        assert outcome.scopes == ("read:profile",)
    else:
        assert isinstance(outcome, AuthenticationError)
        assert outcome.status_code == 401
        assert_renders(outcome)


@FUZZ
@given(header=headers, route=_REQUEST_TEXT, client=_REQUEST_TEXT)
def test_authenticate_admits_only_a_genuine_token(
    header: str | None, route: str, client: str
) -> None:
    for core in (CORE, HOOKED):
        assert isinstance(core.authenticate(f"Bearer {VALID}"), UserPayload)  # memo filled
        LINES.lines.clear()
        outcome = _attempt(core.authenticate, header, route=route, client=client)
        _check(outcome, header)
        if isinstance(outcome, AuthenticationError):
            assert len(LINES.lines) == 1
            assert "\n" not in LINES.lines[0]
            assert "\r" not in LINES.lines[0]
            assert VALID not in LINES.lines[0]


@settings(FUZZ, max_examples=60)
@given(header=headers, route=_REQUEST_TEXT)
def test_aauthenticate_admits_only_a_genuine_token(header: str | None, route: str) -> None:
    async def outcome(core: GuardCore) -> object:
        try:
            return await core.aauthenticate(header, route=route, client="203.0.113.7")
        except AuthenticationError as exc:
            return exc

    for core in (CORE, HOOKED):
        _check(asyncio.run(outcome(core)), header)


_HEADER_JSON: Final = b64url(b'{"alg":"HS256","typ":"JWT"}')


def _signed(payload: dict[str, Any]) -> str:
    signing_input = f"{_HEADER_JSON}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{hmac_sign(signing_input, SECRET.encode())}"


_SCOPE_NAMES: Final = st.sampled_from(["read:profile", "write:profile", "openid", "email", ""])
_REQUIRED: Final = st.lists(_SCOPE_NAMES.filter(bool), max_size=2)


@FUZZ
@given(
    scopes=st.none() | st.lists(_SCOPE_NAMES, max_size=3) | json_values,
    scope=st.none() | st.lists(_SCOPE_NAMES, max_size=3).map(" ".join) | json_values,
    required=_REQUIRED,
)
def test_scopes_are_enforced_whatever_the_token_claims(
    scopes: Any, scope: Any, required: list[str]
) -> None:
    claims = {k: v for k, v in VALID_CLAIMS.items() if k != "scopes"}
    if scopes is not None:
        claims["scopes"] = scopes
    if scope is not None:
        claims["scope"] = scope
    user = _attempt(CORE.authenticate, f"Bearer {_signed(claims)}", scopes=required)
    if isinstance(user, AuthenticationError):
        assert_renders(user)
        if user.status_code == 403:
            assert user.error == "insufficient_scope"
            assert user.scope == " ".join(sorted(set(required)))
        return
    assert user.has_scopes(*required)
    assert set(required) <= set(user.scopes)


@pytest.mark.parametrize("header", [f"Bearer {VALID}", f"bearer  {VALID}", f"\tBEARER {VALID} "])
def test_the_valid_header_spellings_are_admitted(header: str) -> None:
    # Keeps the properties above from passing for a guard that admits nothing.
    assert CORE.authenticate(header).user_id == "user-1"
