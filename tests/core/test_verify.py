"""Token verification: the hostile vectors, the algorithm allow-lists, claims and settings.

Every refusal is ``valid=False`` with an error word from ``ERROR_WORDS`` and never an
exception. The vectors live in tests/vectors/tokens.json; the tests here that build
tokens at run time cover what data cannot (fresh keys, clocks that move, servers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, OKPKey, RSAKey

from services import KeyServer
from tekcify_auth import (
    ConfigurationError,
    TokenVerifier,
    VerifiedToken,
    decode_token,
    verify_access_token,
)
from tekcify_auth._config import MAX_TOKEN_LENGTH
from tekcify_auth._verify import ERROR_WORDS
from tekcify_auth.testing import SigningKey, mint_access_token
from vectors import NOW, Clock, Vector, load_vectors, public_pem, verifier_options
from vectors.generate import build

VECTORS = load_vectors()
SECRET = "unit-test-secret-0123456789abcdef-0123"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs_token(claims: dict[str, Any], secret: bytes, alg: str = "HS256",
             header: dict[str, Any] | None = None) -> str:
    """An HMAC token made by hand, keyed with any bytes (a PEM included)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    head = b64(json.dumps({"alg": alg, "typ": "JWT", **(header or {})}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), digest).digest()
    return f"{head}.{body}.{b64(sig)}"


def access_claims(now: float = NOW, **changes: Any) -> dict[str, Any]:
    claims = {"iss": "tekcify-auth", "aud": "tekcify-api", "sub": "user-1", "type": "access",
              "scopes": ["read:profile"], "iat": int(now), "exp": int(now) + 900}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def at(now: float) -> Callable[[], float]:
    return lambda: now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def vector(id_: str) -> Vector:
    return next(v for v in VECTORS if v.id == id_)


def vectors_starting(prefix: str) -> list[Vector]:
    found = [v for v in VECTORS if v.id.startswith(prefix)]
    assert found, prefix
    return found


def verifier_for(v: Vector, **options: Any) -> TokenVerifier:
    return TokenVerifier(**verifier_options(v.verifier), clock=at(NOW), **options)


def assert_refused(result: VerifiedToken, error: str) -> None:
    assert result == VerifiedToken({}, False, error)
    assert not result
    assert error in ERROR_WORDS


def check(id_: str) -> None:
    """The vector gives its error word, fresh and again (after any caching)."""
    v = vector(id_)
    verifier = verifier_for(v)
    for _ in range(2):
        result = verifier.verify(v.token)
        assert result.error == v.error, v.why
        assert result.valid is (v.error is None)


# -- the data files ----------------------------------------------------------------------


@pytest.mark.parametrize("v", VECTORS, ids=str)
def test_vector(v: Vector) -> None:
    for options in ({}, {"cache": False}):
        verifier = verifier_for(v, **options)
        for _ in range(2):
            result = verifier.verify(v.token)
            if v.error is None:
                assert result.valid, v.why
                assert result.error is None
                assert result.payload["sub"] == "8d5e9a52-user-0001"
            else:
                assert_refused(result, v.error)


@pytest.mark.parametrize("v", VECTORS[::7], ids=str)
async def test_vector_through_averify(v: Vector) -> None:
    result = await verifier_for(v).averify(v.token)
    assert result.error == v.error


def test_vectors_file_is_what_the_generator_writes() -> None:
    from vectors import HERE

    assert (HERE / "tokens.json").read_text(encoding="utf-8") == build()


def test_vector_ids_are_unique_and_words_declared() -> None:
    ids = [v.id for v in VECTORS]
    assert len(ids) == len(set(ids))
    words = {v.error for v in VECTORS} - {None}
    assert words <= ERROR_WORDS
    # Everything a verifier with one configured key can say is exercised by some vector
    # (unknown_key and jwks_unavailable come from the JWKS verifier only; wrong_client
    # from verify_access_token's clients=, tests/core/test_verify_clients.py).
    assert ERROR_WORDS - words <= {"unknown_key", "jwks_unavailable", "wrong_client"}


