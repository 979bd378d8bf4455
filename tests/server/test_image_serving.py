"""Avatar uploads (``POST /api/user/profile/picture``) and ``GET /api/images/{id}.{ext}``."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select

from tekcify_auth.server.db.images import StoredImage
from tekcify_auth.server.services.image_store import (
    image_id_from_url,
    upload_body_limit,
    upload_limit_for,
)
from tekcify_auth.server.services.images import DEFAULT_LIMITS

from .conftest import FakeClock, bearer, make_settings, running, signed_up

PICTURE = "/api/user/profile/picture"
PROFILE = "/api/user/profile"
MIB = 1024 * 1024
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def _logo(size: tuple[int, int] = (64, 48)) -> bytes:
    """A PNG with transparency: stays PNG."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    image.paste((20, 120, 220, 255), (8, 8, size[0] - 8, size[1] - 8))
    return _encode(image, "PNG")


def _photo(size: tuple[int, int] = (800, 600)) -> bytes:
    """A JPEG photo: stays JPEG, fitted to 512 pixels."""
    gradient = Image.linear_gradient("L").resize(size)
    return _encode(Image.merge("RGB", (gradient, gradient.rotate(90), gradient)), "JPEG")


def _bomb(side: int = 10_000) -> bytes:
    """A valid 1-bit PNG of ``side`` x ``side`` pixels, tiny on the wire."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = bytes(1 + (side + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _file(data: bytes, name: str = "me.png", content_type: str = "image/png") -> dict[str, Any]:
    return {"file": (name, data, content_type)}


async def _upload(client: httpx.AsyncClient, token: str, data: bytes, **kwargs: Any) -> Any:
    return await client.post(PICTURE, headers=bearer(token), files=_file(data, **kwargs))


def _path(url: str) -> str:
    return urlsplit(url).path


def _image_rows(app: FastAPI) -> int:
    with app.state.ctx.db.read() as db:
        return int(db.execute(select(func.count()).select_from(StoredImage)).scalar_one())


@pytest.fixture
async def token(client: httpx.AsyncClient) -> str:
    pair = await signed_up(client)
    value: str = pair["accessToken"]
    return value


# ------------------------------------------------------------------------ upload and serve


async def test_an_uploaded_png_is_served_with_locked_down_headers(
    client: httpx.AsyncClient, token: str
) -> None:
    response = await _upload(client, token, _logo())
    assert response.status_code == 200
    url = response.json()["avatarUrl"]
    assert url.startswith("http://tekcify.test/api/images/")
    assert url.endswith(".png")
    assert (await client.get(PROFILE, headers=bearer(token))).json()["avatarUrl"] == url

    served = await client.get(_path(url))  # public: no token
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    policy = [p.strip() for p in served.headers["content-security-policy"].split(";")]
    assert "sandbox" in policy
    assert "default-src 'none'" in policy
    cache = [p.strip() for p in served.headers["cache-control"].split(",")]
    assert "public" in cache
    assert "immutable" in cache
    assert any(p.startswith("max-age=") and int(p[8:]) > 0 for p in cache)
    assert served.headers["etag"] == f'"{hashlib.sha256(served.content).hexdigest()}"'
    assert not served.headers["etag"].startswith("W/")
    assert served.headers["content-length"] == str(len(served.content))
    image = Image.open(io.BytesIO(served.content), formats=["PNG"])
    assert image.size == (64, 48)
    assert image.mode == "RGBA"


async def test_a_photo_is_served_as_a_fitted_jpeg(client: httpx.AsyncClient, token: str) -> None:
    response = await _upload(client, token, _photo(), name="photo.webp",
                             content_type="image/webp")
    url = response.json()["avatarUrl"]
    assert url.endswith(".jpg")
    served = await client.get(_path(url))
    assert served.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(served.content), formats=["JPEG"])
    assert image.size == (512, 384)


async def test_the_url_is_built_from_the_public_url(
    clock: FakeClock, clean_db: str, tmp_path: Path
) -> None:
    configured = make_settings(
        database_url=clean_db, data_dir=tmp_path / "public", public_url="https://auth.example.com/"
    )
    async with running(configured, clock) as (_app, client):
        token = (await signed_up(client))["accessToken"]
        url = (await _upload(client, token, _logo())).json()["avatarUrl"]
        assert url.startswith("https://auth.example.com/api/images/")
        assert (await client.get(_path(url))).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "{etag}",
        "W/{etag}",
        '"something-else", {etag}',
        "*",
    ],
)
async def test_if_none_match_answers_304(
    client: httpx.AsyncClient, token: str, header: str
) -> None:
    url = (await _upload(client, token, _logo())).json()["avatarUrl"]
    first = await client.get(_path(url))
    etag = first.headers["etag"]
    again = await client.get(_path(url), headers={"If-None-Match": header.format(etag=etag)})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]


async def test_another_etag_gets_the_image(client: httpx.AsyncClient, token: str) -> None:
    url = (await _upload(client, token, _logo())).json()["avatarUrl"]
    response = await client.get(_path(url), headers={"If-None-Match": '"0123", W/"4567"'})
    assert response.status_code == 200
    assert response.content.startswith(PNG_SIGNATURE)


async def test_unknown_and_malformed_image_names_are_404(
    client: httpx.AsyncClient, token: str
) -> None:
    url = (await _upload(client, token, _logo())).json()["avatarUrl"]
    image_id = image_id_from_url(url)
    for name in [
        "0b9c2a6e-7f1d-4c55-9d7a-2f6f0b1e9a10.png",  # no such image
        f"{image_id}.jpg",  # the wrong extension
        f"{image_id}",
        f"{image_id}.PNG",
        f"{image_id}.png.html",
        "..%2F..%2Fetc%2Fpasswd",
        "x.png",
    ]:
        response = await client.get(f"/api/images/{name}")
        assert response.status_code == 404, name
        assert response.json()["message"] in ("Image not found", "Not found")


async def test_replacing_the_avatar_deletes_the_old_image(
    app: FastAPI, client: httpx.AsyncClient, token: str
) -> None:
    old = (await _upload(client, token, _logo())).json()["avatarUrl"]
    assert _image_rows(app) == 1
    new = (await _upload(client, token, _photo())).json()["avatarUrl"]
    assert new != old
    assert _image_rows(app) == 1
    assert (await client.get(_path(old))).status_code == 404
    assert (await client.get(_path(new))).status_code == 200
    assert (await client.get(PROFILE, headers=bearer(token))).json()["avatarUrl"] == new


async def test_each_user_keeps_their_own_avatar(
    app: FastAPI, client: httpx.AsyncClient, token: str
) -> None:
    ada = (await _upload(client, token, _logo())).json()["avatarUrl"]
    bob_token = (await signed_up(client, "bob@example.com"))["accessToken"]
    bob = (await _upload(client, bob_token, _photo())).json()["avatarUrl"]
    assert _image_rows(app) == 2
    assert (await client.get(_path(ada))).status_code == 200
    assert (await client.get(PROFILE, headers=bearer(bob_token))).json()["avatarUrl"] == bob


async def test_a_polyglot_png_is_served_without_its_html(
    client: httpx.AsyncClient, token: str
) -> None:
    response = await _upload(client, token, _logo() + HTML, name="x.html", content_type="text/html")
    assert response.status_code == 200
    served = await client.get(_path(response.json()["avatarUrl"]))
    assert served.headers["content-type"] == "image/png"
    assert b"<html" not in served.content.lower()
    assert b"script" not in served.content.lower()


# ---------------------------------------------------------------------- refused uploads

NOT_AN_IMAGE = "The file is not a PNG, JPEG, WebP or GIF image"
UNREADABLE = "The image is truncated or corrupt and cannot be read"


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"just some text", 400, NOT_AN_IMAGE),
        (HTML + _logo(), 400, NOT_AN_IMAGE),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<script>alert(1)</script></svg>",
            400,
            NOT_AN_IMAGE,
        ),
        (_encode(Image.new("RGB", (8, 8)), "BMP"), 400, NOT_AN_IMAGE),
        (_logo()[:60], 400, UNREADABLE),
        (_photo()[:2000], 400, UNREADABLE),
        (b"", 400, "The file is empty"),
        (_bomb(), 413, "The image is larger than 4096\u00d74096 pixels"),
        (b"\x89PNG" + b"\0" * (5 * MIB), 413, "The image is larger than 5 MiB"),
    ],
    ids=["text", "html-then-png", "svg-script", "bmp", "truncated-png", "truncated-jpeg",
         "empty", "bomb", "just-over-5-mib"],
)
async def test_bad_images_are_refused_with_the_reason(
    app: FastAPI, client: httpx.AsyncClient, token: str, data: bytes, status: int, message: str
) -> None:
    response = await _upload(client, token, data)
    assert response.status_code == status
    assert response.json()["message"] == message
    assert _image_rows(app) == 0
    assert (await client.get(PROFILE, headers=bearer(token))).json()["avatarUrl"] is None


async def test_six_mib_is_413_before_it_is_read(
    app: FastAPI, client: httpx.AsyncClient, token: str
) -> None:
    response = await _upload(client, token, b"\x89PNG" + b"\0" * (6 * MIB))
    assert response.status_code == 413
    assert response.json()["message"] == (
        f"The request body is larger than {upload_body_limit(DEFAULT_LIMITS)} bytes"
    )
    assert _image_rows(app) == 0


async def test_six_mib_streamed_without_a_length_is_413(
    client: httpx.AsyncClient, token: str
) -> None:
    boundary = "tekcify-boundary"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for _ in range(96):
            yield b"\0" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        PICTURE, content=body(),
        headers={**bearer(token), "content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_other_routes_keep_the_one_mib_limit(client: httpx.AsyncClient, token: str) -> None:
    body = b'{"firstName": "' + b"a" * (2 * MIB) + b'"}'
    response = await client.put(
        PROFILE, content=body, headers={**bearer(token), "content-type": "application/json"}
    )
    assert response.status_code == 413


def test_the_upload_limit_covers_the_avatar_and_logo_routes() -> None:
    limit_for = upload_limit_for(DEFAULT_LIMITS)
    assert upload_body_limit(DEFAULT_LIMITS) > 5 * MIB
    assert limit_for({"method": "POST", "path": PICTURE}) == upload_body_limit(DEFAULT_LIMITS)
    assert limit_for({"method": "POST", "path": "/api/applications/abc/logo"}) is not None
    for scope in [
        {"method": "PUT", "path": PICTURE},
        {"method": "POST", "path": "/api/applications/a/b/logo"},
        {"method": "POST", "path": PICTURE + "/x"},
        {"method": "POST", "path": "/api/auth/login"},
    ]:
        assert limit_for(scope) is None, scope


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"files": {"picture": ("a.png", _logo(), "image/png")}}, "Missing field: file"),
        ({"data": {"file": "not a file"}, "files": {"other": ("a.png", _logo(), "image/png")}},
         "The field file must be a file, not text"),
        ({"data": {"file": "not a file"}}, "Send the image as multipart/form-data"),
        ({"json": {"file": "aGVsbG8="}}, "Send the image as multipart/form-data"),
        ({"content": _logo(), "headers": {"content-type": "image/png"}},
         "Send the image as multipart/form-data"),
        ({"files": [("file", ("a.png", _logo(), "image/png")),
                    ("file", ("b.png", _logo(), "image/png"))]}, "Too many files"),
    ],
    ids=["other-field", "text-field", "urlencoded", "json", "raw-image", "two-files"],
)
async def test_an_upload_without_one_file_field_is_400(
    client: httpx.AsyncClient, token: str, kwargs: dict[str, Any], message: str
) -> None:
    headers = {**bearer(token), **kwargs.pop("headers", {})}
    response = await client.post(PICTURE, headers=headers, **kwargs)
    assert response.status_code == 400
    assert message in response.json()["message"]


async def test_an_upload_needs_a_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post(PICTURE, files=_file(_logo()))
    assert response.status_code == 401
    assert _image_rows(app) == 0


async def test_deleting_the_account_takes_the_avatar_offline(
    client: httpx.AsyncClient, token: str
) -> None:
    url = (await _upload(client, token, _logo())).json()["avatarUrl"]
    response = await client.request(
        "DELETE", "/api/user/account", headers=bearer(token),
        json={"password": "correct horse battery"},
    )
    assert response.status_code == 200
    assert (await client.get(_path(url))).status_code == 404
