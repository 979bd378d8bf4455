"""OAuth applications (``/api/applications``) through every way of calling the server:
create, list with its total, the public lookup, update, logo, secret regeneration and
deletion, with the server's refusals."""

from __future__ import annotations

import httpx
import pytest

from tekcify_auth import (
    Application,
    AuthServerError,
    CreateApplicationData,
    CreateApplicationResponse,
    LogoUploadResponse,
    Page,
    RegenerateSecretResponse,
    UpdateApplicationData,
)

from .support import Account, Api, MakeAccount, app_data
from .test_user import image_bytes

pytestmark = pytest.mark.slow


async def test_create_application_from_a_dict(api: Api, account: Account) -> None:
    created = await api.create_application(account.access_token, app_data("Dict App"))
    assert isinstance(created, CreateApplicationResponse)
    assert created.name == "Dict App"
    assert created.client_id
    assert created.client_secret
    assert created.client_secret not in repr(created)  # shown once, never logged
    assert created.redirect_uris == ["http://127.0.0.1:8765/callback"]
    assert created.authorized_origins == ["http://127.0.0.1:8765"]
    assert created.scopes == ["openid", "profile", "email"]
    assert created.created_at is not None
    assert created.created_at.tzinfo is not None


async def test_create_application_from_the_model(api: Api, account: Account) -> None:
    data = CreateApplicationData(
        name="Model App", redirect_uris=["https://app.example.com/cb"], scopes=["read:profile"],
        primary_color="#3366FF",
    )
    created = await api.create_application(account.access_token, data)
    assert (created.name, created.description, created.scopes) == (
        "Model App", None, ["read:profile"]
    )
    assert (created.primary_color, created.is_active) == ("#3366ff", True)


async def test_create_a_public_client_without_a_secret(api: Api, account: Account) -> None:
    data = CreateApplicationData(
        name="Phone App", redirect_uris=["com.example.phone:/callback"], scopes=["openid"],
        token_endpoint_auth_method="none",
    )
    created = await api.create_application(account.access_token, data)
    assert created.client_secret is None
    assert created.token_endpoint_auth_method == "none"
    assert created.redirect_uris == ["com.example.phone:/callback"]


async def test_create_application_refusals(api: Api, account: Account) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.create_application(
            account.access_token, app_data(scopes=["openid", "launch:missiles"])
        )
    assert caught.value.status_code == 400
    assert "launch:missiles" in caught.value.message
    with pytest.raises(AuthServerError) as insecure:
        await api.create_application(
            account.access_token, app_data(redirect_uris=["http://app.example.com/cb"])
        )
    assert insecure.value.status_code == 400
    assert "redirect" in insecure.value.message.lower()


async def test_list_applications_pages_with_the_total(api: Api, account: Account) -> None:
    assert await api.list_applications(account.access_token) == []
    names = [f"App {i}" for i in range(3)]
    for name in names:
        await api.create_application(account.access_token, app_data(name))
    everything = await api.list_applications(account.access_token)
    assert isinstance(everything, Page)
    assert everything.total == 3
    assert sorted(app.name for app in everything) == names
    assert all(isinstance(app, Application) for app in everything)
    assert all("clientSecret" not in (app.model_extra or {}) for app in everything)

    first = await api.list_applications(account.access_token, page=1, limit=2)
    second = await api.list_applications(account.access_token, page=2, limit=2)
    assert (len(first), len(second), first.total, second.total) == (2, 1, 3, 3)
    # The server answers the 2.2.12 envelope: its counts and page count come through.
    assert (first.total_pages, second.page) == (2, 2)
    assert first.stats is not None
    assert (first.stats.total, first.stats.active, first.stats.inactive) == (3, 3, 0)
    switched_off = first[0].client_id
    await api.update_application(account.access_token, switched_off, {"is_active": False})
    again = await api.list_applications(account.access_token, page=1, limit=10)
    assert again.stats is not None
    assert (again.stats.active, again.stats.inactive) == (2, 1)
    assert {a.client_id: a.is_active for a in again}[switched_off] is False
    assert {a.client_id for a in first} | {a.client_id for a in second} == {
        a.client_id for a in everything
    }
    with pytest.raises(AuthServerError) as caught:
        await api.list_applications(account.access_token, limit=101)
    assert caught.value.status_code == 400


