"""Token verification speed: tekcify_auth beside PyJWT and joserfc, as ratios.

Every verifier sees the same HS256 and RS256 tokens in the same run. "Miss" feeds
``verify_access_token`` tokens it has never seen (each pre-minted token is verified
once, so its cache cannot help); "hit" repeats one token. Each verifier's loop checks
its result as a user would (``.valid``, or the ``type`` claim for the peers), so a
fast refusal can never pass for a fast verification.

The RS256 suite also passes the same public key in every form ``verify_access_token``
takes: ``key=`` as PEM, JWK dict or joserfc key, and ``jwks=`` as a dict, its JSON (str,
bytes), a joserfc ``KeySet`` or a ``JwksVerifier``. Forms that share a verifier (equal
documents do) have its token cache emptied before each of their miss passes.

Rounds interleave the verifiers in a rotating order; the ratio is the median of the
per-round ratios against PyJWT measured in that same round, so drift on a shared
machine cancels. Targets: a miss no slower than PyJWT, a hit at least 50x faster, and
a hit under 1 µs for every key form.

    python benchmarks/verify.py [--rounds N] [--check]

Exit status is 0 (it is a report) unless ``--check`` is given and a target fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt as pyjwt
from _common import machine_line, markdown_table, median, verdict
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from tekcify_auth import JwksVerifier, TokenVerifier, verify_access_token
from tekcify_auth import _verify as verify_module
from tekcify_auth.testing import SigningKey, mint_access_token

ISSUER = "tekcify-auth"
AUDIENCE = "tekcify-api"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
SCOPES = ("read:profile", "write:profile")
MISS_TARGET = 1.0
HIT_TARGET = 50.0
HIT_US_TARGET = 1.0  # every key form's cache hit, in µs

Loop = Callable[[Sequence[str]], None]


@dataclass
class Case:
    """One verifier in one scenario, and the per-round timings it collected."""

    name: str
    loop: Loop
    per_op: list[float] = field(default_factory=list)  # seconds per verification
    ratios: list[float] = field(default_factory=list)  # PyJWT time / this time

    def add(self, seconds: float, baseline: float) -> None:
        self.per_op.append(seconds)
        self.ratios.append(baseline / seconds)


def pyjwt_loop(key: object, alg: str) -> Loop:
    decode, algorithms = pyjwt.decode, [alg]

    def run(tokens: Sequence[str]) -> None:
        for t in tokens:
            claims = decode(t, key, algorithms=algorithms, audience=AUDIENCE, issuer=ISSUER)
            if claims["type"] != "access":
                raise AssertionError("PyJWT rejected a benchmark token")

    return run


def joserfc_loop(key: OctKey | RSAKey, alg: str) -> Loop:
    decode, algorithms = jose_jwt.decode, [alg]
    claims_check = jose_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        type={"essential": True, "value": "access"},
    )

    def run(tokens: Sequence[str]) -> None:
        for t in tokens:
            claims_check.validate(decode(t, key, algorithms=algorithms).claims)

    return run


def ours_loop(**key: Any) -> Loop:
    # verify_access_token's keyword is secret=, key= or jwks=; bind it without a wrapper
    # frame, so each row costs what a user's call costs.
    verify = verify_access_token
    if "secret" in key:
        secret = key["secret"]

        def run(tokens: Sequence[str]) -> None:
            for t in tokens:
                if not verify(t, secret=secret).valid:
                    raise AssertionError("verify_access_token rejected a benchmark token")

        return run
    if "jwks" in key:
        jwks = key["jwks"]

        def run_jwks(tokens: Sequence[str]) -> None:
            for t in tokens:
                if not verify(t, jwks=jwks).valid:
                    raise AssertionError("verify_access_token rejected a benchmark token")

        return run_jwks
    public = key["key"]

    def run_key(tokens: Sequence[str]) -> None:
        for t in tokens:
            if not verify(t, key=public).valid:
                raise AssertionError("verify_access_token rejected a benchmark token")

    return run_key


def forget_verified_tokens() -> None:
    """Empty the token cache of every verifier verify_access_token keeps (and JWKS_VERIFIER's)."""
    for verifier in list(verify_module._verifiers.values()):
        verifier.clear_cache()
    for entry in list(verify_module._by_identity.values()):
        entry[2].clear_cache()
    for verifier in JWKS_VERIFIERS:
        verifier.clear_cache()


JWKS_VERIFIERS: list[JwksVerifier] = []


def key_forms(signer: SigningKey) -> list[tuple[str, dict[str, Any]]]:
    """The RS256 public key in every form verify_access_token takes, as its keyword."""
    document = signer.jwks()
    served = httpx.Client(  # the document as a JWKS endpoint would serve it, without a server
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=document))
    )
    fetching = JwksVerifier("https://auth.example.com/jwks.json", http_client=served)
    fetching.refresh()
    JWKS_VERIFIERS.append(fetching)
    return [
        ("key=JWK dict", {"key": signer.public_jwk()}),
        ("key=joserfc key", {"key": RSAKey.import_key(signer.public_jwk())}),
        ("jwks=dict", {"jwks": document}),
        ("jwks=JSON str", {"jwks": json.dumps(document)}),
        ("jwks=JSON bytes", {"jwks": json.dumps(document).encode()}),
        ("jwks=KeySet", {"jwks": KeySet.import_key_set(signer.jwks())}),  # type: ignore[arg-type]
        ("jwks=JwksVerifier", {"jwks": fetching}),
    ]


