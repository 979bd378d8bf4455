"""Write tokens.json: the hostile-token vectors, from keys.json and the fixed time NOW.

Every signature here is deterministic (HMAC, RSASSA-PKCS1-v1_5, Ed25519, and ECDSA with
RFC 6979 nonces), so running this twice gives the same bytes; ``build()`` is what the
test compares the committed file with. Tokens are assembled by hand, not by a JOSE
library, so that each can be wrong in exactly one way.

    python tests/vectors/generate.py
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

sys.path.insert(0, str(Path(__file__).parent.parent))

from vectors import HERE, NOW, keys, private_key, public_pem

MALFORMED = "malformed"
NOT_ALLOWED = "algorithm_not_allowed"
BAD_SIGNATURE = "bad_signature"
UNSUPPORTED = "unsupported_header"
_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def enc(part: Any) -> str:
    """A segment: raw bytes as they are, anything else as compact JSON."""
    if isinstance(part, bytes):
        return b64(part)
    return b64(json.dumps(part, separators=(",", ":")).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """A Tekcify access token's claims at NOW; a change to ``None`` drops that claim."""
    body: dict[str, Any] = {
        "iss": "tekcify-auth", "aud": "tekcify-api", "sub": "8d5e9a52-user-0001",
        "type": "access", "scopes": ["read:profile"], "email": "ada@example.com",
        "role": "user", "jti": "vector-jti-0001", "iat": NOW - 60, "exp": NOW + 840,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def hs(payload: Any, *, alg: str = "HS256", secret: bytes | None = None,
       header: Any = None) -> str:
    """An HMAC-signed token; ``secret`` defaults to the vectors' HS secret."""
    key = keys()["hs_secret"].encode() if secret is None else secret
    head = {"alg": alg, "typ": "JWT"} if header is None else header
    signing_input = f"{enc(head)}.{enc(payload)}"
    digest = hmac.new(key, signing_input.encode(), _HASHES[alg[-3:]]).digest()
    return f"{signing_input}.{b64(digest)}"


def signed(key_name: str, alg: str, payload: Any, header: dict[str, Any] | None = None) -> str:
    """A token signed with a private key of keys.json (RS*, ES*, EdDSA/Ed25519)."""
    key = private_key(key_name)
    head = {"alg": alg, "typ": "JWT", **(header or {})}
    signing_input = f"{enc(head)}.{enc(payload)}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
        sig = key.sign(signing_input, padding.PKCS1v15(), digest[alg[-3:]])
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        der = key.sign(signing_input, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        sig = key.sign(signing_input)
    else:
        raise TypeError(key_name)
    return f"{signing_input.decode()}.{b64(sig)}"


def public_jwk(key_name: str) -> dict[str, Any]:
    """The public JWK of an RSA or Ed25519 key of keys.json (for the ``jwk`` header)."""
    public = private_key(key_name).public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"kty": "RSA", "e": b64(numbers.e.to_bytes(3, "big")),
                "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))}
    assert isinstance(public, ed25519.Ed25519PublicKey)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}


def replace_segment(token: str, index: int, value: str) -> str:
    parts = token.split(".")
    parts[index] = value
    return ".".join(parts)


def flip(segment: str, at: int) -> str:
    """``segment`` with one base64url character changed (away from the canonical tail)."""
    char = "A" if segment[at] != "A" else "B"
    return segment[:at] + char + segment[at + 1:]


def vectors() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(id_: str, verifier: str, token: str | bytes, error: str | None, why: str) -> None:
        entry: dict[str, Any] = {"id": id_, "verifier": verifier}
        if isinstance(token, bytes):
            entry["token_hex"] = token.hex()
        else:
            entry["token"] = token
        entry.update({"error": error, "why": why})
        out.append(entry)

    good = hs(claims())
    h, p, s = good.split(".")
    rsa_good = signed("rsa", "RS256", claims())

    # -- honest tokens: the verifiers are not simply refusing everything ----------------
    add("valid-hs256", "hs", good, None, "the Tekcify default: HS256 with JWT_ACCESS_SECRET")
    add("valid-hs384", "hs", hs(claims(), alg="HS384"), None, "a shared secret admits HS384")
    add("valid-hs512", "hs", hs(claims(), alg="HS512"), None, "a shared secret admits HS512")
    add("valid-rs256", "rsa", rsa_good, None, "RS256 with the server's public key")
    add("valid-rs512", "rsa", signed("rsa", "RS512", claims()), None, "any RS* for an RSA key")
    add("valid-es256", "ec", signed("ec_p256", "ES256", claims()), None, "ES256 for P-256")
    add("valid-eddsa", "ed25519", signed("ed25519", "EdDSA", claims()), None, "EdDSA, Ed25519")
    add("valid-ed25519-alg-name", "ed25519", signed("ed25519", "Ed25519", claims()), None,
        "RFC 9864's fully specified name for the same algorithm")
    add("valid-bytes-token", "hs", good.encode(), None, "an ASCII bytes token is accepted")
    add("valid-aud-list-with-ours", "hs", hs(claims(aud=["other-api", "tekcify-api"])), None,
        "RFC 7519 §4.1.3: aud may be a list; ours is in it")
    add("valid-nbf-now", "hs", hs(claims(nbf=NOW)), None, "nbf equal to now is already valid")
    add("valid-exp-float", "hs", hs(claims(exp=NOW + 0.5)), None, "a NumericDate may be a float")
    add("valid-jku-ignored", "rsa",
        signed("rsa", "RS256", claims(), {"jku": "https://attacker.example/jwks.json"}), None,
        "a jku header is never fetched: the configured key still decides")

    # -- alg "none" in every casing: never, whatever the verifier ------------------------
    for alg in ("none", "None", "NONE", "nOnE"):
        unsigned = f"{enc({'alg': alg, 'typ': 'JWT'})}.{p}."
        add(f"alg-{alg}-hs", "hs", unsigned, NOT_ALLOWED, "an unsigned token (RFC 8725 §2.1)")
        add(f"alg-{alg}-rsa", "rsa", unsigned, NOT_ALLOWED, "an unsigned token, key verifier")
    add("alg-none-with-signature", "hs", f"{enc({'alg': 'none'})}.{p}.{s}", NOT_ALLOWED,
        "alg none with a signature segment left on")
    add("alg-missing", "hs", f"{enc({'typ': 'JWT'})}.{p}.{s}", MALFORMED, "no alg at all")
    add("alg-not-a-string", "hs", f"{enc({'alg': ['HS256']})}.{p}.{s}", MALFORMED,
        "alg as a list")
    add("alg-unknown", "hs", replace_segment(good, 0, enc({"alg": "HS1", "typ": "JWT"})),
        NOT_ALLOWED, "an algorithm nobody defined")

    # -- algorithm confusion: HMAC keyed with the public key (RFC 8725 §2.1) ------------
    rsa_pem = public_pem("rsa")
    confusions = {
        "pem": rsa_pem,
        "pem-no-final-newline": rsa_pem.rstrip(b"\n"),
        "der": private_key("rsa").public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        "jwk-json": json.dumps(public_jwk("rsa")).encode(),
    }
    for form, secret in confusions.items():
        add(f"confusion-hs256-rsa-{form}", "rsa", hs(claims(), secret=secret), NOT_ALLOWED,
            "HS256 keyed with the RSA public key, sent to a key-configured verifier")
    for alg in ("HS384", "HS512"):
        add(f"confusion-{alg.lower()}-rsa-pem", "rsa", hs(claims(), alg=alg, secret=rsa_pem),
            NOT_ALLOWED, "the same trap with a longer HMAC")
    add("confusion-hs256-ec-pem", "ec", hs(claims(), secret=public_pem("ec_p256")), NOT_ALLOWED,
        "HS256 keyed with the EC public key")
    add("confusion-hs256-ed25519-pem", "ed25519", hs(claims(), secret=public_pem("ed25519")),
        NOT_ALLOWED, "HS256 keyed with the Ed25519 public key")
    add("cross-rs256-to-hs", "hs", rsa_good, NOT_ALLOWED, "a shared secret admits no RS256")
    add("cross-rs256-to-ec", "ec", rsa_good, NOT_ALLOWED, "an EC key admits no RS256")
    add("cross-eddsa-to-rsa", "rsa", signed("ed25519", "EdDSA", claims()), NOT_ALLOWED,
        "an RSA key admits no EdDSA")
    add("cross-es384-to-p256", "ec", replace_segment(
        signed("ec_p256", "ES256", claims()), 0, enc({"alg": "ES384", "typ": "JWT"})),
        NOT_ALLOWED, "a P-256 key admits ES256 only")
    add("cross-es256-to-ed25519", "ed25519", signed("ec_p256", "ES256", claims()), NOT_ALLOWED,
        "an Ed25519 key admits no ES256")

    # -- wrong key, tampering ----------------------------------------------------------
    add("wrong-secret", "hs", hs(claims(), secret=keys()["hs_wrong_secret"].encode()),
        BAD_SIGNATURE, "signed with another secret")
    add("wrong-rsa-key", "rsa", signed("attacker_rsa", "RS256", claims()), BAD_SIGNATURE,
        "signed with another RSA key")
    add("tampered-header-typ", "hs", replace_segment(good, 0, enc({"alg": "HS256", "typ": "at"})),
        BAD_SIGNATURE, "header changed after signing")
    add("tampered-header-alg", "hs", replace_segment(good, 0, enc({"alg": "HS512", "typ": "JWT"})),
        BAD_SIGNATURE, "alg switched after signing")
    add("tampered-payload-sub", "hs", replace_segment(good, 1, enc(claims(sub="admin"))),
        BAD_SIGNATURE, "another user's id")
    add("tampered-payload-scopes", "hs",
        replace_segment(good, 1, enc(claims(scopes=["read:profile", "admin"]))), BAD_SIGNATURE,
        "a scope added")
    add("tampered-payload-exp", "hs", replace_segment(good, 1, enc(claims(exp=NOW + 10**6))),
        BAD_SIGNATURE, "a longer life")
    add("tampered-signature", "hs", replace_segment(good, 2, flip(s, 5)), BAD_SIGNATURE,
        "one signature character changed")
    add("tampered-signature-rsa", "rsa", replace_segment(rsa_good, 2, flip(rsa_good.split(".")[2],
        40)), BAD_SIGNATURE, "one RSA signature character changed")
    add("signature-shortened", "hs", replace_segment(good, 2, s[:40]), BAD_SIGNATURE,
        "a signature cut to 30 bytes")
    add("signature-empty", "hs", f"{h}.{p}.", BAD_SIGNATURE, "no signature")
    lifted = hs(claims(sub="x")).split(".")[2]
    add("signature-of-other-token", "hs", replace_segment(good, 2, lifted), BAD_SIGNATURE,
        "a signature lifted from another token")
    add("es256-der-signature", "ec", replace_segment(
        signed("ec_p256", "ES256", claims()), 2,
        b64(bytes.fromhex("3006020101020101"))), BAD_SIGNATURE,
        "a DER-encoded ECDSA signature instead of r||s")
    add("es256-zero-signature", "ec", replace_segment(
        signed("ec_p256", "ES256", claims()), 2, b64(bytes(64))), BAD_SIGNATURE,
        "r = s = 0 (CVE-2022-21449, 'psychic signatures')")

    # -- embedded and remote keys: never fetched, never trusted -------------------------
    attacker = {"kid": "attacker"}
    add("jwk-header-attacker-rsa", "rsa", signed("attacker_rsa", "RS256", claims(),
        {"jwk": public_jwk("attacker_rsa"), **attacker}), MALFORMED,
        "signed by an RSA key embedded in the jwk header (CVE-2018-0114); a 2048-bit JWK "
        "makes the header longer than the 512 bytes any honest header needs")
    add("jwk-header-attacker-ed25519", "ed25519", signed("attacker_ed25519", "EdDSA", claims(),
        {"jwk": public_jwk("attacker_ed25519"), **attacker}), BAD_SIGNATURE,
        "signed by an embedded Ed25519 key")
    add("jku-header-attacker", "rsa", signed("attacker_rsa", "RS256", claims(),
        {"jku": "https://attacker.example/jwks.json", **attacker}), BAD_SIGNATURE,
        "signed by a key behind an attacker's jku URL")
    add("x5u-header-attacker", "rsa", signed("attacker_rsa", "RS256", claims(),
        {"x5u": "https://attacker.example/cert.pem", **attacker}), BAD_SIGNATURE,
        "signed by a key behind an attacker's x5u URL")
    add("jwk-header-not-an-object", "hs", hs(claims(), header={"alg": "HS256", "jwk": "x"}),
        MALFORMED, "a registered header of the wrong type")
    add("kid-not-a-string", "hs", hs(claims(), header={"alg": "HS256", "kid": 7}), MALFORMED,
        "kid as a number")

    # -- crit and b64 (RFC 7515 §4.1.11, RFC 7797) --------------------------------------
    add("crit-unknown-extension", "hs",
        hs(claims(), header={"alg": "HS256", "crit": ["x-tekcify"], "x-tekcify": 1}), UNSUPPORTED,
        "a critical extension we do not understand")
    add("crit-empty-list", "hs", hs(claims(), header={"alg": "HS256", "crit": []}), UNSUPPORTED,
        "crit must never be empty")
    add("crit-not-a-list", "hs", hs(claims(), header={"alg": "HS256", "crit": "exp"}), UNSUPPORTED,
        "crit as a string")
    unencoded = json.dumps(claims(email=None), separators=(",", ":"))  # no "." inside
    assert "." not in unencoded
    head = {"alg": "HS256", "b64": False, "crit": ["b64"]}
    signing_input = f"{enc(head)}.{unencoded}"
    mac = hmac.new(keys()["hs_secret"].encode(), signing_input.encode(), hashlib.sha256).digest()
    add("b64-false", "hs", f"{signing_input}.{b64(mac)}", UNSUPPORTED,
        "an unencoded payload (RFC 7797), correctly signed")
    add("b64-false-without-crit", "hs", hs(claims(), header={"alg": "HS256", "b64": False}),
        MALFORMED, "b64 false that is not marked critical")

    # -- the compact form -----------------------------------------------------------------
    add("empty", "hs", "", MALFORMED, "nothing")
    add("only-dots", "hs", "..", MALFORMED, "three empty segments")
    add("one-segment", "hs", h, MALFORMED, "a header alone")
    add("two-segments", "hs", f"{h}.{p}", MALFORMED, "no signature segment")
    add("four-segments", "hs", f"{good}.{s}", MALFORMED, "a fourth segment")
    add("five-segments-jwe", "hs", f"{h}.{p}.{s}.{s}.{s}", MALFORMED, "JWE-shaped")
    add("truncated-half", "hs", good[: len(good) // 2], MALFORMED, "cut in the payload")
    add("truncated-in-signature", "hs", good[:-2], MALFORMED, "cut to 4n+1 characters")
    add("trailing-newline", "hs", good + "\n", MALFORMED, "a newline after the token")
    add("surrounding-spaces", "hs", f" {good} ", MALFORMED, "spaces around the token")
    add("json-serialization", "hs", json.dumps({"protected": h, "payload": p, "signature": s}),
        MALFORMED, "the JWS JSON serialization")

    # -- base64url ----------------------------------------------------------------------------
    add("padding-in-header", "hs", f"{h}=.{p}.{s}", MALFORMED, "'=' padding on the header")
    add("padding-in-payload", "hs", f"{h}.{p}==.{s}", MALFORMED, "'=' padding on the payload")
    add("padding-in-signature", "hs", f"{good}=", MALFORMED, "'=' padding on the signature")
    std = base64.b64encode(bytes.fromhex("fbffbf") * 11).decode()  # "+/+/...", no padding
    add("standard-alphabet-signature", "hs", replace_segment(good, 2, std), MALFORMED,
        "'+' and '/' of standard base64")
    add("non-alphabet-in-signature", "hs", replace_segment(good, 2, s[:10] + "*" + s[11:]),
        MALFORMED, "a character outside base64url")
    add("non-alphabet-in-payload", "hs", replace_segment(good, 1, p[:10] + "!" + p[11:]),
        MALFORMED, "a character outside base64url")
    add("space-in-payload", "hs", replace_segment(good, 1, p[:10] + " " + p[10:]), MALFORMED,
        "a space inside a segment")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sibling = alphabet[alphabet.index(s[-1]) + 1]  # 43 characters: the low 2 bits are unused
    add("non-canonical-signature-tail", "hs", good[:-1] + sibling, MALFORMED,
        "the unused low bits of the last character set (RFC 4648 §3.5)")

    # -- header and payload that are not JSON objects ----------------------------------
    for name, raw in {"array": b'["alg","HS256"]', "string": b'"HS256"', "number": b"256",
                      "null": b"null", "invalid-json": b'{"alg":"HS256"', "empty": b""}.items():
        add(f"header-{name}", "hs", f"{b64(raw)}.{p}.{s}", MALFORMED, "a header that is no object")
    for name, raw in {"array": b'[{"sub":"x"}]', "string": b'"access"', "number": b"1",
                      "null": b"null", "true": b"true", "invalid-json": b'{"sub":"x",}',
                      "not-utf8": b'{"sub":"\xff"}', "nested-too-deep": b"[" * 2500 + b"]" * 2500,
                      }.items():
        add(f"payload-{name}", "hs", hs(raw), MALFORMED, "a signed payload that is no claim set")

    # -- exp, nbf, iat ------------------------------------------------------------------------
    add("exp-missing", "hs", hs(claims(exp=None)), "missing_exp", "exp is required")
    add("exp-null", "hs", hs({**claims(), "exp": None}), "missing_exp", "exp as null")
    add("exp-past", "hs", hs(claims(exp=NOW - 1)), "expired", "expired a second ago")
    add("exp-now", "hs", hs(claims(exp=NOW)), "expired", "RFC 7519 §4.1.4: on or after exp")
    add("exp-string", "hs", hs(claims(exp=str(NOW + 840))), MALFORMED, "exp as a string")
    add("exp-true", "hs", hs(claims(exp=True)), MALFORMED, "exp as a boolean")
    add("exp-list", "hs", hs(claims(exp=[NOW + 840])), MALFORMED, "exp as a list")
    for name, literal in {"nan": b"NaN", "infinity": b"Infinity", "1e400": b"1e400",
                          "huge-int": b"1" + b"0" * 400}.items():
        body = json.dumps(claims(exp=0), separators=(",", ":")).encode()
        add(f"exp-{name}", "hs", hs(body.replace(b'"exp":0', b'"exp":' + literal)), MALFORMED,
            "a NumericDate that would never expire or overflow")
    add("nbf-future", "hs", hs(claims(nbf=NOW + 60)), "not_yet_valid", "valid in a minute")
    add("nbf-string", "hs", hs(claims(nbf=str(NOW))), MALFORMED, "nbf as a string")
    add("iat-string", "hs", hs(claims(iat="yesterday")), MALFORMED, "iat as a string")

    # -- iss, aud, type, sub, scopes -----------------------------------------------------------
    add("iss-wrong", "hs", hs(claims(iss="evil-auth")), "wrong_issuer", "another issuer")
    add("iss-missing", "hs", hs(claims(iss=None)), "wrong_issuer", "no issuer")
    add("iss-list", "hs", hs(claims(iss=["tekcify-auth"])), "wrong_issuer", "iss as a list")
    add("iss-case", "hs", hs(claims(iss="Tekcify-Auth")), "wrong_issuer", "StringOrURI is exact")
    add("aud-wrong", "hs", hs(claims(aud="other-api")), "wrong_audience", "another audience")
    add("aud-missing", "hs", hs(claims(aud=None)), "wrong_audience", "no audience")
    add("aud-list-without-ours", "hs", hs(claims(aud=["a-api", "b-api"])), "wrong_audience",
        "a list that does not name us")
    add("aud-empty-list", "hs", hs(claims(aud=[])), "wrong_audience", "an empty audience list")
    add("aud-nested-list", "hs", hs(claims(aud=[["tekcify-api"]])), "wrong_audience",
        "ours, but nested one level down")
    add("aud-prefix", "hs", hs(claims(aud="tekcify-api-staging")), "wrong_audience",
        "no prefix matching")
    for name, value in {"refresh": "refresh", "temp": "temp", "capitalised": "Access",
                        "trailing-space": "access "}.items():
        add(f"type-{name}", "hs", hs(claims(type=value)), "wrong_type",
            "only type == 'access' is an access token")
    add("type-missing", "hs", hs(claims(type=None)), "wrong_type", "no type claim")
    add("type-list", "hs", hs(claims(type=["access"])), "wrong_type", "type as a list")
    add("sub-number", "hs", hs(claims(sub=42)), MALFORMED, "sub must be a string")
    add("scopes-string", "hs", hs(claims(scopes="admin")), MALFORMED, "scopes must be a list")
    add("scopes-not-strings", "hs", hs(claims(scopes=["read", 1])), MALFORMED,
        "scopes must hold strings")

    # -- size and characters ------------------------------------------------------------------
    big = hs(claims(pad="x" * 7000))
    add("too-large-signed", "hs", big, "too_large", f"a correctly signed {len(big)}-char token")
    add("too-large-garbage", "hs", "e" * 10_000, "too_large", "10 kB refused before parsing")
    add("too-large-bytes", "hs", b"\xff" * 9000, "too_large", "9000 non-ASCII bytes: size first")
    add("non-ascii-str", "hs", good[:20] + "é" + good[21:], MALFORMED, "a non-ASCII character")
    add("fullwidth-letter", "hs", good.replace("J", "\uff2a", 1), MALFORMED, "a fullwidth letter")
    add("zero-width-space", "hs", good[:30] + "\u200b" + good[30:], MALFORMED, "U+200B inside")
    add("nul-byte", "hs", good[:30] + "\x00" + good[30:], MALFORMED, "a NUL inside")
    add("non-ascii-bytes", "hs", good.encode()[:20] + b"\xc3\xa9" + good.encode()[21:], MALFORMED,
        "UTF-8 bytes outside ASCII")
    add("latin1-bytes", "hs", b"\xff\xfe" + good.encode(), MALFORMED, "bytes that are no text")
    return out


def build() -> str:
    """The text of tokens.json."""
    document = {
        "_comment": "Generated by tests/vectors/generate.py from keys.json at NOW; do not edit.",
        "now": NOW,
        "vectors": vectors(),
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    (HERE / "tokens.json").write_text(build(), encoding="utf-8")
    print(f"wrote {HERE / 'tokens.json'}")