async def test_list_shows_only_the_callers_applications(
    api: Api, account: Account, make_account: MakeAccount
) -> None:
    other = make_account("other")
    await api.create_application(other.access_token, app_data("Not yours"))
    assert await api.list_applications(account.access_token) == []


async def test_get_application_by_client_id_needs_no_token(api: Api, account: Account) -> None:
    created = await api.create_application(account.access_token, app_data("Public App"))
    public = await api.get_application_by_client_id(created.client_id)
    assert isinstance(public, Application)
    assert public.client_id_obfuscated == (
        created.client_id[:8] + "*" * 20 + created.client_id[-4:]
    )
    assert (public.client_id, public.name, public.scopes) == (
        created.client_id, "Public App", created.scopes
    )
    assert (public.created_at, public.updated_at) == (None, None)
    assert "clientSecret" not in (public.model_extra or {})

    with pytest.raises(AuthServerError) as caught:
        await api.get_application_by_client_id("no-such-client")
    assert (caught.value.status_code, caught.value.message) == (404, "Application not found")


@pytest.mark.parametrize("as_model", [False, True], ids=["dict", "model"])
async def test_update_application(api: Api, account: Account, as_model: bool) -> None:
    created = await api.create_application(account.access_token, app_data("Before"))
    changes = {"name": "After", "description": "Now described"}
    said = await api.update_application(
        account.access_token, created.client_id,
        UpdateApplicationData(**changes) if as_model else changes,
    )
    assert said.message == "Application updated"
    public = await api.get_application_by_client_id(created.client_id)
    assert (public.name, public.description) == ("After", "Now described")
    assert public.redirect_uris == created.redirect_uris  # untouched


async def test_someone_elses_application_is_404_everywhere(
    api: Api, account: Account, make_account: MakeAccount
) -> None:
    other = make_account("owner")
    theirs = await api.create_application(other.access_token, app_data("Theirs"))
    token, client_id = account.access_token, theirs.client_id
    for call in (
        api.update_application(token, client_id, {"name": "Mine now"}),
        api.delete_application(token, client_id),
        api.regenerate_application_secret(token, client_id),
        api.upload_application_logo(token, client_id, image_bytes()),
    ):
        with pytest.raises(AuthServerError) as caught:
            await call
        assert (caught.value.status_code, caught.value.message) == (404, "Application not found")
    assert (await api.get_application_by_client_id(client_id)).name == "Theirs"


async def test_upload_application_logo(
    api: Api, account: Account, ahttp: httpx.AsyncClient
) -> None:
    created = await api.create_application(account.access_token, app_data("Logo App"))
    answer = await api.upload_application_logo(
        account.access_token, created.client_id, image_bytes("GIF"), "logo.gif"
    )
    assert isinstance(answer, LogoUploadResponse)
    assert (await api.get_application_by_client_id(created.client_id)).logo_url == answer.logo_url
    served = await ahttp.get(answer.logo_url)
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("image/")

    with pytest.raises(AuthServerError) as caught:
        await api.upload_application_logo(
            account.access_token, created.client_id, b"<svg onload=alert(1)>", "logo.svg"
        )
    assert caught.value.status_code == 400


async def test_regenerate_application_secret(api: Api, account: Account) -> None:
    created = await api.create_application(account.access_token, app_data("Secret App"))
    answer = await api.regenerate_application_secret(account.access_token, created.client_id)
    assert isinstance(answer, RegenerateSecretResponse)
    assert answer.client_id == created.client_id
    assert answer.client_secret not in ("", created.client_secret)
    assert answer.message == "Client secret regenerated; the previous secret no longer works"

    # The server checks the client's secret when it introspects for it.
    token = account.access_token
    assert (await api.introspect_token(token, created.client_id, answer.client_secret)).active
    with pytest.raises(AuthServerError) as caught:
        await api.introspect_token(token, created.client_id, created.client_secret)
    assert (caught.value.status_code, caught.value.error) == (401, "invalid_client")


async def test_delete_application(api: Api, account: Account) -> None:
    created = await api.create_application(account.access_token, app_data("Doomed"))
    said = await api.delete_application(account.access_token, created.client_id)
    assert said.message == "Application deleted; its tokens have been revoked"
    with pytest.raises(AuthServerError) as caught:
        await api.get_application_by_client_id(created.client_id)
    assert caught.value.status_code == 404
    with pytest.raises(AuthServerError) as again:
        await api.delete_application(account.access_token, created.client_id)
    assert again.value.status_code == 404