# -- alg "none" and algorithm confusion ---------------------------------------------------


def test_alg_none_in_any_casing_is_refused() -> None:
    for v in vectors_starting("alg-n"):
        check(v.id)
    for casing in ("none", "None", "NONE", "nOnE"):
        head = b64(json.dumps({"alg": casing}).encode())
        token = f"{head}.{b64(json.dumps(access_claims()).encode())}."
        assert_refused(verify_access_token(token, secret=SECRET), "algorithm_not_allowed")


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "ES384", "EdDSA"])
def test_hmac_keyed_with_the_public_key_is_refused(algorithm: str) -> None:
    """RFC 8725 §2.1: HS256 signed with the verifier's own public key as the secret."""
    key = SigningKey.generate(algorithm)
    forms = [key.public_pem(), key.public_pem().rstrip(b"\n"),
             json.dumps(key.public_jwk()).encode()]
    for secret in forms:
        for hs in ("HS256", "HS384", "HS512"):
            token = hs_token(access_claims(now=_now()), secret, hs)
            for configured in (key.public_pem(), key.public_pem().decode(), key.public_jwk()):
                result = verify_access_token(token, key=configured)
                assert_refused(result, "algorithm_not_allowed")
    for v in vectors_starting("confusion-"):
        check(v.id)


def test_wrong_secret_is_a_bad_signature() -> None:
    token = mint_access_token("user-1", secret=SECRET)
    assert_refused(verify_access_token(token, secret=SECRET + "x"), "bad_signature")
    check("wrong-secret")
    check("wrong-rsa-key")


def test_tampered_header_payload_or_signature() -> None:
    for v in vectors_starting("tampered-"):
        check(v.id)
    token = mint_access_token("user-1", secret=SECRET, scopes=["read"])
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["scopes"] = ["read", "admin"]
    forged = f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
    assert_refused(verify_access_token(forged, secret=SECRET), "bad_signature")


def test_truncated_and_wrong_segment_counts_are_malformed() -> None:
    for id_ in ("truncated-half", "truncated-in-signature", "one-segment", "two-segments",
                "four-segments", "five-segments-jwe", "only-dots", "empty"):
        check(id_)
    token = mint_access_token("user-1", secret=SECRET)
    for cut in range(0, len(token), 7):
        result = verify_access_token(token[:cut], secret=SECRET)
        assert not result.valid
        assert result.error in {"malformed", "bad_signature"}


def test_bad_base64url_is_malformed() -> None:
    for id_ in ("padding-in-header", "padding-in-payload", "padding-in-signature",
                "standard-alphabet-signature", "non-alphabet-in-signature",
                "non-alphabet-in-payload", "space-in-payload", "non-canonical-signature-tail"):
        check(id_)


def test_payload_that_is_not_a_json_object_is_malformed() -> None:
    for v in vectors_starting("payload-"):
        check(v.id)
    for v in vectors_starting("header-"):
        check(v.id)


def test_exp_missing_past_or_not_a_number() -> None:
    for v in vectors_starting("exp-"):
        check(v.id)
    for exp in ("1750000900", True, None, [1], {"at": 1}, float("inf"), float("nan")):
        token = hs_token(access_claims(exp=exp), SECRET.encode())
        result = TokenVerifier(secret=SECRET, clock=at(NOW)).verify(token)
        assert_refused(result, "missing_exp" if exp is None else "malformed")


def test_future_nbf_is_not_yet_valid() -> None:
    check("nbf-future")
    check("valid-nbf-now")
    check("nbf-string")


def test_wrong_issuer_or_audience() -> None:
    for v in vectors_starting("iss-") + vectors_starting("aud-"):
        check(v.id)
    check("valid-aud-list-with-ours")
    token = mint_access_token("user-1", secret=SECRET, issuer="partner", audience="their-api")
    assert_refused(verify_access_token(token, secret=SECRET), "wrong_issuer")
    assert_refused(verify_access_token(token, secret=SECRET, issuer="partner"), "wrong_audience")
    assert verify_access_token(token, secret=SECRET, issuer="partner", audience="their-api")
    assert verify_access_token(token, secret=SECRET, issuer=None, audience=None)