def verifier_loop(verifier: TokenVerifier) -> Loop:
    verify = verifier.verify

    def run(tokens: Sequence[str]) -> None:
        for t in tokens:
            if not verify(t).valid:
                raise AssertionError("TokenVerifier rejected a benchmark token")

    return run


def timed(loop: Loop, tokens: Sequence[str]) -> float:
    """Seconds per token for one pass of ``loop`` over ``tokens``."""
    gc.collect()
    start = time.perf_counter()
    loop(tokens)
    return (time.perf_counter() - start) / len(tokens)


@dataclass
class Suite:
    """One algorithm: its tokens and its miss and hit scenarios."""

    alg: str
    miss_slices: list[list[str]]  # one fresh slice per round, the last for warm-up
    repeated: str
    miss: list[Case]
    hit: list[Case]
    hit_reps: int  # how many times our verifier repeats the token per round
    peer_reps: int  # how many times the peers repeat it (they are ~100x slower)

    def run_round(self, r: int) -> None:
        tokens = self.miss_slices[r]
        run_scenario(self.miss, r, lambda _: tokens, forget_verified_tokens)
        ours_tokens = [self.repeated] * self.hit_reps
        peer_tokens = [self.repeated] * self.peer_reps
        run_scenario(self.hit, r, lambda c: ours_tokens if c.name.startswith("tekcify") else
                     peer_tokens)


def run_scenario(
    cases: list[Case],
    r: int,
    tokens_for: Callable[[Case], Sequence[str]],
    before: Callable[[], None] | None = None,
) -> None:
    """Time every case once, in an order rotated by the round, against PyJWT (cases[0]);
    ``before`` runs (untimed) before each case."""
    order = cases[r % len(cases):] + cases[: r % len(cases)]
    seconds = {}
    for c in order:
        if before is not None:
            before()
        seconds[c.name] = timed(c.loop, tokens_for(c))
    baseline = seconds[cases[0].name]
    for c in cases:
        c.add(seconds[c.name], baseline)


def build_hs256(rounds: int, per_round: int) -> Suite:
    count = per_round * (rounds + 1)
    tokens = [
        mint_access_token(f"user-{i}", secret=SECRET, scopes=SCOPES, email=f"u{i}@example.com")
        for i in range(count + 1)
    ]
    repeated = tokens.pop()
    no_cache = TokenVerifier(secret=SECRET, cache=False)
    oct_key = OctKey.import_key(SECRET)
    return Suite(
        alg="HS256",
        miss_slices=[tokens[i: i + per_round] for i in range(0, count, per_round)],
        repeated=repeated,
        miss=[
            Case("PyJWT jwt.decode", pyjwt_loop(SECRET, "HS256")),
            Case("joserfc jwt.decode + claims", joserfc_loop(oct_key, "HS256")),
            Case("tekcify verify_access_token", ours_loop(secret=SECRET)),
            Case("tekcify TokenVerifier(cache=False)", verifier_loop(no_cache)),
        ],
        hit=[
            Case("PyJWT jwt.decode", pyjwt_loop(SECRET, "HS256")),
            Case("joserfc jwt.decode + claims", joserfc_loop(oct_key, "HS256")),
            Case("tekcify verify_access_token", ours_loop(secret=SECRET)),
        ],
        hit_reps=100_000,
        peer_reps=1_000,
    )


