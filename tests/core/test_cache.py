"""The verified-token cache: bounded LRU, dies with the token, per configuration, shared safely.

A cache hit returns the very ``VerifiedToken`` object the first verification made, so
``is`` tells a hit from a fresh verification without looking inside the cache.
"""

from __future__ import annotations

import copy
import json
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tekcify_auth import ConfigurationError, TokenVerifier, verify_access_token
from tekcify_auth._cache import ExpiringLRU
from tekcify_auth._config import DEFAULT_CACHE_SIZE
from tekcify_auth.testing import mint_access_token
from vectors import NOW, Clock

SECRET = "cache-test-secret-0123456789abcdef-01234"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def mint(sub: str = "user-1", *, now: float = NOW, **claims: Any) -> str:
    return mint_access_token(sub, secret=SECRET, now=now, **claims)


def is_cached(verifier: TokenVerifier, token: str, first: object) -> bool:
    return verifier.verify(token) is first


# -- the LRU itself ------------------------------------------------------------------------


def test_lru_evicts_the_least_recently_used(clock: Clock) -> None:
    lru: ExpiringLRU[str] = ExpiringLRU(3, clock)
    for key in "abc":
        lru.put(key, key.upper(), NOW + 60)
    assert lru.get("a") == "A"  # a is now the most recently used; b the least
    lru.put("d", "D", NOW + 60)
    assert len(lru) == 3
    assert lru.get("b") is None
    assert [lru.get(k) for k in "acd"] == ["A", "C", "D"]
    lru.put("c", "C2", NOW + 60)  # replacing refreshes too
    lru.put("e", "E", NOW + 60)
    assert lru.get("a") is None
    assert [lru.get(k) for k in "cde"] == ["C2", "D", "E"]


def test_lru_entry_dies_at_its_expiry(clock: Clock) -> None:
    lru: ExpiringLRU[str] = ExpiringLRU(10, clock)
    lru.put("t", "value", NOW + 10)
    clock.advance(9.999)
    assert lru.get("t") == "value"
    clock.advance(0.001)
    assert lru.get("t") is None
    assert len(lru) == 0  # dropped, not only hidden
    clock.now = NOW  # a clock set back does not resurrect it
    assert lru.get("t") is None


def test_lru_rejects_a_size_below_one(clock: Clock) -> None:
    with pytest.raises(ValueError):
        ExpiringLRU(0, clock)


# -- the cache in a verifier -------------------------------------------------------------------


def test_cache_is_on_by_default_with_10000_entries() -> None:
    assert DEFAULT_CACHE_SIZE == 10_000
    verifier = TokenVerifier(secret=SECRET, clock=Clock())
    tokens = [mint(f"user-{i}") for i in range(DEFAULT_CACHE_SIZE + 1)]
    first = [verifier.verify(t) for t in tokens[:DEFAULT_CACHE_SIZE]]
    assert all(r.valid for r in first)
    assert is_cached(verifier, tokens[0], first[0])  # every one still held; 0 now recent
    assert verifier.verify(tokens[DEFAULT_CACHE_SIZE]).valid  # one more evicts tokens[1]
    assert is_cached(verifier, tokens[0], first[0])
    assert is_cached(verifier, tokens[2], first[2])
    assert not is_cached(verifier, tokens[1], first[1])


def test_a_small_cache_evicts_the_least_recently_used() -> None:
    verifier = TokenVerifier(secret=SECRET, clock=Clock(), cache_size=2)
    a, b, c = (mint(s) for s in "abc")
    ra, rb = verifier.verify(a), verifier.verify(b)
    assert is_cached(verifier, a, ra)  # b is now the least recently used
    verifier.verify(c)
    assert not is_cached(verifier, b, rb)  # re-verified, correctly, but not from the cache
    assert verifier.verify(b).valid


def test_an_entry_never_outlives_its_token(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock)
    token = mint(expires_in=30)
    first = verifier.verify(token)
    assert first.valid
    clock.advance(29)
    assert is_cached(verifier, token, first)
    clock.advance(1)
    result = verifier.verify(token)
    assert result.error == "expired"
    clock.now = NOW  # an expired entry is gone, not hidden
    assert not is_cached(verifier, token, first)


def test_within_leeway_a_token_is_valid_but_no_longer_cached(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock, leeway=60)
    token = mint(expires_in=30)
    first = verifier.verify(token)
    clock.advance(40)  # past exp, inside the leeway
    second = verifier.verify(token)
    assert second.valid
    assert second is not first
    assert verifier.verify(token) is not second
    clock.advance(50)
    assert verifier.verify(token).error == "expired"


