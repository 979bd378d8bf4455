"""Sign-in with upstream providers (issue 15, item 5), over real 127.0.0.1 sockets.

Our server runs under uvicorn; the browser is httpx following our pages and the
provider's. The upstream is the npm ``oidc-provider`` (OpenID Certified) where a certified
provider's behaviour is the point (sign-up, linking), and a small provider of the test
(:class:`~social_support.FakeUpstream`) where the answer must be one no certified
provider sends: an id token with ``alg: none``, signed by another key, for another
nonce or another client. A second instance of our own server (``tekcify-auth serve``)
is the upstream of the same sign-up and linking cases too.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from joserfc.jwk import RSAKey
from sqlalchemy import select

from e2e.support import ServerProcess, forms_of
from node.support import mail_to, six_digit_code
from tekcify_auth.server import create_app
from tekcify_auth.server.db.models import User
from tekcify_auth.server.db.security import SecurityActivity
from tekcify_auth.server.db.social import SocialAccount
from tekcify_auth.server.services import accounts, mfa

from .conftest import PASSWORD, make_settings
from .social_support import (
    CALLBACK,
    CLIENT_ID,
    FakeUpstream,
    first_party_token,
    follow,
    free_port,
    installed_oidc_provider,
    oidc_upstream,
    providers_file,
    social_button,
    through_upstream_forms,
)
from .test_authorize import Client, alert_text, authorization, make_client, parse_page
from .test_keys import serve

pytestmark = pytest.mark.slow

#: oidc-provider's accounts: the id typed into its login form picks the claims.
ACCOUNTS: dict[str, dict[str, Any]] = {
    "newcomer": {"email": "newcomer@example.com", "email_verified": True,
                 "given_name": "Nora", "family_name": "Newcomer"},
    "ada-at-upstream": {"email": "ada@example.com", "email_verified": True},
    # Someone else asserting ada's address without having verified it.
    "mallory": {"email": "ada@example.com", "email_verified": False},
}


@dataclass
class Site:
    """Our server (``base``), its app, an application of it, and the fake upstream."""

    base: str
    app: FastAPI
    client: Client
    fake: FakeUpstream

    def login_page(self, browser: httpx.Client) -> httpx.Response:
        page = browser.get(self.base + authorization(self.client).url)
        assert page.status_code == 200, page.text
        return page

    def user(self, email: str) -> User | None:
        with self.app.state.ctx.db.read() as db:
            return accounts.find_by_email(db, email)

    def links(self, email: str) -> list[SocialAccount]:
        with self.app.state.ctx.db.read() as db:
            user = accounts.find_by_email(db, email)
            assert user is not None
            return list(db.execute(
                select(SocialAccount).where(SocialAccount.user_id == user.id)
            ).scalars())

    def add_user(self, email: str, *, verified: bool, password: str | None = PASSWORD) -> None:
        ctx = self.app.state.ctx
        with ctx.db.write() as db:
            user = accounts.create_user(
                db, ctx, email=email,
                password_hash=ctx.passwords.hash(password) if password else "",
            )
            if verified:
                user.email_verified, user.email_verified_at = True, ctx.clock()

    def activity(self, email: str) -> list[tuple[str, dict[str, Any] | None]]:
        with self.app.state.ctx.db.read() as db:
            user = accounts.find_by_email(db, email)
            assert user is not None
            rows = db.execute(
                select(SecurityActivity).where(SecurityActivity.user_id == user.id)
                .order_by(SecurityActivity.created_at)
            ).scalars()
            return [(row.activity_type, row.details) for row in rows]


StartSite = Callable[..., AbstractContextManager[Site]]


@pytest.fixture
def start_site(database_url: str, clean_db: str, tmp_path: Path) -> StartSite:
    """``start_site(upstreams=..., **settings)``: our server with the fake upstream as
    provider ``fake`` (plus ``upstreams``: more ``name=discovery URL``)."""

    @contextmanager
    def start(
        upstreams: dict[str, str] | None = None, more_toml: str = "", **settings: Any
    ) -> Iterator[Site]:
        with FakeUpstream().running() as fake:
            discovery = {"fake": f"{fake.base}/.well-known/openid-configuration",
                         **(upstreams or {})}
            path = providers_file(tmp_path, **discovery)
            path.write_text(path.read_text() + more_toml.format(fake=fake.base))
            app = create_app(make_settings(
                database_url=database_url, data_dir=tmp_path / "data",
                social_providers_file=path, **settings,
            ))
            with serve(app) as base:
                yield Site(base, app, make_client(app), fake)

    return start


@pytest.fixture
def site(start_site: StartSite) -> Iterator[Site]:
    with start_site() as started:
        yield started


def api_client(site: Site, token: str) -> httpx.Client:
    """A client of our API with ``token``."""
    auth = {"Authorization": f"Bearer {token}"}
    return httpx.Client(timeout=30, base_url=site.base, headers=auth)


def fake_callback(
    site: Site, browser: httpx.Client, state: str, code: str = "c0de"
) -> httpx.Response:
    """The browser coming back from the fake upstream to our callback."""
    url = site.base + CALLBACK.format(name="fake")
    return browser.get(url, params={"state": state, "code": code})


def fake_sign_in(site: Site, browser: httpx.Client) -> tuple[dict[str, str], httpx.Response]:
    """Press "Continue with Fake" and come back with a code: what was sent, our answer."""
    start = site.base + social_button(site.login_page(browser), "fake")
    sent = site.fake.started_flow(browser, start)
    return sent, fake_callback(site, browser, sent["state"])


def signed_in_as(site: Site, browser: httpx.Client) -> str | None:
    """The email our consent page shows this browser, or ``None`` (the login page)."""
    page = browser.get(site.base + authorization(site.client).url)
    found = re.search(r"<strong>([^<]+@[^<]+)</strong>", page.text)
    if "Allow" not in page.text or found is None:
        return None
    return found.group(1)


# -- the flow toward the upstream -------------------------------------------------------


def test_the_login_page_shows_one_button_per_provider(start_site: StartSite) -> None:
    corp = {"corp": "https://sso.example.com/.well-known/openid-configuration"}
    with start_site(upstreams=corp) as site, httpx.Client(timeout=30) as browser:
        page = site.login_page(browser)
        assert "Continue with Fake" in page.text
        assert "Continue with Corp" in page.text
        assert social_button(page, "corp").startswith("/api/oauth/social/corp/start?next=")


def test_the_upstream_gets_state_nonce_and_pkce_s256(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        sent, back = fake_sign_in(site, browser)
        assert sent["response_type"] == "code"
        assert sent["client_id"] == CLIENT_ID
        assert sent["redirect_uri"] == site.base + CALLBACK.format(name="fake")
        assert len(sent["state"]) >= 32
        assert len(sent["nonce"]) >= 32
        assert sent["code_challenge_method"] == "S256"
        assert back.status_code == 303, back.text
    [token_request] = site.fake.requests
    verifier = token_request["code_verifier"][0]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert digest.decode() == sent["code_challenge"]
    assert token_request["code"] == ["c0de"]
    assert token_request["authorization"][0].startswith("Basic ")


def test_an_upstream_state_that_does_not_match_is_refused(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        start = site.base + social_button(site.login_page(browser), "fake")
        sent = site.fake.started_flow(browser, start)
        wrong = fake_callback(site, browser, sent["state"][:-2] + "xx")
        assert wrong.status_code == 400
        assert "did not start in this browser" in alert_text(wrong)
        # The right state, in a browser that did not start the flow.
        with httpx.Client(timeout=30) as other:
            other.get(site.base + authorization(site.client).url)  # its own CSRF cookie
            assert fake_callback(site, other, sent["state"]).status_code == 400
        assert site.fake.requests == []  # no code was exchanged
        # The flow is still there for its own browser, once.
        assert fake_callback(site, browser, sent["state"]).status_code == 303
        assert fake_callback(site, browser, sent["state"]).status_code == 400
    assert site.user("fresh@example.com") is not None


def forged(site: Site, make: Callable[[str], str]) -> httpx.Response:
    site.fake.id_token = make
    with httpx.Client(timeout=30) as browser:
        _sent, back = fake_sign_in(site, browser)
        assert signed_in_as(site, browser) is None
    assert site.user("fresh@example.com") is None
    return back


def test_an_upstream_id_token_with_another_nonce_is_refused(site: Site) -> None:
    back = forged(site, lambda nonce: site.fake.sign(site.fake.claims(nonce + "x")))
    assert back.status_code == 400
    assert "could not be verified" in alert_text(back)


def test_an_upstream_id_token_without_a_nonce_is_refused(site: Site) -> None:
    back = forged(site, lambda nonce: site.fake.sign(site.fake.claims(nonce, nonce=None)))
    assert back.status_code == 400


def test_an_upstream_id_token_with_alg_none_is_refused(site: Site) -> None:
    # The fake's discovery even lists "none" among its algorithms.
    back = forged(site, lambda nonce: site.fake.unsigned(site.fake.claims(nonce)))
    assert back.status_code == 400
    assert "could not be verified" in alert_text(back)


def test_an_upstream_id_token_signed_by_another_key_is_refused(site: Site) -> None:
    other = RSAKey.generate_key(2048, {"kid": site.fake.key.kid})  # even under the right kid
    back = forged(site, lambda nonce: site.fake.sign(site.fake.claims(nonce), other))
    assert back.status_code == 400
    stranger = RSAKey.generate_key(2048, {"kid": "unknown"})
    assert forged(site, lambda n: site.fake.sign(site.fake.claims(n), stranger)).status_code == 400


def test_an_upstream_id_token_for_another_client_or_issuer_is_refused(site: Site) -> None:
    for changes in ({"aud": "another-client"}, {"aud": ["another-client"], "azp": CLIENT_ID},
                    {"iss": "https://evil.example.com"}, {"exp": 1_000_000}):
        back = forged(site, lambda nonce, c=changes: site.fake.sign(site.fake.claims(nonce, **c)))
        assert back.status_code == 400, changes


def test_an_authorization_response_from_another_issuer_is_refused(site: Site) -> None:
    # RFC 9207: a mix-up, the code of another provider sent back to this callback.
    with httpx.Client(timeout=30) as browser:
        start = site.base + social_button(site.login_page(browser), "fake")
        sent = site.fake.started_flow(browser, start)
        url = site.base + CALLBACK.format(name="fake")
        back = browser.get(url, params={
            "state": sent["state"], "code": "c0de", "iss": "https://evil.example.com",
        })
        assert back.status_code == 400
        assert "did not come from the provider" in alert_text(back)
    assert site.fake.requests == []


def test_the_github_preset_signs_up_with_the_verified_primary_email(
    start_site: StartSite,
) -> None:
    # A GitHub Enterprise Server at the fake's address: OAuth 2, then /user and /user/emails.
    github = (
        '[providers.github]\ngithub_url = "{fake}"\nclient_id = "gh-client"\n'
        'client_secret = "gh-secret"\n'
    )
    with start_site(more_toml=github) as site, httpx.Client(timeout=30) as browser:
        page = site.login_page(browser)
        assert "Continue with GitHub" in page.text
        sent = site.fake.started_flow(browser, site.base + social_button(page, "github"))
        assert sent["scope"] == "read:user user:email"
        assert sent["code_challenge_method"] == "S256"
        assert "nonce" not in sent  # OAuth 2 only: no id token to carry one
        back = browser.get(site.base + CALLBACK.format(name="github"),
                           params={"state": sent["state"], "code": "gh-code"})
        assert back.status_code == 303, back.text
        assert signed_in_as(site, browser) == "octo@example.com"
    [token_request] = site.fake.requests
    assert token_request["client_secret"] == ["gh-secret"]  # client_secret_post
    assert token_request["code_verifier"]
    user = site.user("octo@example.com")
    assert user is not None
    assert (user.first_name, user.last_name, user.email_verified) == ("Octo", "Cat", True)
    [link] = site.links("octo@example.com")
    assert (link.provider, link.subject) == ("github", "4242")


# -- accounts ----------------------------------------------------------------------------


def test_a_new_user_signs_up_through_a_provider_without_a_password(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        _sent, back = fake_sign_in(site, browser)
        assert back.status_code == 303
        assert signed_in_as(site, browser) == "fresh@example.com"
    user = site.user("fresh@example.com")
    assert user is not None
    assert user.password_hash == ""
    assert user.email_verified is True
    [link] = site.links("fresh@example.com")
    assert (link.provider, link.subject) == ("fake", "fake-subject-1")
    events = site.activity("fresh@example.com")
    assert ("social_account_linked", {"provider": "fake"}) in events
    assert ("login_success", {"via": "social:fake"}) in events


def test_a_disabled_account_cannot_sign_in_through_a_provider(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        fake_sign_in(site, browser)
    ctx = site.app.state.ctx
    with ctx.db.write() as db:
        accounts.disable_user(db, ctx, "fresh@example.com")
    with httpx.Client(timeout=30) as browser:
        _sent, back = fake_sign_in(site, browser)
        assert back.status_code == 403
        assert "disabled" in alert_text(back)
        assert signed_in_as(site, browser) is None


def test_registration_closed_refuses_a_new_account_through_a_provider(
    start_site: StartSite,
) -> None:
    with start_site(registration="closed") as site, httpx.Client(timeout=30) as browser:
        _sent, back = fake_sign_in(site, browser)
        assert back.status_code == 403
        assert "Registration is closed" in alert_text(back)
        assert site.user("fresh@example.com") is None


def test_registration_by_invite_refuses_a_new_account_through_a_provider(
    start_site: StartSite,
) -> None:
    with start_site(registration="invite") as site, httpx.Client(timeout=30) as browser:
        _sent, back = fake_sign_in(site, browser)
        assert back.status_code == 403
        assert "invite" in alert_text(back)
        assert site.user("fresh@example.com") is None


def test_sign_ups_through_a_provider_count_on_the_registration_limits(
    start_site: StartSite,
) -> None:
    with start_site(registration_max_per_address=1) as site:
        with httpx.Client(timeout=30) as browser:
            assert fake_sign_in(site, browser)[1].status_code == 303
        site.fake.id_token = lambda nonce: site.fake.sign(
            site.fake.claims(nonce, sub="fake-subject-2", email="second@example.com")
        )
        with httpx.Client(timeout=30) as browser:
            _sent, back = fake_sign_in(site, browser)
            assert back.status_code == 429
            assert back.headers["Retry-After"]
        assert site.user("second@example.com") is None
        # A returning identity is no registration: it still signs in.
        site.fake.id_token = None
        with httpx.Client(timeout=30) as browser:
            assert fake_sign_in(site, browser)[1].status_code == 303


def test_a_verified_upstream_email_does_not_link_an_unverified_account(site: Site) -> None:
    # Pre-account hijacking: someone registered the address with a password of theirs.
    site.add_user("fresh@example.com", verified=False)
    with httpx.Client(timeout=30) as browser:
        _sent, back = fake_sign_in(site, browser)
        assert back.status_code == 200
        assert "Sign in to your account first" in back.text
        assert signed_in_as(site, browser) is None
    assert site.links("fresh@example.com") == []


def test_with_mfa_on_a_provider_sign_in_still_asks_for_the_code(site: Site) -> None:
    site.add_user("fresh@example.com", verified=True)
    ctx = site.app.state.ctx
    user = site.user("fresh@example.com")
    assert user is not None
    setup = mfa.setup(ctx, user.id, password=PASSWORD, sensitive_action_token=None,
                      client=accounts.Client())
    mfa.verify_setup(ctx, user.id, pyotp.TOTP(setup.secret).now(), accounts.Client())
    with httpx.Client(timeout=30) as browser:
        _sent, back = fake_sign_in(site, browser)  # links: both emails are verified
        assert back.status_code == 200
        assert 'name="mfa_token"' in back.text
        assert signed_in_as(site, browser) is None
        [form] = [f for f in parse_page(back.text).forms if "mfa_token" in f["fields"]]
        wrong = browser.post(site.base + form["action"], data={**form["fields"], "code": "000000"})
        assert wrong.status_code == 401
        done = follow(browser, browser.post(
            site.base + form["action"], data={**form["fields"], "code": backup(setup)},
        ))
        assert done.status_code == 200
        assert signed_in_as(site, browser) == "fresh@example.com"


def backup(setup: mfa.Setup) -> str:
    return setup.backup_codes[0]


# -- the account API ----------------------------------------------------------------------


def test_list_and_disconnect_refuse_to_remove_the_last_way_to_sign_in(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        fake_sign_in(site, browser)
    token = first_party_token(site.app, "fresh@example.com")
    with api_client(site, token) as api:
        listed = api.get("/api/auth/account/social")
        assert listed.status_code == 200
        [item] = listed.json()
        assert set(item) == {"id", "provider", "providerUserId", "connectedAt"}
        assert (item["provider"], item["providerUserId"]) == ("fake", "fake-subject-1")
        methods = api.get("/api/auth/account/password/auth-methods").json()
        assert methods == {"hasPassword": False, "oauthProviders": ["fake"]}
        refused = api.delete("/api/auth/account/social/fake")
        assert refused.status_code == 409
        assert "only way to sign in" in refused.json()["message"]
        assert api.delete("/api/auth/account/social/other").status_code == 404
    ctx = site.app.state.ctx
    with ctx.db.write() as db:
        user = accounts.find_by_email(db, "fresh@example.com")
        assert user is not None
        user.password_hash = ctx.passwords.hash(PASSWORD)
    token = first_party_token(site.app, "fresh@example.com")
    with api_client(site, token) as api:
        assert api.delete("/api/auth/account/social/fake").status_code == 200
        assert api.get("/api/auth/account/social").json() == []
    assert ("social_account_unlinked", {"provider": "fake"}) in site.activity("fresh@example.com")


def test_the_export_holds_the_connected_accounts_and_deletion_erases_them(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        fake_sign_in(site, browser)
    site.add_user("other@example.com", verified=True)
    token = first_party_token(site.app, "fresh@example.com")
    with api_client(site, token) as api:
        [exported] = api.get("/api/user/export-data").json()["socialProviders"]
        assert exported["provider"] == "fake"
        assert exported["email"] == "fresh@example.com"
        assert exported["providerUserId"] == "fake-subject-1"
        initiated = api.post(
            "/api/auth/account/sensitive-action/initiate", json={"action": "delete_account"}
        ).json()
    [method] = initiated["verificationMethods"]["oauthProviders"]
    with httpx.Client(timeout=30) as browser:
        sent = site.fake.started_flow(browser, method["reauthUrl"])
        done = fake_callback(site, browser, sent["state"])
        code = re.search(r"<strong>(\d{6})</strong>", done.text)
    assert code
    with api_client(site, token) as api:
        action_token = api.post(
            "/api/auth/account/sensitive-action/verify-code",
            json={"action": "delete_account", "code": code.group(1)},
        ).json()["token"]
        deleted = api.request("DELETE", "/api/user/account",
                              json={"sensitiveActionToken": action_token})
        assert deleted.status_code == 200, deleted.text
    with site.app.state.ctx.db.read() as db:
        assert db.execute(select(SocialAccount)).scalars().all() == []
    # The identity is nobody's now: signing in with it again makes a new account.
    with httpx.Client(timeout=30) as browser:
        assert fake_sign_in(site, browser)[1].status_code == 303
    assert site.user("fresh@example.com") is not None


def test_a_social_only_user_confirms_a_sensitive_action_at_the_provider(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        fake_sign_in(site, browser)
    token = first_party_token(site.app, "fresh@example.com")
    with api_client(site, token) as api:
        initiated = api.post(
            "/api/auth/account/sensitive-action/initiate", json={"action": "set_password"}
        ).json()
        [method] = initiated["verificationMethods"]["oauthProviders"]
        assert method["provider"] == "fake"
        with httpx.Client(timeout=30) as browser:
            sent = site.fake.started_flow(browser, method["reauthUrl"])
            assert sent["prompt"] == "login"
            assert sent["max_age"] == "0"
            done = fake_callback(site, browser, sent["state"])
            assert done.status_code == 200, done.text
            code = re.search(r"<strong>(\d{6})</strong>", done.text)
            assert code, done.text
            # The ticket served once.
            assert browser.get(method["reauthUrl"]).status_code == 400
        exchanged = api.post(
            "/api/auth/account/sensitive-action/verify-code",
            json={"action": "set_password", "code": code.group(1)},
        )
        assert exchanged.status_code == 200, exchanged.text
        set_password = api.post(
            "/api/auth/account/password/set-or-change",
            json={"newPassword": "a new password 123",
                  "sensitiveActionToken": exchanged.json()["token"]},
        )
        assert set_password.status_code == 200, set_password.text


def test_a_reauth_at_the_provider_as_someone_else_confirms_nothing(site: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        fake_sign_in(site, browser)
    token = first_party_token(site.app, "fresh@example.com")
    with api_client(site, token) as api:
        initiated = api.post(
            "/api/auth/account/sensitive-action/initiate", json={"action": "delete_account"}
        ).json()
    [method] = initiated["verificationMethods"]["oauthProviders"]
    site.fake.id_token = lambda nonce: site.fake.sign(site.fake.claims(nonce, sub="someone-else"))
    with httpx.Client(timeout=30) as browser:
        sent = site.fake.started_flow(browser, method["reauthUrl"])
        refused = fake_callback(site, browser, sent["state"])
        assert refused.status_code == 403
        assert re.search(r"<strong>\d{6}</strong>", refused.text) is None


# -- with the npm oidc-provider as the upstream --------------------------------------------


@pytest.fixture(scope="session")
def oidc_provider_entry() -> str:
    return installed_oidc_provider()


@pytest.fixture
def real(start_site: StartSite, oidc_provider_entry: str) -> Iterator[Site]:
    """Our server with the npm oidc-provider as provider ``upstream``."""
    port = free_port()
    discovery = {"upstream": f"http://127.0.0.1:{port}/.well-known/openid-configuration"}
    with start_site(upstreams=discovery) as site, oidc_upstream(
        oidc_provider_entry, port, site.base + CALLBACK.format(name="upstream"), ACCOUNTS
    ):
        yield site


def upstream_sign_in(site: Site, browser: httpx.Client, account: str) -> httpx.Response:
    start = site.base + social_button(site.login_page(browser), "upstream")
    return through_upstream_forms(browser, follow(browser, browser.get(start)), account)


@pytest.mark.needs("node")
def test_oidc_provider_signs_a_new_user_up(real: Site) -> None:
    with httpx.Client(timeout=30) as browser:
        page = upstream_sign_in(real, browser, "newcomer")
        assert page.status_code == 200, page.text
        assert signed_in_as(real, browser) == "newcomer@example.com"
    user = real.user("newcomer@example.com")
    assert user is not None
    assert (user.first_name, user.last_name, user.email_verified) == ("Nora", "Newcomer", True)
    [link] = real.links("newcomer@example.com")
    assert (link.provider, link.subject) == ("upstream", "newcomer")


@pytest.mark.needs("node")
def test_oidc_provider_links_an_existing_account_on_a_verified_email(real: Site) -> None:
    real.add_user("ada@example.com", verified=True)
    with httpx.Client(timeout=30) as browser:
        upstream_sign_in(real, browser, "ada-at-upstream")
        assert signed_in_as(real, browser) == "ada@example.com"
    [link] = real.links("ada@example.com")
    assert link.subject == "ada-at-upstream"


@pytest.mark.needs("node")
def test_oidc_provider_asserting_someone_elses_email_unverified_is_not_linked(
    real: Site,
) -> None:
    real.add_user("ada@example.com", verified=True)
    with httpx.Client(timeout=30) as mallory:
        page = upstream_sign_in(real, mallory, "mallory")
        assert page.status_code == 200
        assert "Sign in to your account first" in page.text
        assert signed_in_as(real, mallory) is None
        # Mallory does not know ada's password: nothing gets linked.
        login = real.login_page(mallory)
        [form] = [f for f in parse_page(login.text).forms if f["action"] == "/api/oauth/login"]
        wrong = mallory.post(real.base + form["action"], data={
            **form["fields"], "email": "ada@example.com", "password": "not ada's password",
        })
        assert wrong.status_code == 401
    assert real.links("ada@example.com") == []


@pytest.mark.needs("node")
def test_oidc_provider_identity_is_linked_after_signing_in_to_the_account(real: Site) -> None:
    real.add_user("ada@example.com", verified=True)
    with httpx.Client(timeout=30) as browser:
        page = upstream_sign_in(real, browser, "mallory")  # an unverified assertion
        assert "Sign in to your account first" in page.text
        assert real.links("ada@example.com") == []
        login = real.login_page(browser)
        [form] = [f for f in parse_page(login.text).forms if f["action"] == "/api/oauth/login"]
        signed = follow(browser, browser.post(real.base + form["action"], data={
            **form["fields"], "email": "ada@example.com", "password": PASSWORD,
        }))
        assert signed.status_code == 200
    [link] = real.links("ada@example.com")
    assert (link.provider, link.subject) == ("upstream", "mallory")
    # From now on the identity signs in to ada's account directly.
    with httpx.Client(timeout=30) as browser:
        upstream_sign_in(real, browser, "mallory")
        assert signed_in_as(real, browser) == "ada@example.com"


# -- with a second instance of our own server as the upstream -----------------------------


@dataclass
class OurUpstream:
    """A second server of ours (``tekcify-auth serve``, SQLite) as provider ``ours``: its
    application for our first server, registered by ``owner`` over its API."""

    server: ServerProcess
    owner_token: str
    app: dict[str, Any]

    def add_user(self, email: str, *, verified: bool) -> str:
        """Register ``email`` on the upstream (verified with the mailed code); its id."""
        with httpx.Client(base_url=self.server.url, timeout=30) as http:
            made = http.post("/api/auth/register", json={"email": email, "password": PASSWORD})
            assert made.status_code == 201, made.text
            if verified:
                signed = http.post("/api/auth/login", json={"email": email, "password": PASSWORD})
                assert signed.status_code == 200, signed.text
                [mail] = mail_to(self.server, email)
                done = http.post(
                    "/api/auth/email/verify", json={"code": six_digit_code(mail)},
                    headers={"Authorization": f"Bearer {signed.json()['accessToken']}"},
                )
                assert done.status_code == 200, done.text
        user_id: str = made.json()["userId"]
        return user_id

    def redirect_to(self, callback: str) -> None:
        """The application's redirect URI becomes our first server's callback."""
        with httpx.Client(base_url=self.server.url, timeout=30) as http:
            done = http.put(f"/api/applications/{self.app['clientId']}",
                            json={"redirectUris": [callback]},
                            headers={"Authorization": f"Bearer {self.owner_token}"})
            assert done.status_code == 200, done.text


@pytest.fixture
def ours(start_site: StartSite, tmp_path: Path) -> Iterator[tuple[Site, OurUpstream]]:
    """Our server with a second instance of our own server as provider ``ours``: a
    generic provider on the upstream's discovery URL, scopes openid email profile."""
    folder = tmp_path / "upstream"
    folder.mkdir()
    upstream_server = ServerProcess(folder)
    try:
        with httpx.Client(base_url=upstream_server.url, timeout=30) as http:
            owner = {"email": "upstream-owner@example.com", "password": PASSWORD}
            assert http.post("/api/auth/register", json=owner).status_code == 201
            token = http.post("/api/auth/login", json=owner).json()["accessToken"]
            made = http.post("/api/applications", headers={"Authorization": f"Bearer {token}"},
                             json={"name": "First server", "scopes": ["openid", "email", "profile"],
                                   "redirectUris": ["http://127.0.0.1:9/not-yet"]})
            assert made.status_code == 201, made.text
        upstream = OurUpstream(upstream_server, token, made.json())
        more = (
            '[providers.ours]\ndisplay_name = "Our Upstream"\n'
            f'discovery_url = "{upstream_server.url}/.well-known/openid-configuration"\n'
            f'client_id = "{upstream.app["clientId"]}"\n'
            f'client_secret = "{upstream.app["clientSecret"]}"\n'
        )
        with start_site(more_toml=more) as site:
            upstream.redirect_to(site.base + CALLBACK.format(name="ours"))
            yield site, upstream
    finally:
        upstream_server.stop()