def build_rs256(rounds: int, per_round: int) -> Suite:
    signer = SigningKey.generate("RS256")
    count = per_round * (rounds + 1)
    tokens = [
        signer.mint(f"user-{i}", scopes=SCOPES, email=f"u{i}@example.com")
        for i in range(count + 1)
    ]
    repeated = tokens.pop()
    pem = signer.public_pem()
    no_cache = TokenVerifier(key=pem, cache=False)
    # Each peer gets its key loaded once, as a careful user would.
    rsa_public = load_pem_public_key(pem)
    jose_key = RSAKey.import_key(pem)
    forms = key_forms(signer)
    return Suite(
        alg="RS256",
        miss_slices=[tokens[i: i + per_round] for i in range(0, count, per_round)],
        repeated=repeated,
        miss=[
            Case("PyJWT jwt.decode", pyjwt_loop(rsa_public, "RS256")),
            Case("joserfc jwt.decode + claims", joserfc_loop(jose_key, "RS256")),
            Case("tekcify verify_access_token", ours_loop(key=pem)),
            Case("tekcify TokenVerifier(cache=False)", verifier_loop(no_cache)),
            *(Case(f"tekcify verify_access_token({form})", ours_loop(**kw)) for form, kw in forms),
        ],
        hit=[
            Case("PyJWT jwt.decode", pyjwt_loop(rsa_public, "RS256")),
            Case("joserfc jwt.decode + claims", joserfc_loop(jose_key, "RS256")),
            Case("tekcify verify_access_token", ours_loop(key=pem)),
            *(Case(f"tekcify verify_access_token({form})", ours_loop(**kw)) for form, kw in forms),
        ],
        hit_reps=100_000,
        peer_reps=500,
    )


def warm_up(suite: Suite) -> None:
    """One pass of every loop, on tokens no round uses, so the rounds measure steady state."""
    warm = suite.miss_slices.pop()
    for case in suite.miss:
        case.loop(warm)
    for case in suite.hit:
        case.loop([suite.repeated] * 200)


def rows_for(suite: Suite) -> list[list[str]]:
    rows = []
    for label, cases in (("miss (never seen)", suite.miss), ("hit (repeated)", suite.hit)):
        for c in cases:
            us = median(c.per_op) * 1e6
            rows.append([
                suite.alg, label, c.name, f"{us:,.2f}", f"{1e6 / us:,.0f}",
                f"{median(c.ratios):,.2f}x",
            ])
    return rows


def targets_for(suite: Suite) -> list[tuple[str, float, float]]:
    miss = median(next(c for c in suite.miss if c.name == "tekcify verify_access_token").ratios)
    hit = median(next(c for c in suite.hit if c.name == "tekcify verify_access_token").ratios)
    return [
        (f"{suite.alg} miss: verify_access_token vs PyJWT", miss, MISS_TARGET),
        (f"{suite.alg} hit: verify_access_token vs PyJWT", hit, HIT_TARGET),
    ]


def hit_costs(suites: list[Suite]) -> list[tuple[str, float, float]]:
    """Every key form's cache hit: its name, median µs, and median per-round ratio of its
    time to the PEM's (RS256) or the secret's (HS256) in the same round."""
    costs = []
    for suite in suites:
        ours = [c for c in suite.hit if c.name.startswith("tekcify")]
        base = ours[0]  # verify_access_token with secret= (HS256) or a PEM key= (RS256)
        for c in ours:
            name = c.name.removeprefix("tekcify ")
            if c is base:
                name += "(secret=)" if suite.alg == "HS256" else "(key=PEM)"
            ratios = [mine / theirs for mine, theirs in zip(c.per_op, base.per_op, strict=True)]
            costs.append((f"{suite.alg} {name}", median(c.per_op) * 1e6, median(ratios)))
    return costs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    rounds = max(1, args.rounds)

    print(f"minting tokens for {rounds} rounds ...", file=sys.stderr, flush=True)
    suites = [build_hs256(rounds, 3_000), build_rs256(rounds, 600)]
    for suite in suites:
        warm_up(suite)
    started = time.perf_counter()
    for r in range(rounds):
        for suite in suites:
            suite.run_round(r)
        print(f"  round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started

    rows = [row for suite in suites for row in rows_for(suite)]
    targets = [t for suite in suites for t in targets_for(suite)]
    print("## Token verification (benchmarks/verify.py)\n")
    print(machine_line("tekcify-auth-backend", "PyJWT", "joserfc", "cryptography"))
    print(
        f"\n{rounds} rounds in {elapsed:.0f} s; medians; \"x PyJWT\" is the median of "
        "per-round ratios of PyJWT's time to this row's (higher is faster).\n"
    )
    print(markdown_table(
        ["alg", "tokens", "verifier", "µs/op", "ops/s", "x PyJWT"], rows, left=3
    ))
    print()
    print(markdown_table(
        ["target", "measured", "wanted", "result"],
        [[name, f"{got:,.2f}x", f">= {want:g}x", verdict(got >= want)]
         for name, got, want in targets],
        left=1,
    ))
    costs = hit_costs(suites)
    print()
    print(markdown_table(
        ["cache hit, by key form", "µs", "x the PEM's / secret's time", "wanted", "result"],
        [[name, f"{us:,.2f}", f"{ratio:,.2f}x", f"< {HIT_US_TARGET:g} µs",
          verdict(us < HIT_US_TARGET)] for name, us, ratio in costs],
        left=1,
    ))
    failed = [name for name, got, want in targets if got < want]
    failed += [name for name, us, _ in costs if us >= HIT_US_TARGET]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