def test_audience_list_must_contain_ours() -> None:
    ours = mint_access_token("u", secret=SECRET, aud=["billing-api", "tekcify-api"])
    theirs = mint_access_token("u", secret=SECRET, aud=["billing-api", "orders-api"])
    assert verify_access_token(ours, secret=SECRET).valid
    assert_refused(verify_access_token(theirs, secret=SECRET), "wrong_audience")


@pytest.mark.parametrize("token_type", ["refresh", "temp", None, "ACCESS", ""])
def test_only_access_tokens_are_accepted(token_type: str | None) -> None:
    token = mint_access_token("user-1", secret=SECRET, type=token_type)
    assert_refused(verify_access_token(token, secret=SECRET), "wrong_type")


def test_sub_and_scopes_of_the_wrong_shape_are_malformed() -> None:
    for id_ in ("sub-number", "scopes-string", "scopes-not-strings", "iat-string"):
        check(id_)


# -- headers: keys offered by the token, crit, b64 -----------------------------------------


@pytest.fixture
def attacker() -> SigningKey:
    return SigningKey.generate("ES256", kid="ours")  # our kid, another key


@pytest.fixture
def attacker_server(attacker: SigningKey) -> Iterator[KeyServer]:
    server = KeyServer(json.dumps(attacker.jwks()).encode())
    try:
        yield server
    finally:
        server.stop()


def test_jku_x5u_and_jwk_headers_are_never_fetched_nor_trusted(
    attacker: SigningKey, attacker_server: KeyServer
) -> None:
    ours = SigningKey.generate("ES256", kid="ours")
    verifier = TokenVerifier(key=ours.public_jwk())
    url = attacker_server.url
    headers: list[dict[str, Any]] = [
        {"jku": url + "/jwks.json"},
        {"x5u": url + "/cert.pem"},
        {"jwk": attacker.public_jwk()},
        {"jku": url + "/jwks.json", "jwk": attacker.public_jwk(), "x5u": url + "/cert.pem"},
    ]
    for header in headers:
        forged = attacker.mint("admin", header=header)
        assert_refused(verifier.verify(forged), "bad_signature")
        # Signed by our key the same headers change nothing: the configured key decides.
        assert verifier.verify(ours.mint("user-1", header=header)).valid
    assert attacker_server.requests == 0
    for id_ in ("jwk-header-attacker-rsa", "jwk-header-attacker-ed25519", "jku-header-attacker",
                "x5u-header-attacker", "jwk-header-not-an-object", "valid-jku-ignored"):
        check(id_)


def test_crit_with_an_unknown_extension_is_unsupported() -> None:
    for v in vectors_starting("crit-"):
        check(v.id)
    for header in ({"crit": ["exp"], "exp": 1}, {"crit": ["tekcify"], "tekcify": True}):
        token = hs_token(access_claims(now=_now()), SECRET.encode(), header=header)
        assert_refused(verify_access_token(token, secret=SECRET), "unsupported_header")


def test_unencoded_payload_b64_false_is_refused() -> None:
    check("b64-false")
    check("b64-false-without-crit")


def test_kid_must_be_a_string() -> None:
    check("kid-not-a-string")


# -- size, characters, types ----------------------------------------------------------------


def _token_of_length(length: int) -> str:
    """A correctly signed token exactly ``length`` characters long."""
    base = len(mint_access_token("u", secret=SECRET, pad=""))
    guess = (length - base) * 3 // 4
    for extra in range(guess - 8, guess + 8):
        for sub in ("u", "us", "use"):
            token = mint_access_token(sub, secret=SECRET, pad="x" * extra)
            if len(token) == length:
                return token
    raise AssertionError(length)


