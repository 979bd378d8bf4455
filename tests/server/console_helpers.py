"""Driving the account and developer consoles over HTTP, as a person's browser would.

:func:`console_browser` signs a fresh cookie jar in through the login page (``next`` a
console page), so every request after it carries the page sign-in and nothing else (no
bearer token). :func:`form` finds one form of a page by its action (console pages hold
several) and :func:`post_form` posts it with its hidden fields (the CSRF token) and what
the test fills in.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI

from .conftest import PASSWORD, asgi_client


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                Form(found.get("action", ""), found.get("method", "get").lower(), {})
            )
        elif tag in ("input", "button") and self.forms and found.get("name"):
            kind = found.get("type", "text" if tag == "input" else "submit")
            if kind == "hidden":
                self.forms[-1].fields[found["name"]] = found.get("value", "")


def forms(page: httpx.Response) -> list[Form]:
    parser = _Forms()
    parser.feed(page.text)
    return parser.forms


def form(page: httpx.Response, action: str, index: int = 0) -> Form:
    """The page's ``index``-th form posting to ``action``."""
    found = [f for f in forms(page) if f.action == action]
    assert len(found) > index, f"no form posting to {action} in:\n{page.text}"
    return found[index]


async def post_form(
    http: httpx.AsyncClient, page: httpx.Response, action: str, index: int = 0,
    files: dict[str, Any] | None = None, **fields: str | None,
) -> httpx.Response:
    """Post the form to ``action`` with its hidden fields and ``fields`` (``None`` drops
    one, a hidden field included)."""
    data = {**form(page, action, index).fields, **fields}
    return await http.post(
        action, data={k: v for k, v in data.items() if v is not None}, files=files
    )


def notice(page: httpx.Response) -> str:
    """The text of the page's notice (``role="status"`` after a 303)."""
    found = re.search(r'<div class="notice" role="status" id="notice">(.*?)</div>', page.text, re.S)
    assert found is not None, page.text
    return " ".join(found.group(1).split())


async def sign_in_on_pages(
    http: httpx.AsyncClient, email: str = "ada@example.com", password: str = PASSWORD,
    next_path: str = "/account",
) -> httpx.Response:
    """Sign in through the login page continuing to ``next_path``; returns the 303."""
    page = await http.get(f"/api/oauth/login?next={quote(next_path, safe='')}")
    assert page.status_code == 200, page.text
    answer = await post_form(http, page, "/api/oauth/login", email=email, password=password)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == next_path
    return answer


@asynccontextmanager
async def console_browser(
    app: FastAPI, email: str = "ada@example.com", password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie jar signed in on the pages as ``email`` (registered before)."""
    async with asgi_client(app) as http:
        await sign_in_on_pages(http, email, password)
        yield http
