"""The user's profile, picture, data export and account deletion (``/api/user``) through
every way of calling the server, uploads from bytes, a path and a file object."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tekcify_auth import (
    AuthServerError,
    ExportedUserData,
    UpdateProfileData,
    UploadResponse,
    UserProfile,
)

from .support import Account, Api, MakeAccount

pytestmark = pytest.mark.slow


def image_bytes(kind: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    """A small valid image of ``kind`` (PNG, JPEG, GIF, WEBP)."""
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, kind)
    return out.getvalue()


async def test_get_user_profile(api: Api, make_account: MakeAccount) -> None:
    account = make_account(first_name="Grace", last_name="Hopper")
    profile = await api.get_user_profile(account.access_token)
    assert isinstance(profile, UserProfile)
    assert profile.user_id == account.user_id
    assert profile.email == account.email
    assert (profile.first_name, profile.last_name, profile.avatar_url) == ("Grace", "Hopper", None)


@pytest.mark.parametrize(
    "data",
    [
        {"first_name": "Ada", "last_name": "Byron"},
        {"firstName": "Ada", "lastName": "Byron"},
        UpdateProfileData(first_name="Ada", last_name="Byron"),
    ],
    ids=["snake-dict", "camel-dict", "model"],
)
async def test_update_user_profile(
    api: Api, account: Account, data: dict[str, str] | UpdateProfileData
) -> None:
    updated = await api.update_user_profile(account.access_token, data)
    assert (updated.first_name, updated.last_name) == ("Ada", "Byron")
    assert (await api.get_user_profile(account.access_token)).first_name == "Ada"


async def test_update_sends_only_the_fields_given(api: Api, make_account: MakeAccount) -> None:
    account = make_account(first_name="Grace", last_name="Hopper")
    updated = await api.update_user_profile(account.access_token, {"last_name": "Murray"})
    assert (updated.first_name, updated.last_name) == ("Grace", "Murray")


async def test_update_with_an_unknown_field_is_the_servers_400(api: Api, account: Account) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.update_user_profile(account.access_token, {"nickname": "Ada"})
    assert caught.value.status_code == 400
    assert "nickname" in caught.value.message


async def test_upload_profile_picture_from_bytes(
    api: Api, account: Account, ahttp: httpx.AsyncClient
) -> None:
    answer = await api.upload_profile_picture(account.access_token, image_bytes("PNG"))
    assert isinstance(answer, UploadResponse)
    assert (await api.get_user_profile(account.access_token)).avatar_url == answer.avatar_url
    # The server serves the stored image at that URL.
    served = await ahttp.get(answer.avatar_url)
    assert served.status_code == 200
    assert served.headers["content-type"] in ("image/png", "image/jpeg")
    assert Image.open(io.BytesIO(served.content)).size == (8, 6)


async def test_upload_profile_picture_from_a_path_and_a_file_object(
    api: Api, account: Account, tmp_path: Path
) -> None:
    path = tmp_path / "me.jpg"
    path.write_bytes(image_bytes("JPEG"))
    first = await api.upload_profile_picture(account.access_token, path)
    with path.open("rb") as handle:
        second = await api.upload_profile_picture(account.access_token, handle, "again.jpg")
    assert first.avatar_url != second.avatar_url
    assert (await api.get_user_profile(account.access_token)).avatar_url == second.avatar_url


async def test_upload_of_something_not_an_image_is_the_servers_400(
    api: Api, account: Account
) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.upload_profile_picture(
            account.access_token, b"%PDF-1.7 not an image", "cv.png", "image/png"
        )
    assert caught.value.status_code == 400
    assert caught.value.message
    assert (await api.get_user_profile(account.access_token)).avatar_url is None


async def test_export_user_data(api: Api, account: Account) -> None:
    data = await api.export_user_data(account.access_token)
    assert isinstance(data, ExportedUserData)
    assert data.profile is not None
    assert data.profile.email == account.email
    assert data.exported_at is not None
    # Read as a dict, as before export_user_data was typed.
    assert data["profile"]["email"] == account.email
    assert data["profile"]["userId"] == account.user_id
    assert [s["revokedAt"] for s in data["sessions"]] == [None]
    assert "exportedAt" in data


async def test_delete_account(api: Api, account: Account) -> None:
    with pytest.raises(AuthServerError) as caught:
        await api.delete_account(account.access_token, "not the password")
    assert (caught.value.status_code, caught.value.message) == (403, "The password is incorrect")
    assert (await api.get_user_profile(account.access_token)).email == account.email

    said = await api.delete_account(account.access_token, account.password)
    assert said.message == "Your account and all its data have been deleted"
    with pytest.raises(AuthServerError) as gone:
        await api.get_user_profile(account.access_token)
    assert gone.value.status_code == 401
    with pytest.raises(AuthServerError) as no_login:
        await api.login(account.email, account.password)
    assert no_login.value.status_code == 401
