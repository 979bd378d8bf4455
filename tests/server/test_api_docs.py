"""``/docs`` works offline: Swagger UI's files come from the server itself, never a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx


class _Links(HTMLParser):
    """Every ``src`` and ``href`` on a page, and every absolute URL in its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]

    def handle_data(self, data: str) -> None:
        self.script_text.append(data)


async def test_docs_load_swagger_ui_from_this_server_only(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = _Links()
    links.feed(page.text)
    assert links.urls, page.text
    assert all(url.startswith("/") and not url.startswith("//") for url in links.urls), links.urls
    # Nor does the page's own script name another host.
    assert not re.search(r"https?://", "".join(links.script_text)), page.text
    kinds = {}
    for url in links.urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert int(asset.headers["content-length"]) > 1000, url
        assert "max-age" in asset.headers["cache-control"]
        kinds[url.rsplit(".", 1)[-1]] = asset.headers["content-type"]
    assert kinds["js"].startswith(("text/javascript", "application/javascript"))
    assert kinds["css"].startswith("text/css")
    assert kinds["png"] == "image/png"
    assert "SwaggerUIBundle" in (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    # The document the page asks for is there.
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "Tekcify Auth"


async def test_the_docs_assets_are_not_in_the_api_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/docs")]


async def test_a_path_outside_the_assets_folder_is_404(client: httpx.AsyncClient) -> None:
    for path in ("/docs/assets/../../app.py", "/docs/assets/%2e%2e/core.py",
                 "/docs/assets/nothing.js"):
        assert (await client.get(path)).status_code == 404, path
