"""Passkeys (``/api/auth/passkey*``): the 2.2.12 registration wire, listing, renaming and
removing, and signing in with a passkey, with a software authenticator
(``webauthn_soft.py``) answering the ceremonies. The hostile cases: expired, reused and
wrong challenges, another user's credential, another RP ID or origin, a cloned
authenticator (its counter going back), a disabled account, the last way to sign in.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from tekcify_auth.server.db.models import User
from tekcify_auth.server.db.passkeys import Passkey, WebAuthnChallenge
from tekcify_auth.server.db.security import SecurityActivity
from tekcify_auth.server.services.purge import purge

from .conftest import FakeClock, bearer, signed_up
from .mfa_helpers import enable_mfa, start_login
from .webauthn_soft import UP, SoftAuthenticator

BASE = "/api/auth/passkey"
ORIGIN = "http://tekcify.test"


async def add_passkey(
    client: httpx.AsyncClient, token: str, key: SoftAuthenticator | None = None,
    name: str | None = None,
) -> tuple[SoftAuthenticator, dict[str, Any]]:
    """Register a passkey for the holder of ``token``; the authenticator and ``Passkey``."""
    key = key or SoftAuthenticator()
    options = await client.post(f"{BASE}/register/options", headers=bearer(token))
    assert options.status_code == 200, options.text
    body: dict[str, Any] = {
        "credential": key.register(options.json()["options"], origin=ORIGIN),
        "challenge": options.json()["challenge"],
    }
    if name is not None:
        body["name"] = name
    response = await client.post(f"{BASE}/register", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    return key, response.json()


async def passkey_login(
    client: httpx.AsyncClient, key: SoftAuthenticator, **bend: Any
) -> httpx.Response:
    """Sign in with ``key``; ``bend`` goes to :meth:`SoftAuthenticator.get`."""
    options = (await client.post(f"{BASE}/login/options")).json()
    credential = key.get(options["options"], origin=bend.pop("origin", ORIGIN), **bend)
    return await client.post(
        f"{BASE}/login", json={"credential": credential, "challenge": options["challenge"]}
    )


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    padded = payload + "=" * (-len(payload) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


def events(app: FastAPI, activity_type: str) -> list[SecurityActivity]:
    with app.state.ctx.db.read() as db:
        return list(db.execute(
            select(SecurityActivity).where(SecurityActivity.activity_type == activity_type)
        ).scalars())


async def test_registration_options_follow_the_2_2_12_wire(client: httpx.AsyncClient) -> None:
    tokens = await signed_up(client)
    response = await client.post(f"{BASE}/register/options", headers=bearer(tokens["accessToken"]))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"options", "challenge"}
    options = body["options"]
    assert options["challenge"] == body["challenge"]
    assert options["rp"] == {"name": "Tekcify", "id": "tekcify.test"}
    assert options["user"]["name"] == "ada@example.com"
    assert {"id", "name", "displayName"} <= set(options["user"])
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["timeout"] == 300_000
    assert options["attestation"] == "none"
    selection = options["authenticatorSelection"]
    assert selection["userVerification"] == "required"
    assert selection["requireResidentKey"] is True
    assert selection["residentKey"] == "required"
    assert isinstance(selection["authenticatorAttachment"], str)
    assert options["excludeCredentials"] == []


async def test_register_list_rename_delete(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    key, passkey = await add_passkey(client, token, name="Laptop")
    clock.advance(1)
    assert set(passkey) == {"id", "credentialId", "name", "createdAt", "lastUsedAt"}
    assert passkey["credentialId"] == key.id
    assert passkey["name"] == "Laptop"
    assert passkey["lastUsedAt"] is None
    assert passkey["createdAt"].endswith("Z")
    _second_key, second = await add_passkey(client, token)
    assert second["name"] == "Passkey 2"

    listed = await client.get(BASE, headers=bearer(token))
    assert [p["credentialId"] for p in listed.json()] == [key.id, second["credentialId"]]
    options = await client.post(f"{BASE}/register/options", headers=bearer(token))
    excluded = [c["id"] for c in options.json()["options"]["excludeCredentials"]]
    assert excluded == [key.id, second["credentialId"]]

    renamed = await client.put(
        f"{BASE}/{key.id}/rename", json={"name": " Work laptop "}, headers=bearer(token)
    )
    assert renamed.status_code == 200
    assert renamed.json() == {**passkey, "name": "Work laptop"}
    deleted = await client.delete(f"{BASE}/{key.id}", headers=bearer(token))
    assert deleted.status_code == 200
    assert [p["id"] for p in (await client.get(BASE, headers=bearer(token))).json()] == [
        second["id"]
    ]
    for kind in ("passkey_added", "passkey_renamed", "passkey_removed"):
        assert events(app, kind), kind
    listed_activity = await client.get(
        "/api/security/activity", params={"activityType": "passkey_added"},
        headers=bearer(token),
    )
    assert listed_activity.json()["total"] == 2


async def test_a_blank_or_overlong_name_is_refused(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token)
    for name in ("", "   ", "x" * 101, "a\nb"):
        response = await client.put(
            f"{BASE}/{key.id}/rename", json={"name": name}, headers=bearer(token)
        )
        assert response.status_code == 400, name


async def test_passkey_sign_in_gives_the_token_pair_with_amr(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token)
    response = await passkey_login(client, key)
    assert response.status_code == 200, response.text
    pair = response.json()
    assert {"accessToken", "refreshToken", "expiresIn"} <= set(pair)
    assert response.headers["cache-control"] == "no-store"
    access = claims(pair["accessToken"])
    assert access["amr"] == ["hwk", "user"]
    assert access["type"] == "access"
    me = await client.get("/api/user/profile", headers=bearer(pair["accessToken"]))
    assert me.status_code == 200, me.text
    listed = (await client.get(BASE, headers=bearer(pair["accessToken"]))).json()
    assert listed[0]["lastUsedAt"] is not None
    assert events(app, "passkey_used")
    assert any(e.success for e in events(app, "login_success"))
    # A password sign-in says nothing of a passkey.
    assert "amr" not in claims(token) or claims(token)["amr"] != ["hwk", "user"]


async def test_an_expired_challenge_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    key = SoftAuthenticator()
    options = (await client.post(f"{BASE}/register/options", headers=bearer(token))).json()
    clock.advance(301)
    response = await client.post(
        f"{BASE}/register",
        json={"credential": key.register(options["options"], origin=ORIGIN),
              "challenge": options["challenge"]},
        headers=bearer(token),
    )
    assert response.status_code == 400
    assert "expired" in response.json()["message"]
    assert (await client.get(BASE, headers=bearer(token))).json() == []


async def test_an_expired_sign_in_challenge_is_refused(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token)
    options = (await client.post(f"{BASE}/login/options")).json()
    clock.advance(301)
    response = await client.post(
        f"{BASE}/login",
        json={"credential": key.get(options["options"], origin=ORIGIN),
              "challenge": options["challenge"]},
    )
    assert response.status_code == 400


async def test_a_challenge_serves_once(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    key = SoftAuthenticator()
    options = (await client.post(f"{BASE}/register/options", headers=bearer(token))).json()
    body = {"credential": key.register(options["options"], origin=ORIGIN),
            "challenge": options["challenge"]}
    first = await client.post(f"{BASE}/register", json=body, headers=bearer(token))
    assert first.status_code == 200
    again = await client.post(f"{BASE}/register", json=body, headers=bearer(token))
    assert again.status_code == 400
    # Sign-in: the same assertion twice.
    login_options = (await client.post(f"{BASE}/login/options")).json()
    assertion = {"credential": key.get(login_options["options"], origin=ORIGIN),
                 "challenge": login_options["challenge"]}
    assert (await client.post(f"{BASE}/login", json=assertion)).status_code == 200
    replay = await client.post(f"{BASE}/login", json=assertion)
    assert replay.status_code == 400


async def test_a_failed_answer_uses_the_challenge_up(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    key = SoftAuthenticator()
    options = (await client.post(f"{BASE}/register/options", headers=bearer(token))).json()
    bad = key.register(options["options"], origin="https://evil.example")
    body = {"credential": bad, "challenge": options["challenge"]}
    refused = await client.post(f"{BASE}/register", json=body, headers=bearer(token))
    assert refused.status_code == 400
    good = {"credential": key.register(options["options"], origin=ORIGIN),
            "challenge": options["challenge"]}
    too_late = await client.post(f"{BASE}/register", json=good, headers=bearer(token))
    assert too_late.status_code == 400


async def test_a_registration_signed_over_the_wrong_challenge_is_refused(
    client: httpx.AsyncClient,
) -> None:
    token = (await signed_up(client))["accessToken"]
    key = SoftAuthenticator()
    first = (await client.post(f"{BASE}/register/options", headers=bearer(token))).json()
    second = (await client.post(f"{BASE}/register/options", headers=bearer(token))).json()
    # The authenticator answered the first challenge; the client sends the second.
    credential = key.register(first["options"], origin=ORIGIN)
    response = await client.post(
        f"{BASE}/register", json={"credential": credential, "challenge": second["challenge"]},
        headers=bearer(token),
    )
    assert response.status_code == 400
    made_up = await client.post(
        f"{BASE}/register", json={"credential": credential, "challenge": "A" * 43},
        headers=bearer(token),
    )
    assert made_up.status_code == 400
    assert (await client.get(BASE, headers=bearer(token))).json() == []


async def test_another_users_registration_challenge_is_refused(
    client: httpx.AsyncClient,
) -> None:
    ada = (await signed_up(client))["accessToken"]
    bob = (await signed_up(client, "bob@example.com"))["accessToken"]
    options = (await client.post(f"{BASE}/register/options", headers=bearer(ada))).json()
    key = SoftAuthenticator()
    response = await client.post(
        f"{BASE}/register",
        json={"credential": key.register(options["options"], origin=ORIGIN),
              "challenge": options["challenge"]},
        headers=bearer(bob),
    )
    assert response.status_code == 400
    assert (await client.get(BASE, headers=bearer(bob))).json() == []


async def test_another_users_passkey_cannot_be_renamed_deleted_or_reregistered(
    client: httpx.AsyncClient,
) -> None:
    ada = (await signed_up(client))["accessToken"]
    bob = (await signed_up(client, "bob@example.com"))["accessToken"]
    key, passkey = await add_passkey(client, ada, name="Ada's phone")
    rename = await client.put(
        f"{BASE}/{key.id}/rename", json={"name": "mine now"}, headers=bearer(bob)
    )
    assert rename.status_code == 404
    delete = await client.delete(f"{BASE}/{key.id}", headers=bearer(bob))
    assert delete.status_code == 404
    assert (await client.get(BASE, headers=bearer(ada))).json() == [passkey]
    # The same authenticator credential registered to Bob: refused, Ada keeps it.
    options = (await client.post(f"{BASE}/register/options", headers=bearer(bob))).json()
    again = await client.post(
        f"{BASE}/register",
        json={"credential": key.register(options["options"], origin=ORIGIN),
              "challenge": options["challenge"]},
        headers=bearer(bob),
    )
    assert again.status_code == 409
    assert (await client.get(BASE, headers=bearer(bob))).json() == []


async def test_an_assertion_naming_another_user_is_refused(client: httpx.AsyncClient) -> None:
    ada = (await signed_up(client))["accessToken"]
    bob = (await signed_up(client, "bob@example.com"))["accessToken"]
    ada_key, _ = await add_passkey(client, ada)
    bob_key, _ = await add_passkey(client, bob)
    # Ada's credential with Bob's user handle: the handle must be the credential owner's.
    response = await passkey_login(client, ada_key, user_handle=bob_key.user_handle)
    assert response.status_code == 401
    # Bob's key signing for Ada's credential id: the signature does not verify.
    forged = SoftAuthenticator()
    forged.credential_id = ada_key.credential_id
    forged.key = bob_key.key
    forged.user_handle = ada_key.user_handle
    forged.rp_id = ada_key.rp_id
    assert (await passkey_login(client, forged)).status_code == 401


async def test_an_assertion_for_another_rp_id_or_origin_is_refused(
    client: httpx.AsyncClient,
) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token)
    assert (await passkey_login(client, key, rp_id="evil.example")).status_code == 401
    assert (await passkey_login(client, key, origin="https://evil.example")).status_code == 401
    assert (await passkey_login(client, key, origin="https://tekcify.test")).status_code == 401
    assert (await passkey_login(client, key)).status_code == 200


async def test_a_registration_for_another_rp_id_or_origin_is_refused(
    client: httpx.AsyncClient,
) -> None:
    token = (await signed_up(client))["accessToken"]
    for bend in ({"origin": "https://evil.example"}, {"origin": ORIGIN, "rp_id": "evil.example"}):
        options = (await client.post(f"{BASE}/register/options", headers=bearer(token))).json()
        response = await client.post(
            f"{BASE}/register",
            json={"credential": SoftAuthenticator().register(options["options"], **bend),
                  "challenge": options["challenge"]},
            headers=bearer(token),
        )
        assert response.status_code == 400, bend
    assert (await client.get(BASE, headers=bearer(token))).json() == []


async def test_user_verification_is_required(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    options = (await client.post(f"{BASE}/register/options", headers=bearer(token))).json()
    response = await client.post(
        f"{BASE}/register",
        json={"credential": SoftAuthenticator().register(options["options"], origin=ORIGIN,
                                                         flags=UP | 0x40),
              "challenge": options["challenge"]},
        headers=bearer(token),
    )
    assert response.status_code == 400
    key, _ = await add_passkey(client, token)
    assert (await passkey_login(client, key, flags=UP)).status_code == 401


async def test_a_cloned_authenticator_is_refused_and_logged(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token, SoftAuthenticator(sign_count=5))
    assert (await passkey_login(client, key, sign_count=10)).status_code == 200
    # The clone still says 7: it has not seen the original's last use.
    for count in (7, 10):
        response = await passkey_login(client, key, sign_count=count)
        assert response.status_code == 401
        assert "counter" in response.json()["message"]
    logged = events(app, "passkey_sign_count_regression")
    assert len(logged) == 2
    assert logged[0].success is False
    assert logged[0].details is not None
    assert {logged[0].details["storedCount"], logged[0].details["presentedCount"]} == {10, 7}
    with app.state.ctx.db.read() as db:
        assert db.execute(select(Passkey.sign_count)).scalar_one() == 10
    assert (await passkey_login(client, key, sign_count=11)).status_code == 200


async def test_an_authenticator_without_a_counter_signs_in_again(
    client: httpx.AsyncClient,
) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token)
    for _ in range(2):  # synced passkeys always say 0
        assert (await passkey_login(client, key, sign_count=0)).status_code == 200


async def test_a_disabled_account_cannot_sign_in_with_a_passkey(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token)
    with app.state.ctx.db.write() as db:
        db.execute(update(User).values(disabled_at=clock()))
    response = await passkey_login(client, key)
    assert response.status_code == 403


async def test_an_unknown_credential_is_refused(client: httpx.AsyncClient) -> None:
    options = (await client.post(f"{BASE}/login/options")).json()
    assert options["options"]["allowCredentials"] == []
    assert options["options"]["userVerification"] == "required"
    assert options["options"]["rpId"] == "tekcify.test"
    key = SoftAuthenticator()
    key.rp_id = "tekcify.test"
    key.user_handle = "eA"
    response = await client.post(
        f"{BASE}/login",
        json={"credential": key.get(options["options"], origin=ORIGIN),
              "challenge": options["challenge"]},
    )
    assert response.status_code == 401


async def test_wrong_passkeys_hit_the_login_limit(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token)
    for _ in range(5):
        assert (await passkey_login(client, key, origin="https://evil.example")).status_code == 401
    response = await passkey_login(client, key)
    assert response.status_code == 429
    assert "retry-after" in response.headers


async def test_the_last_way_to_sign_in_cannot_be_removed(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    token = (await signed_up(client))["accessToken"]
    first, _ = await add_passkey(client, token)
    second, _ = await add_passkey(client, token)
    with app.state.ctx.db.write() as db:
        db.execute(update(User).values(password_hash=""))  # signed up without a password
    assert (await client.delete(f"{BASE}/{first.id}", headers=bearer(token))).status_code == 200
    last = await client.delete(f"{BASE}/{second.id}", headers=bearer(token))
    assert last.status_code == 409
    assert "only way to sign in" in last.json()["message"]
    assert len((await client.get(BASE, headers=bearer(token))).json()) == 1


async def test_with_a_password_the_last_passkey_can_go(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    key, _ = await add_passkey(client, token)
    assert (await client.delete(f"{BASE}/{key.id}", headers=bearer(token))).status_code == 200
    assert (await client.delete(f"{BASE}/{key.id}", headers=bearer(token))).status_code == 404


async def test_passkey_routes_need_a_first_party_token(client: httpx.AsyncClient) -> None:
    assert (await client.get(BASE)).status_code == 401
    assert (await client.post(f"{BASE}/register/options")).status_code == 401
    assert (await client.delete(f"{BASE}/abc")).status_code == 401


async def test_purge_deletes_expired_challenges(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    await client.post(f"{BASE}/register/options", headers=bearer(token))
    await client.post(f"{BASE}/login/options")
    clock.advance(200)
    await client.post(f"{BASE}/login/options")
    clock.advance(120)  # the first two are expired, the last is not
    report = purge(app.state.ctx.db, clock(), timedelta(days=1))
    assert report.webauthn_challenges == 2
    with app.state.ctx.db.read() as db:
        assert db.execute(select(func.count()).select_from(WebAuthnChallenge)).scalar_one() == 1


async def test_the_export_lists_passkeys(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    key, passkey = await add_passkey(client, token, name="Phone")
    exported = (await client.get("/api/user/export-data", headers=bearer(token))).json()
    assert exported["passkeys"] == [{
        "id": passkey["id"], "credentialId": key.id, "name": "Phone",
        "deviceType": "single_device", "createdAt": passkey["createdAt"], "lastUsedAt": None,
    }]


@pytest.mark.parametrize("credential", [{}, {"id": "x"}, {"id": 5, "response": []}])
async def test_a_malformed_credential_is_refused(
    client: httpx.AsyncClient, credential: dict[str, Any]
) -> None:
    token = (await signed_up(client))["accessToken"]
    options = (await client.post(f"{BASE}/register/options", headers=bearer(token))).json()
    response = await client.post(
        f"{BASE}/register", json={"credential": credential, "challenge": options["challenge"]},
        headers=bearer(token),
    )
    assert response.status_code == 400
    login_options = (await client.post(f"{BASE}/login/options")).json()
    login = await client.post(
        f"{BASE}/login", json={"credential": credential, "challenge": login_options["challenge"]}
    )
    assert login.status_code in (400, 401)


# -- a passkey as the second factor of a password sign-in (MFA on) ---------------------------


async def second_factor(
    client: httpx.AsyncClient, key: SoftAuthenticator, mfa_token: str, **bend: Any
) -> httpx.Response:
    """Answer the challenge ``mfa_token`` with ``key``."""
    options = await client.post(f"{BASE}/login/options", json={"mfaToken": mfa_token})
    assert options.status_code == 200, options.text
    body = options.json()
    credential = key.get(body["options"], origin=ORIGIN, **bend)
    return await client.post(
        f"{BASE}/login",
        json={"credential": credential, "challenge": body["challenge"], "mfaToken": mfa_token},
    )


async def test_a_passkey_completes_a_password_sign_in_with_mfa_on(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    await enable_mfa(client, token, clock)
    key, _ = await add_passkey(client, token)
    challenge = await start_login(client)
    assert challenge["methods"] == ["totp", "backup_code", "passkey"]
    options = (await client.post(
        f"{BASE}/login/options", json={"mfaToken": challenge["mfaToken"]}
    )).json()["options"]
    assert [c["id"] for c in options["allowCredentials"]] == [key.id]
    response = await second_factor(client, key, challenge["mfaToken"])
    assert response.status_code == 200, response.text
    assert claims(response.json()["accessToken"])["amr"] == ["pwd", "hwk", "user"]
    # The temp token served once: no more options for it, nor a sign-in.
    again = await client.post(f"{BASE}/login/options", json={"mfaToken": challenge["mfaToken"]})
    assert again.status_code == 401
    replayed = await client.post(
        f"{BASE}/login",
        json={"credential": key.get(options, origin=ORIGIN), "challenge": options["challenge"],
              "mfaToken": challenge["mfaToken"]},
    )
    assert replayed.status_code == 401


async def test_without_passkeys_the_challenge_offers_none(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    await enable_mfa(client, token, clock)
    assert (await start_login(client))["methods"] == ["totp", "backup_code"]


async def test_another_users_passkey_cannot_answer_the_challenge(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    ada = (await signed_up(client))["accessToken"]
    bob = (await signed_up(client, "bob@example.com"))["accessToken"]
    await enable_mfa(client, ada, clock)
    await add_passkey(client, ada)
    bob_key, _ = await add_passkey(client, bob)
    challenge = await start_login(client)
    response = await second_factor(client, bob_key, challenge["mfaToken"])
    assert response.status_code == 401
    # Bob's passkey alone still signs Bob in (a challenge of no one's).
    assert (await passkey_login(client, bob_key)).status_code == 200


async def test_a_discoverable_challenge_cannot_complete_a_second_factor(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = (await signed_up(client))["accessToken"]
    await enable_mfa(client, token, clock)
    key, _ = await add_passkey(client, token)
    challenge = await start_login(client)
    options = (await client.post(f"{BASE}/login/options")).json()  # bound to no user
    response = await client.post(
        f"{BASE}/login",
        json={"credential": key.get(options["options"], origin=ORIGIN),
              "challenge": options["challenge"], "mfaToken": challenge["mfaToken"]},
    )
    assert response.status_code == 400


async def test_a_made_up_mfa_token_gets_no_options(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}/login/options", json={"mfaToken": "not.a.token"})
    assert response.status_code == 401


async def test_challenges_are_stored_as_hashes(app: FastAPI, client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    handed = [
        (await client.post(f"{BASE}/register/options", headers=bearer(token))).json(),
        (await client.post(f"{BASE}/login/options")).json(),
    ]
    with app.state.ctx.db.read() as db:
        rows = list(db.execute(select(WebAuthnChallenge)).scalars())
    stored = {row.challenge_hash for row in rows}
    for options in handed:
        assert hashlib.sha256(options["challenge"].encode()).hexdigest() in stored
        assert all(options["challenge"] not in str(vars(row)) for row in rows)


async def test_unknown_passkeys_hit_the_limit_of_the_address(client: httpx.AsyncClient) -> None:
    token = (await signed_up(client))["accessToken"]
    known, _ = await add_passkey(client, token)
    stranger = SoftAuthenticator()
    stranger.rp_id, stranger.user_handle = known.rp_id, known.user_handle
    for _ in range(5):
        assert (await passkey_login(client, stranger)).status_code == 401
    response = await passkey_login(client, stranger)
    assert response.status_code == 429
    assert "retry-after" in response.headers
