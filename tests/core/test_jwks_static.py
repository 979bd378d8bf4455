"""``jwks=`` with the JWKS a user has in hand: a dict, its JSON (str or bytes), a joserfc
``KeySet``, or a ``JwksVerifier`` as before.

A static document is read once and never fetched, under the rules of ``JwksVerifier``:
asymmetric algorithms only, a JWK's own ``alg`` pins it, an unknown ``kid`` is
``unknown_key``, and ``jku`` / ``x5u`` / ``jwk`` headers are never followed (a loopback
server stands behind them and must count no request). Anything else is a
``ConfigurationError`` at once. The guards' forms are in tests/integrations/test_jwks_guards.py.
"""

from __future__ import annotations

import base64
import copy
import doctest
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet, OctKey

import tekcify_auth._jwks
import tekcify_auth.testing
from services import JWKS_FORMS, KeyServer, jwks_in_form
from tekcify_auth import ConfigurationError, JwksVerifier, VerifiedToken, verify_access_token
from tekcify_auth import _verify as verify_module
from tekcify_auth._jwks import StaticJwksVerifier, jwks_verifier
from tekcify_auth._verify import ERROR_WORDS
from tekcify_auth.testing import SigningKey

WRONG_TYPE = (
    "jwks= takes a JwksVerifier, a JWKS document (dict with 'keys', or its JSON) or a "
    "joserfc KeySet; got "
)


@pytest.fixture(scope="module")
def rsa() -> SigningKey:
    return SigningKey.generate("RS256", kid="rsa-1")


@pytest.fixture(scope="module")
def ec() -> SigningKey:
    return SigningKey.generate("ES256", kid="ec-1")


@pytest.fixture(scope="module")
def attacker() -> SigningKey:
    """Another RSA key that claims our RSA key's kid."""
    return SigningKey.generate("RS256", kid="rsa-1")


@pytest.fixture
def document(rsa: SigningKey, ec: SigningKey) -> dict[str, Any]:
    return rsa.jwks(ec)


@pytest.fixture
def jwks_host(document: dict[str, Any]) -> Iterator[KeyServer]:
    """Our JWKS endpoint, for the JwksVerifier form."""
    server = KeyServer(json.dumps(document).encode())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def attacker_host(attacker: SigningKey) -> Iterator[KeyServer]:
    """The attacker's server that jku / x5u headers point to; it must see no request."""
    server = KeyServer(json.dumps(attacker.jwks()).encode())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=JWKS_FORMS)
def jwks(request: pytest.FixtureRequest, document: dict[str, Any], jwks_host: KeyServer) -> Any:
    """The same JWKS (our RSA and EC keys) in each accepted form."""
    return jwks_in_form(request.param, document, jwks_host)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(key: SigningKey | None = None) -> dict[str, Any]:
    """Valid claims, taken from a freshly minted token."""
    token = (key or SigningKey.generate("ES256")).mint("admin", scopes=["admin"])
    payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return payload


def unsigned(alg: str, kid: str = "rsa-1") -> str:
    head = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    return f"{head}.{b64(json.dumps(claims()).encode())}."


def hs256_keyed_with(secret: bytes, kid: str = "rsa-1") -> str:
    """HS256 by hand, keyed with any bytes: joserfc rightly refuses a public key as one."""
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims()).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def assert_refused(result: VerifiedToken, error: str) -> None:
    assert result == VerifiedToken({}, False, error)
    assert error in ERROR_WORDS


def verify(token: str, jwks: Any, **options: Any) -> VerifiedToken:
    """verify_access_token twice: the second answer may come from a cache, and must agree."""
    first = verify_access_token(token, jwks=jwks, **options)
    assert verify_access_token(token, jwks=jwks, **options) == first
    return first


# -- positive controls ---------------------------------------------------------------------


def test_each_form_verifies_tokens_of_each_key(
    jwks: Any, rsa: SigningKey, ec: SigningKey, jwks_host: KeyServer
) -> None:
    for key in (rsa, ec):
        result = verify(key.mint("user-1", scopes=["read"]), jwks)
        assert result.valid, result
        assert result.payload["sub"] == "user-1"
    if isinstance(jwks, JwksVerifier):
        assert jwks_host.requests == 1
    else:
        assert jwks_host.requests == 0  # a document in hand is never fetched