def test_only_successful_verifications_are_cached(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock)
    early = mint(nbf=int(NOW) + 60)
    assert verifier.verify(early).error == "not_yet_valid"
    clock.advance(60)
    assert verifier.verify(early).valid  # the refusal was not remembered
    assert len(verifier._cache or ()) == 1
    for bad in ("x.y.z", mint()[:-4] + "AAAA", mint(type="refresh")):
        assert not verifier.verify(bad).valid
    assert len(verifier._cache or ()) == 1


def test_cache_false_switches_it_off(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock, cache=False)
    token = mint()
    first = verifier.verify(token)
    second = verifier.verify(token)
    assert first.valid
    assert second == first
    assert second is not first
    verifier.clear_cache()  # harmless without a cache
    # cache_size does not matter when there is no cache.
    assert TokenVerifier(secret=SECRET, clock=clock, cache=False, cache_size=0).verify(token)


def test_cache_size_below_one_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        TokenVerifier(secret=SECRET, cache_size=0)


def test_clear_cache_forgets_every_token(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock)
    token = mint()
    first = verifier.verify(token)
    verifier.clear_cache()
    assert not is_cached(verifier, token, first)


def test_bytes_and_str_share_one_entry(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock)
    token = mint()
    first = verifier.verify(token)
    assert verifier.verify(token.encode()) is first


async def test_averify_uses_the_same_cache(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock)
    token = mint()
    first = await verifier.averify(token)
    assert verifier.verify(token) is first
    assert await verifier.averify(token) is first


# -- one configuration's cache never answers for another -----------------------------------------


def test_verify_access_token_keys_its_cache_by_configuration() -> None:
    token = mint_access_token("user-1", secret=SECRET, issuer="partner", audience="their-api")
    # Warm every permissive configuration first, so that a shared cache would answer.
    assert verify_access_token(token, secret=SECRET, issuer=None, audience=None).valid
    assert verify_access_token(token, secret=SECRET, issuer="partner", audience=None).valid
    assert verify_access_token(token, secret=SECRET, issuer=None, audience="their-api").valid
    assert verify_access_token(token, secret=SECRET, issuer="partner", audience="their-api")
    assert verify_access_token(token, secret=SECRET, issuer=None, audience=None).valid

    assert verify_access_token(token, secret=SECRET).error == "wrong_issuer"
    assert verify_access_token(token, secret=SECRET, issuer=None).error == "wrong_audience"
    assert verify_access_token(token, secret=SECRET, audience=None).error == "wrong_issuer"
    assert verify_access_token(
        token, secret=SECRET, issuer="partner", audience="tekcify-api"
    ).error == "wrong_audience"
    for other in (SECRET + "!", SECRET.encode() + b"!", SECRET[:-1]):
        assert verify_access_token(
            token, secret=other, issuer=None, audience=None
        ).error == "bad_signature"
    assert verify_access_token(
        token, secret=SECRET, issuer=None, audience=None, algorithms=["HS512"]
    ).error == "algorithm_not_allowed"


def test_verify_access_token_reuses_a_configuration_s_cache() -> None:
    token = mint_access_token("user-1", secret=SECRET)
    first = verify_access_token(token, secret=SECRET)
    assert verify_access_token(token, secret=SECRET) is first
    assert verify_access_token(token.encode(), secret=SECRET) is first
    # The same configuration spelt differently still finds the same verifier.
    assert verify_access_token(token, secret=SECRET, algorithms=["HS256", "HS384", "HS512"])
    listed = verify_access_token(token, secret=SECRET, algorithms=["HS256"])
    assert verify_access_token(token, secret=SECRET, algorithms=("HS256",)) is listed
    assert verify_access_token(token, secret=SECRET, algorithms="HS256") is listed


def test_leeway_is_part_of_the_configuration() -> None:
    expired = mint_access_token("user-1", secret=SECRET, expires_in=-10)
    assert verify_access_token(expired, secret=SECRET, leeway=60).valid
    assert verify_access_token(expired, secret=SECRET).error == "expired"


# -- the cached payload is shared, so it is read-only ----------------------------------------------