def through_our_forms(
    browser: httpx.Client, page: httpx.Response, upstream: str, email: str
) -> httpx.Response:
    """The upstream's (our own server's) login and consent pages, then on to the first
    server, whose page it returns."""
    for _ in range(3):
        assert page.status_code == 200, page.text
        if not str(page.url).startswith(upstream + "/"):
            return page
        forms = forms_of(page.text)
        login = [f for f in forms if f.action.endswith("/api/oauth/login")]
        consent = [f for f in forms if f.action.endswith("/consent")]
        if login:
            data = {**login[0].fields, "email": email, "password": PASSWORD}
            target = login[0].action
        elif consent:
            data = {**consent[0].fields, "decision": "allow"}
            target = consent[0].action
        else:
            return page
        page = follow(browser, browser.post(urljoin(str(page.url), target), data=data))
    return page


def our_upstream_sign_in(
    site: Site, upstream: OurUpstream, browser: httpx.Client, email: str
) -> httpx.Response:
    start = site.base + social_button(site.login_page(browser), "ours")
    return through_our_forms(browser, follow(browser, browser.get(start)), upstream.server.url,
                             email)


def test_our_own_server_upstream_signs_a_new_user_up(
    ours: tuple[Site, OurUpstream],
) -> None:
    site, upstream = ours
    subject = upstream.add_user("newcomer@example.com", verified=True)
    with httpx.Client(timeout=30) as browser:
        page = our_upstream_sign_in(site, upstream, browser, "newcomer@example.com")
        assert page.status_code == 200, page.text
        assert signed_in_as(site, browser) == "newcomer@example.com"
    user = site.user("newcomer@example.com")
    assert user is not None
    assert user.email_verified is True
    [link] = site.links("newcomer@example.com")
    assert (link.provider, link.subject) == ("ours", subject)


def test_our_own_server_upstream_links_an_existing_account_on_a_verified_email(
    ours: tuple[Site, OurUpstream],
) -> None:
    site, upstream = ours
    site.add_user("ada@example.com", verified=True)
    subject = upstream.add_user("ada@example.com", verified=True)
    with httpx.Client(timeout=30) as browser:
        our_upstream_sign_in(site, upstream, browser, "ada@example.com")
        assert signed_in_as(site, browser) == "ada@example.com"
    [link] = site.links("ada@example.com")
    assert (link.provider, link.subject) == ("ours", subject)


def test_our_own_server_upstream_with_an_unverified_email_is_not_linked(
    ours: tuple[Site, OurUpstream],
) -> None:
    site, upstream = ours
    site.add_user("ada@example.com", verified=True)
    upstream.add_user("ada@example.com", verified=False)  # anyone may register it there
    with httpx.Client(timeout=30) as browser:
        page = our_upstream_sign_in(site, upstream, browser, "ada@example.com")
        assert page.status_code == 200
        assert "Sign in to your account first" in page.text
        assert signed_in_as(site, browser) is None
    assert site.links("ada@example.com") == []
