"""Two-factor sign-in through every way of calling a real server: set-up, the login's two
outcomes (``TokenSet`` or ``MfaChallenge``), ``login_mfa``, new backup codes, turning it off."""

from __future__ import annotations

import pyotp
import pytest

from tekcify_auth import (
    AuthServerError,
    BackupCodes,
    MessageResponse,
    MfaChallenge,
    MfaSetup,
    TokenSet,
    decode_token,
)

from .support import PASSWORD, Account, Api

pytestmark = pytest.mark.slow


async def test_mfa_set_up_sign_in_with_a_second_factor_and_turn_off(
    api: Api, account: Account
) -> None:
    token = account.tokens.access_token
    setup = await api.setup_mfa(token, password=PASSWORD)
    assert isinstance(setup, MfaSetup)
    assert setup.qr_code_url.startswith("data:image/png;base64,")
    assert len(setup.backup_codes) == 10
    assert setup.secret not in repr(setup)
    said = await api.verify_mfa_setup(token, pyotp.TOTP(setup.secret).now())
    assert isinstance(said, MessageResponse)

    challenge = await api.login(account.email, PASSWORD)
    assert isinstance(challenge, MfaChallenge)
    assert challenge.mfa_required is True
    assert challenge.methods == ["totp", "backup_code"]
    claims = decode_token(challenge.mfa_token)
    assert claims is not None
    assert claims["type"] == "temp"

    tokens = await api.login_mfa(challenge.mfa_token, backup_code=setup.backup_codes[0])
    assert isinstance(tokens, TokenSet)
    claims = decode_token(tokens.access_token)
    assert claims is not None
    assert claims["amr"] == ["pwd", "otp"]
    with pytest.raises(AuthServerError) as reused:
        await api.login_mfa(challenge.mfa_token, backup_code=setup.backup_codes[1])
    assert reused.value.status_code == 401

    fresh = await api.regenerate_backup_codes(
        token, setup.backup_codes[1], password=PASSWORD
    )
    assert isinstance(fresh, BackupCodes)
    assert len(fresh.backup_codes) == 10
    with pytest.raises(AuthServerError) as missing:
        await api.change_password(token, PASSWORD, "a brand new passphrase")
    assert missing.value.status_code == 400
    with pytest.raises(AuthServerError) as old:
        await api.disable_mfa(token, setup.backup_codes[2], password=PASSWORD)
    assert old.value.status_code == 403
    off = await api.disable_mfa(token, fresh.backup_codes[0], password=PASSWORD)
    assert isinstance(off, MessageResponse)
    assert isinstance(await api.login(account.email, PASSWORD), TokenSet)


async def test_without_mfa_login_still_answers_a_token_set(api: Api, account: Account) -> None:
    tokens = await api.login(account.email, PASSWORD)
    assert isinstance(tokens, TokenSet)
    assert tokens.access_token
    with pytest.raises(ValueError, match="exactly one"):
        await api.setup_mfa(account.tokens.access_token)
