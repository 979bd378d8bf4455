"""``verify_access_token(..., clients=...)``: only the tokens issued to given applications.

Issue 10 item 5: every application's token verified against the shared audience, so one
application's backend accepted another's tokens. The server now issues
``aud: ["tekcify-api", client id]`` with the ``clientId`` claim, and ``clients=`` keeps
the others out; first-party tokens pass it only with ``allow_first_party=True``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tekcify_auth import ConfigurationError, verify_access_token
from tekcify_auth._verify import ERROR_WORDS
from tekcify_auth.testing import SigningKey, mint_access_token

SECRET = "verify-clients-secret-0123456789abcdef"
APP_A, APP_B = "app-a", "app-b"


def mint(sub: str = "user-1", **claims: Any) -> str:
    return mint_access_token(sub, secret=SECRET, **claims)


def test_an_applications_token_names_it_in_aud_and_still_verifies_without_clients() -> None:
    token = mint(client_id=APP_A)
    result = verify_access_token(token, secret=SECRET)
    assert result.valid, result.error
    assert result.payload["aud"] == ["tekcify-api", APP_A]
    assert result.payload["clientId"] == APP_A


def test_clients_accepts_the_named_applications_tokens_only() -> None:
    mine = verify_access_token(mint(client_id=APP_B), secret=SECRET, clients=[APP_B])
    assert mine.valid
    theirs = verify_access_token(mint(client_id=APP_A), secret=SECRET, clients=[APP_B])
    assert (theirs.valid, theirs.error, dict(theirs.payload)) == (False, "wrong_client", {})
    both = [APP_A, APP_B]
    assert verify_access_token(mint(client_id=APP_A), secret=SECRET, clients=both).valid


def test_one_string_is_one_client_id_not_its_letters() -> None:
    assert verify_access_token(mint(client_id=APP_B), secret=SECRET, clients=APP_B).valid
    assert verify_access_token(mint(client_id="a"), secret=SECRET, clients="app-a").error == (
        "wrong_client"
    )


def test_a_first_party_token_needs_allow_first_party() -> None:
    token = mint()
    assert verify_access_token(token, secret=SECRET, clients=[APP_B]).error == "wrong_client"
    assert verify_access_token(
        token, secret=SECRET, clients=[APP_B], allow_first_party=True
    ).valid


def test_a_client_id_in_aud_alone_is_not_enough() -> None:
    # The application is the clientId claim: a token naming app B only in a foreign
    # aud entry, without clientId, is not app B's.
    token = mint(audience=None, aud=["tekcify-api", APP_B])
    assert verify_access_token(token, secret=SECRET, clients=[APP_B]).error == "wrong_client"


def test_a_bad_token_keeps_its_own_error_word() -> None:
    expired = mint(client_id=APP_B, expires_in=-60)
    assert verify_access_token(expired, secret=SECRET, clients=[APP_B]).error == "expired"
    forged = mint_access_token("user-1", secret="another secret", client_id=APP_B)
    assert verify_access_token(forged, secret=SECRET, clients=[APP_B]).error == "bad_signature"


def test_clients_works_with_a_public_key_too() -> None:
    key = SigningKey.generate("ES256")
    token = key.mint("user-1", client_id=APP_A)
    assert verify_access_token(token, key=key.public_jwk(), clients=[APP_A]).valid
    assert verify_access_token(token, key=key.public_jwk(), clients=[APP_B]).error == (
        "wrong_client"
    )


def test_a_client_credentials_token_of_a_named_client_verifies() -> None:
    # It is that application's token; acting for no user is for the guards to refuse.
    token = mint(APP_B, client_id=APP_B)
    assert verify_access_token(token, secret=SECRET, clients=[APP_B]).valid


@pytest.mark.parametrize("clients", [[], (), "", [""], [3]])
def test_an_empty_or_odd_client_list_is_a_configuration_error(clients: Any) -> None:
    with pytest.raises(ConfigurationError, match="clients="):
        verify_access_token(mint(client_id=APP_B), secret=SECRET, clients=clients)


def test_wrong_client_is_a_documented_error_word() -> None:
    assert "wrong_client" in ERROR_WORDS
