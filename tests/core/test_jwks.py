"""JwksVerifier against a real JWKS served on 127.0.0.1: rotation, caching, failures."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import OctKey

from tekcify_auth import (
    ConfigurationError,
    JwksError,
    JwksVerifier,
    create_jwks_verifier,
    verify_access_token,
)
from tekcify_auth._jwks import MAX_JWKS_BYTES, FetchPolicy, parse_jwks, parse_max_age
from tekcify_auth.testing import SigningKey


class FakeClock:
    """A clock the test moves by hand; start it near the real time so tokens look fresh."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class JwksServer:
    """Serves a JWKS over real HTTP and counts the requests it answers.

    Change ``body``, ``status``, ``headers`` between calls to rotate keys or misbehave;
    ``length=False`` drops the ``Content-Length`` header (the body ends at close);
    ``hold`` makes each answer wait until the event is set (``received`` fires first).
    """

    def __init__(self) -> None:
        self.body = b'{"keys": []}'
        self.status = 200
        self.headers: dict[str, str] = {}
        self.length = True
        self.hold: threading.Event | None = None
        self.received = threading.Event()
        self.requests = 0
        self._count_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._count_lock:
                    server.requests += 1
                server.received.set()
                if server.hold is not None:
                    server.hold.wait(timeout=30)
                body = server.body
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                if server.length:
                    self.send_header("Content-Length", str(len(body)))
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                # The client may give up on a body it will not read.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self.running = True
        host, port = self._httpd.server_address[:2]
        self.url = f"http://{host!s}:{port}/api/.well-known/jwks.json"
        self.base_url = f"http://{host!s}:{port}"

    def serve(self, *keys: SigningKey, extra: list[Any] | None = None) -> None:
        """Publish the public JWKs of ``keys`` (and any ``extra`` raw entries)."""
        entries: list[Any] = [k.public_jwk() for k in keys] + (extra or [])
        self.body = json.dumps({"keys": entries}).encode()

    def stop(self) -> None:
        """Take the server down: later connections are refused."""
        if self.running:
            self.running = False
            if self.hold is not None:
                self.hold.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    """A JWKS server on a free port of 127.0.0.1, stopped after the test."""
    server = JwksServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock for verifiers and minted tokens alike."""
    return FakeClock()


@pytest.fixture(scope="session")
def rsa_key() -> SigningKey:
    """An RS256 signing key (2048-bit RSA is slow to generate, so shared)."""
    return SigningKey.generate("RS256", kid="rsa-1")


@pytest.fixture(scope="session")
def rsa_key_2() -> SigningKey:
    """A second RS256 key, for rotation."""
    return SigningKey.generate("RS256", kid="rsa-2")



def make_verifier(server: JwksServer, clock: FakeClock, **options: object) -> JwksVerifier:
    return JwksVerifier(server.url, clock=clock, **options)  # type: ignore[arg-type]


def mint(key: SigningKey, clock: FakeClock, **header: object) -> str:
    return key.mint(f"user-{uuid.uuid4()}", now=clock.now, header=header or None)


def _claims(clock: FakeClock) -> str:
    return json.dumps({
        "sub": "user-1", "type": "access", "iss": "tekcify-auth", "aud": "tekcify-api",
        "iat": int(clock.now), "exp": int(clock.now) + 900,
    })


def sign_raw(header: dict[str, object], clock: FakeClock, key: object) -> str:
    return jws.serialize_compact(
        header, _claims(clock), key, algorithms=[str(header["alg"])]  # type: ignore[arg-type]
    )


def sign_hs256(header: dict[str, object], clock: FakeClock, secret: bytes) -> str:
    """HS256 by hand: joserfc rightly refuses to load a PEM as an HMAC key."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(_claims(clock).encode())}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


# -- construction --------------------------------------------------------------------


def test_construction_does_no_io(jwks_server: JwksServer, rsa_key: SigningKey) -> None:
    jwks_server.serve(rsa_key)
    verifier = JwksVerifier(jwks_server.url)
    assert verifier.verify("not-a-token").error == "malformed"
    assert jwks_server.requests == 0