def test_size_limit_is_8_kib_and_checked_before_parsing() -> None:
    assert MAX_TOKEN_LENGTH == 8192
    at_limit = _token_of_length(MAX_TOKEN_LENGTH)
    over = _token_of_length(MAX_TOKEN_LENGTH + 1)
    assert verify_access_token(at_limit, secret=SECRET).valid
    assert verify_access_token(at_limit.encode(), secret=SECRET).valid
    assert_refused(verify_access_token(over, secret=SECRET), "too_large")
    assert_refused(verify_access_token(over.encode(), secret=SECRET), "too_large")
    # Not even valid text: still too_large, because size is the first thing looked at.
    assert_refused(verify_access_token("\x00" * 9000, secret=SECRET), "too_large")
    assert_refused(verify_access_token(b"\xff" * 9000, secret=SECRET), "too_large")
    for v in vectors_starting("too-large-"):
        check(v.id)


def test_non_ascii_str_and_bytes_are_malformed() -> None:
    for id_ in ("non-ascii-str", "fullwidth-letter", "zero-width-space", "nul-byte",
                "non-ascii-bytes", "latin1-bytes"):
        check(id_)
    check("valid-bytes-token")


@pytest.mark.parametrize("value", [None, 0, 12345, 1.5, True, ["a.b.c"], {"t": 1}, object(),
                                   bytearray(b"a.b.c"), memoryview(b"a.b.c")],
                         ids=lambda v: type(v).__name__)
async def test_non_string_input_is_malformed(value: Any) -> None:
    verifier = TokenVerifier(secret=SECRET)
    assert_refused(verifier.verify(value), "malformed")
    assert_refused(await verifier.averify(value), "malformed")
    assert_refused(verify_access_token(value, secret=SECRET), "malformed")
    assert decode_token(value) is None


def test_mutations_of_a_valid_token_never_raise_and_never_pass() -> None:
    token = mint_access_token("user-1", secret=SECRET, email="ada@example.com")
    verifier = TokenVerifier(secret=SECRET, cache=False)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ é\x00"
    rng = random.Random(2)
    for _ in range(3000):
        chars = list(token)
        for _ in range(rng.randint(1, 3)):
            at_ = rng.randrange(len(chars))
            action = rng.random()
            if action < 0.5:
                chars[at_] = rng.choice(alphabet)
            elif action < 0.75:
                del chars[at_]
            else:
                chars.insert(at_, rng.choice(alphabet))
        mutant = "".join(chars)
        result = verifier.verify(mutant)
        assert result.valid is (mutant == token)
        assert result.valid or result.error in ERROR_WORDS


# -- leeway and the clock ---------------------------------------------------------------------


def test_exp_boundary_without_leeway(clock: Any) -> None:
    token = mint_access_token("u", secret=SECRET, now=clock.now, expires_in=60)
    verifier = TokenVerifier(secret=SECRET, clock=clock, cache=False)
    clock.advance(59.999)
    assert verifier.verify(token).valid
    clock.advance(0.001)
    assert_refused(verifier.verify(token), "expired")


def test_leeway_extends_exp_and_nbf_by_exactly_its_seconds(clock: Any) -> None:
    exp_token = mint_access_token("u", secret=SECRET, now=clock.now, expires_in=60)
    nbf_token = mint_access_token("u", secret=SECRET, now=clock.now, nbf=int(clock.now) + 100)
    start = clock.now
    verifier = TokenVerifier(secret=SECRET, clock=clock, leeway=30)
    strict = TokenVerifier(secret=SECRET, clock=clock)

    clock.now = start + 89.5  # 29.5 s past exp
    assert verifier.verify(exp_token).valid
    assert_refused(strict.verify(exp_token), "expired")
    clock.now = start + 90
    assert_refused(verifier.verify(exp_token), "expired")

    clock.now = start + 69.5  # 30.5 s before nbf
    assert_refused(verifier.verify(nbf_token), "not_yet_valid")
    clock.now = start + 70
    assert verifier.verify(nbf_token).valid
    assert_refused(strict.verify(nbf_token), "not_yet_valid")
    clock.now = start + 100
    assert strict.verify(nbf_token).valid