def test_the_testing_kit_jwks_is_accepted_as_it_is(rsa: SigningKey, ec: SigningKey) -> None:
    assert verify_access_token(ec.mint("user-1"), jwks=ec.jwks()).valid
    assert verify_access_token(rsa.mint("user-1"), jwks=rsa.jwks(ec)).valid


def test_issuer_audience_and_algorithms_apply_to_a_document(
    document: dict[str, Any], rsa: SigningKey, ec: SigningKey
) -> None:
    assert_refused(verify(rsa.mint("u", audience="other-api"), document), "wrong_audience")
    assert verify(rsa.mint("u", audience="other-api"), document, audience="other-api").valid
    assert_refused(verify(rsa.mint("u", issuer="someone"), document), "wrong_issuer")
    assert_refused(verify(rsa.mint("u"), document, algorithms=["ES256"]),
                   "algorithm_not_allowed")
    assert verify(ec.mint("u"), document, algorithms=["ES256"]).valid


# -- hostile tokens ------------------------------------------------------------------------


def test_alg_none_is_refused(jwks: Any) -> None:
    for alg in ("none", "None", "NONE", "nOnE"):
        assert_refused(verify(unsigned(alg), jwks), "algorithm_not_allowed")


def test_hs256_keyed_with_the_public_key_is_refused(jwks: Any, rsa: SigningKey) -> None:
    public_jwk = rsa.public_jwk()
    secrets = [
        rsa.public_pem(),
        json.dumps(public_jwk).encode(),
        json.dumps(public_jwk, separators=(",", ":"), sort_keys=True).encode(),
        base64.urlsafe_b64decode(public_jwk["n"] + "=="),
    ]
    for secret in secrets:
        assert_refused(verify(hs256_keyed_with(secret), jwks), "algorithm_not_allowed")


def test_an_attacker_key_with_our_kid_is_refused(
    jwks: Any, attacker: SigningKey
) -> None:
    assert_refused(verify(attacker.mint("admin", scopes=["admin"]), jwks), "bad_signature")
    # An EC key under our RSA key's kid: the JWK's alg (RS256) pins it.
    impostor = SigningKey.generate("ES256", kid="rsa-1")
    assert_refused(verify(impostor.mint("admin"), jwks), "algorithm_not_allowed")


def test_an_unknown_kid_is_unknown_key(jwks: Any, rsa: SigningKey) -> None:
    stranger = SigningKey.generate("RS256", kid="nobody")
    assert_refused(verify(stranger.mint("admin"), jwks), "unknown_key")
    # Our own key under another kid is not looked for among the others.
    assert_refused(verify(rsa.mint("u", header={"kid": "nobody"}), jwks), "unknown_key")
    # Two keys and no kid: no key is guessed.
    no_kid = jws.serialize_compact(
        {"alg": "RS256"}, json.dumps(claims()), rsa.key, algorithms=["RS256"]
    )
    assert_refused(verify(no_kid, jwks), "unknown_key")


def test_jku_x5u_and_embedded_jwk_are_never_followed(
    jwks: Any, rsa: SigningKey, ec: SigningKey, attacker: SigningKey, attacker_host: KeyServer
) -> None:
    # EC keys, whose JWK fits in a header: one claims our EC key's kid, one a kid of its own.
    impostor = SigningKey.generate("ES256", kid="ec-1")
    stranger = SigningKey.generate("ES256", kid="attacker-kid")
    url = attacker_host.url
    pointers: list[dict[str, Any]] = [
        {"jku": url + "/jwks.json"},
        {"x5u": url + "/cert.pem"},
        {"jku": url + "/jwks.json", "x5u": url + "/cert.pem"},
    ]
    for header in pointers:
        assert_refused(verify(attacker.mint("admin", header=header), jwks), "bad_signature")
    for header in [{}, *pointers]:
        for forger, error in ((impostor, "bad_signature"), (stranger, "unknown_key")):
            forged = forger.mint("admin", header={**header, "jwk": forger.public_jwk()})
            assert_refused(verify(forged, jwks), error)
        # Signed by our keys, the same headers change nothing: the document decides.
        assert verify(rsa.mint("user-1", header=header), jwks).valid
        assert verify(ec.mint("user-1", header={**header, "jwk": ec.public_jwk()}), jwks).valid
    assert attacker_host.requests == 0