def test_default_url_comes_from_auth_server_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_SERVER_URL", "https://auth.example.com/")
    assert JwksVerifier().jwks_uri == "https://auth.example.com/api/.well-known/jwks.json"
    built = create_jwks_verifier(auth_server_url="http://127.0.0.1:9")
    assert isinstance(built, JwksVerifier)
    assert built.jwks_uri == "http://127.0.0.1:9/api/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("uri", "server"),
    [
        ("auth.example.com/api/.well-known/jwks.json", None),
        ("ftp://auth.example.com/jwks.json", None),
        ("https://", None),
        (None, "localhost:7001"),
    ],
)
def test_url_without_scheme_is_a_configuration_error(uri: str | None, server: str | None) -> None:
    with pytest.raises(ConfigurationError):
        JwksVerifier(uri, auth_server_url=server)


@pytest.mark.parametrize(
    "options",
    [{"cache_ttl": 0}, {"timeout": 0}, {"refetch_cooldown": -1}, {"algorithms": ["HS256"]}],
)
def test_bad_options_are_configuration_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        JwksVerifier("https://auth.example.com/jwks.json", **options)  # type: ignore[arg-type]


# -- algorithms and keys ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_asymmetric_tokens_verify(
    alg: str, jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    key = rsa_key if alg == "RS256" else SigningKey.generate(alg)
    jwks_server.serve(key)
    verifier = make_verifier(jwks_server, clock)
    result = verifier.verify(mint(key, clock))
    assert (result.valid, result.error) == (True, None)
    assert result.payload["type"] == "access"
    assert verify_access_token(mint(key, clock), jwks=verifier).valid
    assert jwks_server.requests == 1