def test_leeway_is_also_an_option_of_verify_access_token() -> None:
    expired = mint_access_token("u", secret=SECRET, expires_in=-5)
    assert_refused(verify_access_token(expired, secret=SECRET), "expired")
    assert verify_access_token(expired, secret=SECRET, leeway=60).valid


@pytest.mark.parametrize("leeway", [-1, float("nan"), float("inf"), "30", None, True])
def test_unusable_leeway_is_a_configuration_error(leeway: Any) -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(secret=SECRET, leeway=leeway)


# -- which algorithms each configuration admits ------------------------------------------------


def test_a_secret_admits_hs256_hs384_and_hs512_only() -> None:
    verifier = TokenVerifier(secret=SECRET)
    assert verifier.algorithms == {"HS256", "HS384", "HS512"}
    for alg in ("HS256", "HS384", "HS512"):
        token = mint_access_token("u", secret=SECRET, algorithm=alg)
        assert verifier.verify(token).valid, alg
    rsa_key = SigningKey.generate("RS256")
    assert_refused(verifier.verify(rsa_key.mint("u")), "algorithm_not_allowed")


@pytest.fixture(scope="module")
def rsa_private() -> RSAKey:
    return RSAKey.generate_key(2048)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_an_rsa_key_admits_rs_and_ps(rsa_private: RSAKey, alg: str) -> None:
    signer = SigningKey(rsa_private, alg, kid="k")
    verifier = TokenVerifier(key=signer.public_pem())
    assert verifier.algorithms == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    assert verifier.verify(signer.mint("u")).valid
    assert_refused(verifier.verify(mint_access_token("u", secret=SECRET)), "algorithm_not_allowed")


@pytest.mark.parametrize(("curve", "alg"), [("P-256", "ES256"), ("P-384", "ES384"),
                                            ("P-521", "ES512")])
def test_an_ec_key_admits_only_its_curves_algorithm(curve: str, alg: str) -> None:
    signer = SigningKey(ECKey.generate_key(curve), alg)
    verifier = TokenVerifier(key=signer.public_pem())
    assert verifier.algorithms == {alg}
    assert verifier.verify(signer.mint("u")).valid
    for other_curve, other_alg in (("P-256", "ES256"), ("P-384", "ES384"), ("P-521", "ES512")):
        if other_alg != alg:
            other = SigningKey(ECKey.generate_key(other_curve), other_alg)
            assert_refused(verifier.verify(other.mint("u")), "algorithm_not_allowed")


def test_an_ed25519_key_admits_eddsa() -> None:
    signer = SigningKey(OKPKey.generate_key("Ed25519"), "EdDSA")
    verifier = TokenVerifier(key=signer.public_pem())
    assert verifier.algorithms == {"EdDSA", "Ed25519"}
    assert verifier.verify(signer.mint("u")).valid
    assert_refused(verifier.verify(SigningKey.generate("ES256").mint("u")), "algorithm_not_allowed")


def test_every_key_form_is_accepted(rsa_private: RSAKey) -> None:
    signer = SigningKey(rsa_private, "RS256")
    token = signer.mint("u")
    public = serialization.load_pem_public_key(signer.public_pem())
    for key in (signer.public_pem(), signer.public_pem().decode(), signer.public_jwk(), public,
                rsa_private, RSAKey.import_key(signer.public_pem())):
        assert TokenVerifier(key=key).verify(token).valid, type(key)


def test_a_jwk_alg_pins_its_key_to_that_algorithm(rsa_private: RSAKey) -> None:
    jwk = {**SigningKey(rsa_private, "RS256").public_jwk(), "alg": "RS256"}
    verifier = TokenVerifier(key=jwk)
    assert verifier.algorithms == {"RS256"}
    assert verifier.verify(SigningKey(rsa_private, "RS256").mint("u")).valid
    assert_refused(verifier.verify(SigningKey(rsa_private, "PS256").mint("u")),
                   "algorithm_not_allowed")
    with pytest.raises(ConfigurationError):
        TokenVerifier(key={**jwk, "alg": "ES256"})
    with pytest.raises(ConfigurationError):
        TokenVerifier(key=jwk, algorithms=["PS256"])


