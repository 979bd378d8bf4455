"""Helpers of the recovery tests: the messages the server queued, and what they carry."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tekcify_auth.server.db.security import MailMessage

from .conftest import make_settings, running

_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")
_CODE = re.compile(r"^(\d{6})$", re.M)


@dataclass(frozen=True)
class Mail:
    """A queued message."""

    kind: str
    to: str
    subject: str
    text: str
    html: str

    @property
    def token(self) -> str:
        """The token of the first link carrying one."""
        found = _TOKEN.search(self.text)
        assert found is not None, self.text
        return found.group(1)

    @property
    def link(self) -> str:
        """The first link carrying a token."""
        found = re.search(r"(\S+[?&]token=[A-Za-z0-9_\-]+)", self.text)
        assert found is not None, self.text
        return found.group(1)

    @property
    def code(self) -> str:
        """The 6-digit code."""
        found = _CODE.search(self.text)
        assert found is not None, self.text
        return found.group(1)


def mails(app: FastAPI, kind: str | None = None, to: str | None = None) -> list[Mail]:
    """The queued messages, oldest first, of ``kind`` and to ``to`` when given."""
    ctx = app.state.ctx
    with ctx.db.read() as db:
        query = select(MailMessage).order_by(MailMessage.created_at, MailMessage.id)
        rows = list(db.execute(query).scalars())
    found = [
        Mail(row.kind, row.to_address, row.subject, row.text_body, row.html_body)
        for row in rows
    ]
    return [
        m for m in found if (kind is None or m.kind == kind) and (to is None or m.to == to)
    ]


def last_mail(app: FastAPI, kind: str, to: str | None = None) -> Mail:
    """The newest queued message of ``kind`` (to ``to``)."""
    found = mails(app, kind, to)
    assert found, f"no {kind} message queued"
    return found[-1]


@pytest.fixture
async def strict_app(database_url: str, tmp_path: Path, clean_db: str) -> AsyncIterator[FastAPI]:
    """An app with ``TEKCIFY_REQUIRE_VERIFIED_EMAIL=true``."""
    settings = make_settings(
        database_url=database_url, data_dir=tmp_path / "data", require_verified_email=True
    )
    async with running(settings) as (application, _client):
        yield application