def test_hs256_signed_with_the_public_pem_is_refused(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    verifier = make_verifier(jwks_server, clock)
    verifier.refresh()
    token = sign_hs256({"alg": "HS256", "kid": rsa_key.kid}, clock, rsa_key.public_pem())
    assert verifier.verify(token).error == "algorithm_not_allowed"


def test_oct_and_non_signature_keys_in_the_jwks_are_ignored(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    enc = {**SigningKey.generate("ES256", kid="enc").public_jwk(), "use": "enc"}
    oct_jwk = {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "kid": "hmac"}
    jwks_server.serve(rsa_key, extra=[oct_jwk, enc, "junk", {"kty": "RSA", "kid": "broken"}])
    verifier = make_verifier(jwks_server, clock)
    assert verifier.verify(mint(rsa_key, clock)).valid
    # The RSA key's own signature, but naming the oct key: there is no such usable key.
    assert verifier.verify(mint(rsa_key, clock, kid="hmac")).error == "unknown_key"
    hmac_token = sign_raw({"alg": "HS256", "kid": "hmac"}, clock, OctKey.import_key(oct_jwk))
    assert verifier.verify(hmac_token).error == "algorithm_not_allowed"

    jwks_server.serve(extra=[oct_jwk, enc])
    with pytest.raises(JwksError, match="no usable"):
        make_verifier(jwks_server, clock).refresh()


def test_jwk_alg_must_match_the_token_alg(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.serve(rsa_key)  # published with "alg": "RS256"
    verifier = make_verifier(jwks_server, clock)
    same_key_as_ps256 = SigningKey(rsa_key.key, "PS256", kid=rsa_key.kid)
    assert verifier.verify(mint(same_key_as_ps256, clock)).error == "algorithm_not_allowed"
    assert verifier.verify(mint(rsa_key, clock)).valid


def test_algorithms_narrow_what_the_jwks_admits(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    es = SigningKey.generate("ES256")
    jwks_server.serve(rsa_key, es)
    verifier = make_verifier(jwks_server, clock, algorithms=["ES256"])
    assert verifier.verify(mint(rsa_key, clock)).error == "algorithm_not_allowed"
    assert verifier.verify(mint(es, clock)).valid


def test_token_without_kid_uses_the_only_key(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    token = sign_raw({"alg": "RS256"}, clock, rsa_key.key)
    jwks_server.serve(rsa_key)
    assert make_verifier(jwks_server, clock).verify(token).valid
    jwks_server.serve(rsa_key, rsa_key_2)
    assert make_verifier(jwks_server, clock).verify(token).error == "unknown_key"


def test_wrong_key_for_the_kid_is_a_bad_signature(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    impostor = SigningKey(rsa_key_2.key, "RS256", kid=rsa_key.kid)
    assert make_verifier(jwks_server, clock).verify(mint(impostor, clock)).error == "bad_signature"


# -- rotation, cooldown, expiry ----------------------------------------------------------


def test_rotation_refetches_once_for_the_new_kid(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    verifier = make_verifier(jwks_server, clock)
    assert verifier.verify(mint(rsa_key, clock)).valid
    assert jwks_server.requests == 1

    jwks_server.serve(rsa_key, rsa_key_2)
    clock.advance(31)
    assert verifier.verify(mint(rsa_key_2, clock)).valid
    assert jwks_server.requests == 2
    assert verifier.verify(mint(rsa_key_2, clock)).valid
    assert verifier.verify(mint(rsa_key, clock)).valid
    assert jwks_server.requests == 2


def test_unknown_kids_cause_no_fetch_storm(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    verifier = make_verifier(jwks_server, clock, refetch_cooldown=30)
    assert verifier.verify(mint(rsa_key, clock)).valid
    clock.advance(30)
    for _ in range(50):
        assert verifier.verify(mint(rsa_key, clock, kid=uuid.uuid4().hex)).error == "unknown_key"
    assert jwks_server.requests == 2  # the first load and one refetch

    clock.advance(29)
    assert verifier.verify(mint(rsa_key, clock, kid="random")).error == "unknown_key"
    assert jwks_server.requests == 2
    clock.advance(1)
    assert verifier.verify(mint(rsa_key, clock, kid="random")).error == "unknown_key"
    assert jwks_server.requests == 3


def test_a_new_kid_within_the_cooldown_waits_for_it(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    verifier = make_verifier(jwks_server, clock, refetch_cooldown=30)
    verifier.refresh()
    jwks_server.serve(rsa_key, rsa_key_2)
    clock.advance(10)
    assert verifier.verify(mint(rsa_key_2, clock)).error == "unknown_key"
    clock.advance(20)
    assert verifier.verify(mint(rsa_key_2, clock)).valid
    assert jwks_server.requests == 2


def test_ttl_expiry_refetches(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    verifier = make_verifier(jwks_server, clock, cache_ttl=100)
    assert verifier.verify(mint(rsa_key, clock)).valid
    clock.advance(99)
    assert verifier.verify(mint(rsa_key, clock)).valid
    assert jwks_server.requests == 1
    clock.advance(1)
    assert verifier.verify(mint(rsa_key, clock)).valid
    assert jwks_server.requests == 2


@pytest.mark.parametrize(
    ("cache_control", "ttl", "lifetime"),
    [
        ("public, max-age=60", 3600, 60),
        ('max-age="45", must-revalidate', 3600, 45),
        ("max-age=7200", 100, 100),
        ("no-cache", 100, 100),
    ],
)
def test_max_age_shortens_the_ttl(
    cache_control: str, ttl: float, lifetime: float,
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey,
) -> None:
    jwks_server.serve(rsa_key)
    jwks_server.headers = {"Cache-Control": cache_control}
    verifier = make_verifier(jwks_server, clock, cache_ttl=ttl, refetch_cooldown=10)
    verifier.refresh()
    clock.advance(lifetime - 1)
    assert verifier.verify(mint(rsa_key, clock)).valid
    assert jwks_server.requests == 1
    clock.advance(1)
    assert verifier.verify(mint(rsa_key, clock)).valid
    assert jwks_server.requests == 2


def test_a_withdrawn_key_is_dropped_from_the_token_cache(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    jwks_server.serve(rsa_key, rsa_key_2)
    verifier = make_verifier(jwks_server, clock)
    token = mint(rsa_key_2, clock)
    assert verifier.verify(token).valid
    jwks_server.serve(rsa_key)
    verifier.refresh()
    assert verifier.verify(token).error == "unknown_key"


# -- failures ----------------------------------------------------------------------------


def _break(server: JwksServer, how: str) -> None:
    if how == "down":
        server.stop()
    elif how == "503":
        server.status = 503
    elif how == "not_json":
        server.body = b"<html>oops</html>"
    else:
        server.body = b'{"keys": {"kty": "RSA"}}'


@pytest.mark.parametrize("how", ["down", "503", "not_json", "keys_not_a_list"])
def test_a_failed_refresh_keeps_the_last_good_set(
    how: str, jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jwks_server.serve(rsa_key)
    verifier = make_verifier(jwks_server, clock, cache_ttl=100)
    assert verifier.verify(mint(rsa_key, clock)).valid
    _break(jwks_server, how)
    clock.advance(100)
    token = mint(rsa_key, clock)
    with caplog.at_level(logging.WARNING, logger="tekcify_auth.jwks"):
        assert verifier.verify(token).valid
        assert verifier.verify(mint(rsa_key, clock)).valid  # within the cooldown: no retry
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "keeping the last good key set" in caplog.text
    assert token not in caplog.text
    with pytest.raises(JwksError):
        verifier.refresh()
    assert verifier.verify(mint(rsa_key, clock, kid="other")).error == "unknown_key"


async def test_server_down_from_the_start_is_jwks_unavailable(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    jwks_server.stop()
    verifier = make_verifier(jwks_server, clock)
    token = mint(rsa_key, clock)
    with caplog.at_level(logging.WARNING, logger="tekcify_auth.jwks"):
        result = verifier.verify(token)
    assert (result.valid, result.error) == (False, "jwks_unavailable")
    assert "no key set loaded" in caplog.text
    assert token not in caplog.text
    assert (await verifier.averify(token)).error == "jwks_unavailable"
    with pytest.raises(JwksError, match="could not be fetched"):
        verifier.refresh()
    with pytest.raises(JwksError):
        await verifier.arefresh()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("body", "length"),
    [
        (b"not json at all", True),
        (b'{"keys": "nope"}', True),
        (b'[{"keys": []}]', True),
        (b'{"keys": [1, "x", null, [], {"kty": "RSA"}, {"kty": "EC", "crv": "P-999"}]}', True),
        (_nested(200_000), True),
        ("{\"keys\": [], \"n\": \"\udcff\"}".encode("utf-8", "surrogatepass"), True),
    ],
    ids=["not-json", "keys-string", "top-level-list", "junk-entries", "deep", "bad-utf8"],
)
def test_a_hostile_jwks_body_is_refused(
    body: bytes, length: bool, jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.body = body
    jwks_server.length = length
    verifier = make_verifier(jwks_server, clock)
    assert verifier.verify(mint(rsa_key, clock)).error == "jwks_unavailable"
    with pytest.raises(JwksError):
        verifier.refresh()


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "until-close"])
def test_a_jwks_over_one_mib_is_refused(
    announced: bool, jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    def padded(size: int) -> bytes:
        body = json.dumps({**rsa_key.jwks(), "padding": ""}).encode()
        return body.replace(b'"padding": ""', b'"padding": "' + b"x" * (size - len(body)) + b'"')

    jwks_server.length = announced
    jwks_server.body = padded(MAX_JWKS_BYTES + 1)
    verifier = make_verifier(jwks_server, clock)
    with pytest.raises(JwksError, match="larger than"):
        verifier.refresh()
    jwks_server.body = padded(MAX_JWKS_BYTES)
    verifier.refresh()
    assert verifier.verify(mint(rsa_key, clock)).valid


def test_a_redirect_is_not_followed(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.status = 302
    jwks_server.headers = {"Location": "http://127.0.0.1:9/elsewhere"}
    with pytest.raises(JwksError, match="HTTP 302"):
        make_verifier(jwks_server, clock).refresh()


def test_a_server_that_never_answers_times_out(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    jwks_server.hold = threading.Event()
    verifier = make_verifier(jwks_server, clock, timeout=0.2)
    assert verifier.verify(mint(rsa_key, clock)).error == "jwks_unavailable"
    jwks_server.hold.set()


# -- single flight -------------------------------------------------------------------------


def test_twenty_threads_on_an_unknown_kid_make_one_fetch(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    jwks_server.serve(rsa_key, rsa_key_2)
    verifier = make_verifier(jwks_server, clock)
    tokens = [mint(rsa_key_2, clock) for _ in range(20)]
    barrier = threading.Barrier(len(tokens))
    results: list[bool] = []

    def work(token: str) -> None:
        barrier.wait(timeout=10)
        results.append(verifier.verify(token).valid)

    threads = [threading.Thread(target=work, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [True] * 20
    assert jwks_server.requests == 1


async def test_gathered_averify_on_an_unknown_kid_makes_one_fetch(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey, rsa_key_2: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    verifier = make_verifier(jwks_server, clock)
    assert (await verifier.averify(mint(rsa_key, clock))).valid
    jwks_server.serve(rsa_key, rsa_key_2)
    clock.advance(30)
    results = await asyncio.gather(*(verifier.averify(mint(rsa_key_2, clock)) for _ in range(20)))
    assert [r.valid for r in results] == [True] * 20
    assert jwks_server.requests == 2


async def test_a_task_joins_a_fetch_started_by_a_thread(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    jwks_server.hold = threading.Event()
    verifier = make_verifier(jwks_server, clock)
    owner = asyncio.create_task(asyncio.to_thread(verifier.verify, mint(rsa_key, clock)))
    assert await asyncio.to_thread(jwks_server.received.wait, 10)
    joiner = asyncio.create_task(verifier.averify(mint(rsa_key, clock)))
    await asyncio.sleep(0)  # let the task reach the fetch in flight
    assert not joiner.done()
    jwks_server.hold.set()
    assert (await joiner).valid
    assert (await owner).valid
    assert jwks_server.requests == 1


async def test_a_cancelled_waiter_does_not_cancel_the_fetch(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    jwks_server.hold = threading.Event()
    verifier = make_verifier(jwks_server, clock)
    owner = asyncio.create_task(verifier.averify(mint(rsa_key, clock)))
    assert await asyncio.to_thread(jwks_server.received.wait, 10)
    waiter = asyncio.create_task(verifier.averify(mint(rsa_key, clock)))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    jwks_server.hold.set()
    assert (await owner).valid
    assert jwks_server.requests == 1


# -- injected clients ------------------------------------------------------------------------


async def test_injected_http_clients_are_used_and_left_open(
    jwks_server: JwksServer, clock: FakeClock, rsa_key: SigningKey
) -> None:
    jwks_server.serve(rsa_key)
    seen: list[str] = []

    def record(request: httpx.Request) -> None:
        seen.append("sync")

    async def arecord(request: httpx.Request) -> None:
        seen.append("async")

    with httpx.Client(event_hooks={"request": [record]}) as client:
        async with httpx.AsyncClient(event_hooks={"request": [arecord]}) as aclient:
            verifier = make_verifier(
                jwks_server, clock, http_client=client, async_http_client=aclient
            )
            verifier.refresh()
            await verifier.arefresh()
            assert (await verifier.averify(mint(rsa_key, clock))).valid
            assert not client.is_closed
            assert not aclient.is_closed
    assert seen == ["sync", "async"]


# -- the I/O-free rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("no-store", None),
        ("public, max-age=300", 300.0),
        ("MAX-AGE=5, s-maxage=1", 5.0),
        ("s-maxage=10", None),
        ("max-age=-3", None),
    ],
)
def test_parse_max_age(header: str | None, expected: float | None) -> None:
    assert parse_max_age(header) == expected


def test_fetch_policy_rules() -> None:
    policy = FetchPolicy(ttl=100, cooldown=30)
    assert policy.should_fetch(0, missing=False)  # nothing loaded yet
    policy.attempted(0)
    policy.loaded(1, max_age=None)
    assert policy.fresh(100)
    assert not policy.fresh(101)
    assert not policy.should_fetch(50, missing=False)
    assert not policy.should_fetch(29, missing=True)
    assert policy.should_fetch(30, missing=True)
    assert policy.should_fetch(101, missing=False)
    assert policy.should_fetch(-100, missing=True)  # the clock was set back
    policy.loaded(1, max_age=10)
    assert not policy.fresh(11)


def test_parse_jwks_keeps_the_first_of_duplicate_kids(rsa_key: SigningKey) -> None:
    other = SigningKey.generate("ES256", kid=rsa_key.kid)
    keys = parse_jwks(json.dumps(rsa_key.jwks(other)).encode())
    assert len(keys.by_kid) == len(keys.usable) == 1
    selected = keys.select(rsa_key.kid)
    assert selected is not None
    assert selected.alg == "RS256"
    assert keys.select(None) is selected
    assert parse_jwks(json.dumps(rsa_key.jwks(SigningKey.generate("ES256"))).encode()).select(
        None
    ) is None
