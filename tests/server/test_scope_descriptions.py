"""An operator's own scopes carry the words the consent page shows for them."""

from __future__ import annotations

from pathlib import Path

from tekcify_auth.server.services import accounts

from .conftest import PASSWORD, FakeClock, asgi_client, make_settings, running
from .test_authorize import Browser, authorization, make_client


async def test_an_operators_scope_description_is_what_the_consent_page_says(
    clean_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url=clean_db, data_dir=tmp_path / "data",
        extra_scopes="read:orders=Read your orders, write:orders",
    )
    async with running(settings, clock) as (app, _client), asgi_client(app) as http:
        ctx = app.state.ctx
        with ctx.db.write() as db:
            accounts.create_user(
                db, ctx, email="ada@example.com", password_hash=ctx.passwords.hash(PASSWORD)
            )
        client = make_client(app, scopes=("openid", "read:orders", "write:orders"))
        browser = Browser(http)
        request = authorization(client, scope="openid read:orders write:orders")
        page = await browser.get(request.url)
        page = await browser.follow(await browser.sign_in(page))
        assert ">Allow</button>" in page.text, page.text
        assert "Read your orders" in page.text
        # None given: the generic words, naming the scope.
        assert "Use the “write:orders” permission" in page.text
        assert "Use the “read:orders” permission" not in page.text