def test_algorithms_narrows_what_a_configuration_admits(rsa_private: RSAKey) -> None:
    narrow = TokenVerifier(secret=SECRET, algorithms=["HS512"])
    assert narrow.algorithms == {"HS512"}
    assert narrow.verify(mint_access_token("u", secret=SECRET, algorithm="HS512")).valid
    assert_refused(narrow.verify(mint_access_token("u", secret=SECRET)), "algorithm_not_allowed")
    # One name as a string is that name, not its letters.
    assert TokenVerifier(secret=SECRET, algorithms="HS384").algorithms == {"HS384"}
    # Names the key cannot use are dropped from a list that still fits.
    mixed = TokenVerifier(secret=SECRET, algorithms=["HS256", "RS256", "none"])
    assert mixed.algorithms == {"HS256"}
    ps_only = TokenVerifier(key=SigningKey(rsa_private, "PS256").public_pem(), algorithms=["PS256"])
    assert_refused(ps_only.verify(SigningKey(rsa_private, "RS256").mint("u")),
                   "algorithm_not_allowed")
    token = mint_access_token("u", secret=SECRET)
    assert_refused(verify_access_token(token, secret=SECRET, algorithms=["HS384"]),
                   "algorithm_not_allowed")
    assert_refused(verify_access_token(token, secret=SECRET, algorithms="HS384"),
                   "algorithm_not_allowed")


@pytest.mark.parametrize(
    ("options", "algorithms"),
    [
        ({"secret": SECRET}, ["RS256"]),
        ({"secret": SECRET}, ["none"]),
        ({"secret": SECRET}, []),
        ({"secret": SECRET}, ["hs256"]),
        ({"key": "rsa"}, ["HS256"]),
        ({"key": "rsa"}, ["ES256", "EdDSA"]),
        ({"key": "ec"}, ["ES384"]),
        ({"key": "ec"}, ["RS256"]),
        ({"key": "ed"}, ["ES256"]),
    ],
)
def test_impossible_algorithm_lists_raise(options: dict[str, Any], algorithms: list[str]) -> None:
    if "key" in options:
        name = {"rsa": "rsa", "ec": "ec_p256", "ed": "ed25519"}[options["key"]]
        options = {"key": public_pem(name)}
    with pytest.raises(ConfigurationError):
        TokenVerifier(**options, algorithms=algorithms)
    with pytest.raises(ConfigurationError):
        verify_access_token("a.b.c", **options, algorithms=algorithms)


# -- secrets and keys that must not be accepted ----------------------------------------------


def test_a_secret_that_is_a_key_raises(rsa_private: RSAKey) -> None:
    public = rsa_private.as_pem(private=False)
    ssh = rsa_private.get_op_key("verify").public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    ec_public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    der = rsa_private.get_op_key("verify").public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    secrets = [public, public.decode(), rsa_private.as_pem(private=True), ssh, ssh.decode(),
               ec_public, der, public_pem("ed25519"), b"  " + public,
               "-----BEGIN PUBLIC KEY-----\nnot really a key\n-----END PUBLIC KEY-----\n",
               "ssh-ed25519 AAAAnot-a-key"]
    for secret in secrets:
        with pytest.raises(ConfigurationError):
            TokenVerifier(secret=secret)
        with pytest.raises(ConfigurationError):
            verify_access_token("a.b.c", secret=secret)


@pytest.mark.parametrize("secret", ["", b"", None, 123, ["s"], bytearray(b"secret")],
                         ids=repr)
def test_an_empty_or_unusable_secret_raises(secret: Any) -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(secret=secret) if secret is not None else TokenVerifier()
    with pytest.raises(ConfigurationError):
        verify_access_token("a.b.c", secret=secret)