def _mutations(payload: Any) -> list[Any]:
    return [
        lambda: payload.__setitem__("sub", "admin"),
        lambda: payload.__delitem__("sub"),
        lambda: payload.update(role="admin"),
        lambda: payload.setdefault("admin", True),
        lambda: payload.pop("sub"),
        lambda: payload.popitem(),
        lambda: payload.clear(),
        lambda: payload.__ior__({"role": "admin"}),
        lambda: payload["scopes"].append("admin"),
        lambda: payload["scopes"].extend(["admin"]),
        lambda: payload["scopes"].insert(0, "admin"),
        lambda: payload["scopes"].__setitem__(0, "admin"),
        lambda: payload["scopes"].__setitem__(slice(0, 1), ["admin"]),
        lambda: payload["scopes"].__iadd__(["admin"]),
        lambda: payload["scopes"].__imul__(2),
        lambda: payload["scopes"].remove("read"),
        lambda: payload["scopes"].pop(),
        lambda: payload["scopes"].clear(),
        lambda: payload["scopes"].sort(),
        lambda: payload["scopes"].reverse(),
        lambda: payload["scopes"].__delitem__(0),
        lambda: payload["aud"].append("evil-api"),
        lambda: payload["ext"].__setitem__("tier", "gold"),
        lambda: payload["ext"]["groups"].append("admins"),
    ]


def test_the_cached_payload_cannot_be_changed_by_one_caller_for_another(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock)
    token = mint(scopes=["read", "write"], aud=["tekcify-api", "other"],
                 ext={"tier": "free", "groups": ["users"]})
    first = verifier.verify(token)
    snapshot = json.loads(json.dumps(first.payload))
    for mutate in _mutations(first.payload):
        with pytest.raises(TypeError):
            mutate()
    again = verifier.verify(token)
    assert again is first
    assert json.loads(json.dumps(again.payload)) == snapshot
    assert again.payload["scopes"] == ["read", "write"]
    with pytest.raises(AttributeError):
        again.valid = False  # type: ignore[misc]


def test_a_copy_of_the_payload_is_an_ordinary_mutable_one(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock)
    token = mint(scopes=["read"], ext={"groups": ["users"]})
    payload = verifier.verify(token).payload
    for made in (dict(payload), copy.copy(payload), copy.deepcopy(payload),
                 pickle.loads(pickle.dumps(payload))):
        made["sub"] = "changed"
        assert payload["sub"] == "user-1"
    deep = copy.deepcopy(payload)
    deep["scopes"].append("x")
    deep["ext"]["groups"].append("y")
    assert type(deep) is dict
    assert type(deep["scopes"]) is list
    assert payload["scopes"] == ["read"]
    assert payload == {**payload}  # still compares as a plain dict
    assert json.loads(json.dumps(payload))["ext"] == {"groups": ["users"]}


def test_a_refusal_s_payload_is_read_only_too() -> None:
    verifier = TokenVerifier(secret=SECRET)
    refused = verifier.verify("not-a-token")
    with pytest.raises(TypeError):
        refused.payload["sub"] = "admin"
    assert TokenVerifier(secret=SECRET).verify("not.a.token").payload == {}
    assert verify_access_token("still-not-a-token", secret=SECRET).payload == {}


# -- threads --------------------------------------------------------------------------------


def test_many_threads_share_one_verifier_safely(clock: Clock) -> None:
    verifier = TokenVerifier(secret=SECRET, clock=clock, cache_size=16)  # constant eviction
    valid = [mint(f"user-{i}") for i in range(40)]
    invalid = [t[:-4] + "AAAA" for t in valid[:10]] + [mint(type="refresh")]
    tokens = [(t, True) for t in valid] + [(t, False) for t in invalid]
    barrier = threading.Barrier(8)

    def hammer(seed: int) -> int:
        barrier.wait()
        checked = 0
        for round_ in range(300):
            token, ok = tokens[(seed * 7 + round_ * 13) % len(tokens)]
            result = verifier.verify(token)
            assert result.valid is ok
            if ok:
                assert result.payload["sub"].startswith("user-")
            checked += 1
        return checked

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = list(pool.map(hammer, range(8)))
    assert sum(done) == 8 * 300
    assert len(verifier._cache or ()) <= 16


def test_the_lru_holds_its_bound_under_concurrent_puts_gets_and_expiry(clock: Clock) -> None:
    lru: ExpiringLRU[int] = ExpiringLRU(50, clock)
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        barrier.wait()
        try:
            for i in range(3000):
                key = f"k{(seed * 31 + i) % 200}"
                if i % 3:
                    lru.put(key, i, NOW + (i % 5) - 1)  # some already expired
                else:
                    value = lru.get(key)
                    assert value is None or isinstance(value, int)
                if i % 500 == 0:
                    lru.clear()
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(lru) <= 50
