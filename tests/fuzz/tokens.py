"""Hypothesis strategies for hostile tokens: arbitrary input and near-valid mutations.

A mutation starts from a genuinely valid token and changes it the way an attacker
without the key can: segments swapped, dropped or repeated, base64url characters
changed, headers and payloads replaced by arbitrary JSON (``st.recursive``) and signed
with the attacker's own key, with ``none``, or with the verifier's public key used as
an HMAC secret (algorithm confusion). :func:`genuine` tells whether a mutated token
still carries the original signed content, the only case in which it may be valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, Final

from hypothesis import strategies as st

ISSUER: Final = "tekcify-auth"
AUDIENCE: Final = "tekcify-api"
#: The verifiers' clock in the claim tests (seconds since the epoch).
NOW: Final = 1_750_000_000.0

_B64URL: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: Characters a tweak may put into a segment: base64url, its look-alikes, separators.
_TWEAK_CHARS: Final = _B64URL + "+/= \t.%\x00é"

Mutation = Callable[[str], str]


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWS writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(segment: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None


def genuine(token: str | bytes, original: str) -> bool:
    """Whether ``token`` signs exactly what ``original`` signs, with the same signature.

    Only the signature segment may be spelled differently (base64url that decodes to
    the same bytes); header and payload segments are the signed input itself.
    """
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            return False
    parts, reference = token.split("."), original.split(".")
    if len(parts) != 3 or parts[:2] != reference[:2]:
        return False
    signature = _unb64url(parts[2])
    return signature is not None and signature == _unb64url(reference[2])


# -- JSON ---------------------------------------------------------------------------------

_SCALARS: Final = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)

#: Any JSON value Python's ``json`` writes (NaN and Infinity included, as it reads them).
json_values: Final = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

#: Header parameters an attacker tries: algorithms (``none`` in any case, confusion),
#: key ids, critical extensions, unencoded payloads, key URLs; plus anything.
_HEADER_VALUES: Final = {
    "alg": st.sampled_from(
        ["none", "None", "NONE", "HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA", "PS256", ""]
    ) | json_values,
    "typ": st.sampled_from(["JWT", "at+jwt"]) | json_values,
    "kid": st.text(max_size=12) | json_values,
    "crit": st.lists(st.text(max_size=6), max_size=2) | json_values,
    "b64": st.booleans() | json_values,
    "jku": st.just("https://attacker.example/jwks.json") | json_values,
    "jwk": json_values,
    "x5c": json_values,
}

headers: Final = st.fixed_dictionaries({}, optional=_HEADER_VALUES) | json_values


def _date_values(valid: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    return valid | json_values


#: The claims of a valid access token at :data:`NOW`.
VALID_CLAIMS: Final[dict[str, Any]] = {
    "sub": "user-1", "type": "access", "iss": ISSUER, "aud": AUDIENCE,
    "exp": NOW + 600, "iat": NOW - 60, "scopes": ["read:profile"],
}

#: Per claim: values that are right, wrong or odd.
_CLAIM_VALUES: Final[dict[str, st.SearchStrategy[Any]]] = {
    "sub": st.text(max_size=12) | json_values,
    "type": st.sampled_from(["access", "refresh", "temp", "ACCESS"]) | json_values,
    "iss": st.sampled_from([ISSUER, ISSUER.upper(), ""]) | json_values,
    "aud": st.sampled_from([AUDIENCE, [AUDIENCE], ["other", AUDIENCE], "other"]) | json_values,
    "exp": _date_values(st.floats(min_value=NOW - 1_000, max_value=NOW + 1_000)),
    "nbf": _date_values(st.floats(min_value=NOW - 1_000, max_value=NOW + 1_000)),
    "iat": _date_values(st.floats(min_value=NOW - 10_000, max_value=NOW)),
    "scopes": st.lists(st.text(max_size=8), max_size=3) | json_values,
    "scope": st.text(max_size=20) | json_values,
    "email": st.emails() | json_values,
    "clientId": st.text(max_size=12) | json_values,
    "sid": st.text(max_size=12) | json_values,
}
_ABSENT: Final = object()


@st.composite
def _claims(draw: st.DrawFn) -> dict[str, Any]:
    """A valid payload with up to three claims changed or removed, and maybe extras."""
    claims = dict(VALID_CLAIMS)
    for name in draw(st.sets(st.sampled_from(sorted(_CLAIM_VALUES)), max_size=3)):
        value = draw(st.just(_ABSENT) | _CLAIM_VALUES[name])
        if value is _ABSENT:
            claims.pop(name, None)
        else:
            claims[name] = value
    claims.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return claims


#: Payloads that look like access tokens (each claim right, wrong, absent or odd), or
#: any JSON at all.
payloads: Final = st.one_of(_claims(), _claims(), _claims(), json_values)


def _encode_json(value: Any, compact: bool) -> bytes:
    separators = (",", ":") if compact else (", ", ": ")
    return json.dumps(value, separators=separators).encode()


# -- signing without the key --------------------------------------------------------------

_HASHES: Final = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def hmac_sign(signing_input: str, secret: bytes, alg: str = "HS256") -> str:
    """An HMAC JWS signature over ``signing_input`` with ``secret``."""
    digest = _HASHES.get(alg, hashlib.sha256)
    return b64url(hmac.new(secret, signing_input.encode("ascii"), digest).digest())


# -- mutations ----------------------------------------------------------------------------


@st.composite
def _segment_shuffle(draw: st.DrawFn) -> Mutation:
    kind = draw(st.sampled_from(["swap", "drop", "repeat", "extra", "empty", "join"]))
    first = draw(st.integers(0, 2))
    second = draw(st.integers(0, 2))
    extra = draw(st.text(alphabet=_B64URL, max_size=12))

    def apply(token: str) -> str:
        parts = token.split(".")
        i, j = first % len(parts), second % len(parts)
        if kind == "swap":
            parts[i], parts[j] = parts[j], parts[i]
        elif kind == "drop":
            del parts[i]
        elif kind == "repeat":
            parts.insert(i, parts[i])
        elif kind == "extra":
            parts.insert(i, extra)
        elif kind == "empty":
            parts[i] = ""
        else:
            return "".join(parts)
        return ".".join(parts)

    return apply


@st.composite
def _base64_tweak(draw: st.DrawFn) -> Mutation:
    kind = draw(st.sampled_from(["replace", "delete", "insert", "pad", "truncate", "case"]))
    segment = draw(st.integers(0, 2))
    where = draw(st.integers(0, 10_000))
    char = draw(st.sampled_from(_TWEAK_CHARS))
    padding = draw(st.sampled_from(["=", "==", "==="]))

    def apply(token: str) -> str:
        parts = token.split(".")
        i = segment % len(parts)
        text = parts[i]
        at = where % (len(text) + 1)
        if kind == "replace" and text:
            at = min(at, len(text) - 1)
            text = text[:at] + char + text[at + 1:]
        elif kind == "delete" and text:
            text = text[:at] + text[at + 1:]
        elif kind == "insert":
            text = text[:at] + char + text[at:]
        elif kind == "pad":
            text += padding
        elif kind == "truncate":
            text = text[:at]
        elif kind == "case":
            text = text.swapcase()
        parts[i] = text
        return ".".join(parts)

    return apply


@st.composite
def _replace_content(draw: st.DrawFn, public_secret: bytes | None) -> Mutation:
    """Header and/or payload replaced, then signed however an attacker can."""
    new_header = draw(st.none() | headers)
    new_payload = draw(st.none() | payloads)
    compact = draw(st.booleans())
    signing = draw(st.sampled_from(["keep", "none", "own_key", "public_key", "empty"]))
    own_secret = draw(st.binary(min_size=1, max_size=40))
    alg = draw(st.sampled_from(["HS256", "HS384", "HS512"]))

    def apply(token: str) -> str:
        parts = token.split(".")
        if len(parts) < 3:
            parts += [""] * (3 - len(parts))
        if new_header is not None:
            parts[0] = b64url(_encode_json(new_header, compact))
        if new_payload is not None:
            parts[1] = b64url(_encode_json(new_payload, compact))
        signing_input = f"{parts[0]}.{parts[1]}"
        if signing in ("none", "empty"):
            parts[2] = ""
        elif signing == "own_key":
            parts[2] = hmac_sign(signing_input, own_secret, alg)
        elif signing == "public_key" and public_secret is not None:
            parts[2] = hmac_sign(signing_input, public_secret, alg)
        return ".".join(parts)

    return apply


def mutations(public_secret: bytes | None = None) -> st.SearchStrategy[list[Mutation]]:
    """One to three mutations, applied in order; ``public_secret`` is the verifier's
    public key (PEM bytes), for HMAC signatures made with it."""
    one = _segment_shuffle() | _base64_tweak() | _replace_content(public_secret)
    return st.lists(one, min_size=1, max_size=3)


def mutate(token: str, steps: list[Mutation]) -> str:
    """``token`` after ``steps``."""
    for step in steps:
        token = step(token)
    return token


#: Arbitrary things passed as a token: text, bytes, compact-looking junk.
arbitrary_tokens: Final = (
    st.text(max_size=200)
    | st.binary(max_size=200)
    | st.lists(st.text(alphabet=_TWEAK_CHARS, max_size=40), min_size=1, max_size=5).map(".".join)
    | st.text(alphabet=_B64URL + ".", min_size=8_180, max_size=8_200)
)


def is_date(value: object) -> bool:
    """A JSON number a verifier reads as a NumericDate (finite, within 2**53)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and -(2**53) <= value <= 2**53  # False for NaN and the infinities
    )