def test_a_short_secret_is_accepted_without_a_warning() -> None:
    # JWT_ACCESS_SECRET is the deployment's choice, as in the Node package.
    token = mint_access_token("u", secret="change-me")
    assert verify_access_token(token, secret="change-me").valid


@pytest.mark.parametrize(
    "key",
    [
        {"kty": "oct", "k": "c2VjcmV0"},
        {"kty": "RSA"},
        "not a pem",
        b"",
        42,
        "x25519",
        "secp256k1",
        "secp192r1",
        "enc",
    ],
)
def test_unusable_keys_raise(key: Any, rsa_private: RSAKey) -> None:
    from cryptography.hazmat.primitives.asymmetric import x25519

    made: Any = key
    if key == "x25519":
        made = x25519.X25519PrivateKey.generate().public_key()
    elif key in ("secp256k1", "secp192r1"):
        curve = ec.SECP256K1() if key == "secp256k1" else ec.SECP192R1()
        made = ec.generate_private_key(curve).public_key()
    elif key == "enc":
        made = {**SigningKey(rsa_private, "RS256").public_jwk(), "use": "enc"}
    with pytest.raises(ConfigurationError):
        TokenVerifier(key=made)


def test_secret_and_key_are_exclusive(rsa_private: RSAKey) -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(secret=SECRET, key=rsa_private)
    with pytest.raises(ConfigurationError):
        TokenVerifier()
    with pytest.raises(ConfigurationError):
        verify_access_token("a.b.c")


@pytest.mark.parametrize("name", ["issuer", "audience"])
def test_issuer_and_audience_must_be_strings(name: str) -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(secret=SECRET, **{name: ["tekcify-api"]})


# -- interop with PyJWT, a peer implementation ---------------------------------------------


def _now() -> int:
    import time

    return int(time.time())


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_pyjwt_hmac_tokens_verify(alg: str) -> None:
    secret = "s" * 64  # PyJWT warns below the hash's length (RFC 7518 §3.2)
    token = jwt.encode(access_claims(now=_now()), secret, algorithm=alg)
    result = verify_access_token(token, secret=secret)
    assert result.valid
    assert result.payload["sub"] == "user-1"
    # And the other way round: PyJWT accepts what we mint.
    ours = mint_access_token("user-2", secret=secret, algorithm=alg)
    decoded = jwt.decode(ours, secret, algorithms=[alg], audience="tekcify-api",
                         issuer="tekcify-auth")
    assert decoded["sub"] == "user-2"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES384", "EdDSA"])
def test_pyjwt_asymmetric_tokens_verify(alg: str, rsa_private: RSAKey) -> None:
    if alg.startswith(("RS", "PS")):
        private: Any = rsa_private.get_op_key("sign")
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "ES384":
        private = ec.generate_private_key(ec.SECP384R1())
    else:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        private = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode(access_claims(now=_now()), private, algorithm=alg,
                       headers={"kid": "k1"})
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert verify_access_token(token, key=public).valid
    assert verify_access_token(token, key=private.public_key()).valid


def test_pyjwt_token_with_a_list_audience_verifies() -> None:
    claims = access_claims(now=_now(), aud=["tekcify-api", "billing"], nbf=_now() - 1)
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert verify_access_token(token, secret=SECRET).valid


# -- decode_token -----------------------------------------------------------------------------


def test_decode_token_reads_without_verifying() -> None:
    token = mint_access_token("user-1", secret=SECRET, expires_in=-100)
    assert decode_token(token)["sub"] == "user-1"  # type: ignore[index]
    assert decode_token(token.encode())["sub"] == "user-1"  # type: ignore[index]
    assert decode_token(vector("wrong-secret").token)["sub"] == "8d5e9a52-user-0001"  # type: ignore[index]
    for bad in ("", "a.b.c", "x" * 9000, vector("payload-array").token, b"\xff.\xfe.x"):
        assert decode_token(bad) is None


def test_error_words_are_short_machine_words() -> None:
    for word in ERROR_WORDS:
        assert word.isascii()
        assert word == word.lower()
        assert " " not in word