def test_an_oct_entry_beside_usable_keys_is_never_an_hmac_secret(rsa: SigningKey) -> None:
    secret = b"a-shared-secret-that-must-never-verify"
    oct_entry = {**OctKey.import_key(secret).as_dict(private=True), "kid": "shared",
                 "alg": "HS256"}
    document = {"keys": [oct_entry, rsa.public_jwk()]}
    assert_refused(verify(hs256_keyed_with(secret, kid="shared"), document),
                   "algorithm_not_allowed")
    assert verify(rsa.mint("u"), document).valid


# -- wrong types fail at once ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, WRONG_TYPE + "int"),
        (3.5, WRONG_TYPE + "float"),
        ([{"kty": "RSA"}], WRONG_TYPE + "list"),
        ({}, 'a document without a "keys" list'),
        ({"kid": "x", "kty": "RSA"}, 'a document without a "keys" list'),
        ({"keys": "not a list"}, 'a document without a "keys" list'),
        ('{"keys": [', "got a str that is not JSON"),
        (b"\xff\xfe", "got a bytes that is not JSON"),
        ("[]", 'a document without a "keys" list'),
        ({"keys": []}, "holds no usable signature key"),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "alg": "HS256"}]},
         "holds no usable signature key"),
        (KeySet([OctKey.generate_key(256)]), "holds no usable signature key"),
        ({"keys": [{"kty": "RSA", "n": "AQAB", "e": {"bad": 1}}, object()]},
         "not plain JSON data"),
    ],
    ids=["int", "float", "list", "empty-dict", "a-jwk-not-a-jwks", "keys-not-a-list",
         "malformed-json", "malformed-bytes", "json-array", "no-keys", "oct-only",
         "keyset-oct-only", "not-json-data"],
)
def test_anything_else_is_a_configuration_error_at_once(value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^jwks= ") as raised:
        verify_access_token("not even a token", jwks=value)  # type: ignore[arg-type]
    assert message in str(raised.value)
    with pytest.raises(ConfigurationError) as built:
        jwks_verifier(value)  # type: ignore[arg-type]
    assert message in str(built.value)


def test_jwks_with_a_secret_or_key_is_a_configuration_error(
    document: dict[str, Any], rsa: SigningKey
) -> None:
    with pytest.raises(ConfigurationError, match="only one of"):
        verify_access_token(rsa.mint("u"), jwks=document, secret="s")
    with pytest.raises(ConfigurationError, match="only one of"):
        verify_access_token(rsa.mint("u"), jwks=document, key=rsa.public_jwk())


def test_a_token_verifier_is_not_a_jwks(rsa: SigningKey) -> None:
    from tekcify_auth import TokenVerifier

    with pytest.raises(ConfigurationError, match=re.escape(WRONG_TYPE + "TokenVerifier")):
        verify_access_token(rsa.mint("u"), jwks=TokenVerifier(secret="s"))  # type: ignore[arg-type]


# -- read once, and read again when changed ------------------------------------------------


@pytest.fixture
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Empty verify_access_token caches, and the list of documents parsed meanwhile."""
    monkeypatch.setattr(verify_module, "_verifiers", {})
    monkeypatch.setattr(verify_module, "_by_identity", {})
    parsed: list[object] = []
    real = tekcify_auth._jwks.key_set_of

    def counting(document: object, *args: Any) -> Any:
        parsed.append(document)
        return real(document, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(tekcify_auth._jwks, "key_set_of", counting)
    return parsed


def test_a_document_is_parsed_once_whatever_its_form(
    fresh_caches: list[object], document: dict[str, Any], rsa: SigningKey, jwks_host: KeyServer
) -> None:
    token = rsa.mint("u")
    for _ in range(3):
        assert verify_access_token(token, jwks=document).valid
        # An equal document built anew for each call shares the first one's verifier.
        assert verify_access_token(token, jwks=copy.deepcopy(document)).valid
        assert verify_access_token(token, jwks=json.dumps(document)).valid
        assert verify_access_token(token, jwks=json.dumps(document).encode()).valid
    assert len(fresh_caches) == 1
    keyset = KeySet.import_key_set(copy.deepcopy(document))  # type: ignore[arg-type]
    for _ in range(3):
        assert verify_access_token(token, jwks=keyset).valid
    assert len(fresh_caches) == 1  # its keys' public halves are the same document


def test_a_dict_changed_in_place_is_read_again(
    fresh_caches: list[object], rsa: SigningKey, ec: SigningKey, attacker: SigningKey
) -> None:
    document = rsa.jwks()
    rsa_token, ec_token = rsa.mint("u"), ec.mint("u")
    assert verify_access_token(rsa_token, jwks=document).valid
    assert_refused(verify_access_token(ec_token, jwks=document), "unknown_key")
    document["keys"].append(ec.public_jwk())  # the EC key is added
    assert verify_access_token(ec_token, jwks=document).valid
    document["keys"][0].update(attacker.public_jwk())  # our RSA key's kid, now another key
    assert_refused(verify_access_token(rsa_token, jwks=document), "bad_signature")
    assert verify_access_token(attacker.mint("u"), jwks=document).valid
    document["keys"] = [ec.public_jwk()]
    assert_refused(verify_access_token(rsa_token, jwks=document), "unknown_key")
    assert len(fresh_caches) == 4


def test_a_keyset_changed_in_place_is_read_again(
    fresh_caches: list[object], rsa: SigningKey, ec: SigningKey
) -> None:
    keyset = KeySet.import_key_set(rsa.jwks())  # type: ignore[arg-type]
    assert verify_access_token(rsa.mint("u"), jwks=keyset).valid
    assert_refused(verify_access_token(ec.mint("u"), jwks=keyset), "unknown_key")
    keyset.keys.append(KeySet.import_key_set(ec.jwks()).keys[0])  # type: ignore[arg-type]
    assert verify_access_token(ec.mint("u"), jwks=keyset).valid


def test_a_jwk_dict_key_is_read_once_and_again_when_changed(
    fresh_caches: list[object], monkeypatch: pytest.MonkeyPatch, rsa: SigningKey,
    attacker: SigningKey,
) -> None:
    built: list[object] = []
    real = verify_module.TokenVerifier

    def counting(**options: Any) -> Any:
        built.append(options)
        return real(**options)

    monkeypatch.setattr(verify_module, "TokenVerifier", counting)
    jwk = rsa.public_jwk()
    token = rsa.mint("u")
    for _ in range(3):
        assert verify_access_token(token, key=jwk).valid
    assert len(built) == 1
    jwk.update(attacker.public_jwk())
    assert_refused(verify_access_token(token, key=jwk), "bad_signature")
    assert len(built) == 2
    # A joserfc key object is known by identity, and is built into a verifier once.
    key_object = KeySet.import_key_set(rsa.jwks()).keys[0]  # type: ignore[arg-type]
    for _ in range(3):
        assert verify_access_token(token, key=key_object).valid
    assert len(built) == 3


def test_a_static_verifier_keeps_its_own_copy(rsa: SigningKey, ec: SigningKey) -> None:
    document = rsa.jwks()
    verifier = StaticJwksVerifier(document)
    document["keys"] = [ec.public_jwk()]
    assert verifier.verify(rsa.mint("u")).valid
    assert jwks_verifier(verifier) is verifier
    jwks = JwksVerifier("https://auth.example.com/api/.well-known/jwks.json")
    assert jwks_verifier(jwks) is jwks


async def test_averify_of_a_static_verifier(rsa: SigningKey) -> None:
    verifier = StaticJwksVerifier(rsa.jwks(), cache=False)
    assert (await verifier.averify(rsa.mint("u"))).valid
    assert_refused(await verifier.averify(unsigned("none")), "algorithm_not_allowed")


def test_docstring_examples() -> None:
    assert doctest.testmod(tekcify_auth._jwks).failed == 0
    assert doctest.testmod(verify_module).failed == 0
    assert doctest.testmod(tekcify_auth.testing).failed == 0
