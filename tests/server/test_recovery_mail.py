"""The recovery flows' mail templates: a subject line, text and HTML, links under base_url."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tekcify_auth.server.services import mail

BASE = "https://auth.example.com"
VALUES: dict[str, dict[str, Any]] = {
    "verify_email": {
        "name": "Ada", "email": "ada@example.com", "link_path": "/account/verify-email?token=T",
        "code": "012345", "link_hours": 24, "code_minutes": 15,
    },
    "password_reset": {
        "name": "Ada", "email": "ada@example.com",
        "link_path": "/account/reset-password?token=T", "link_minutes": 30,
    },
    "email_change_confirm": {
        "name": "Ada", "old_email": "ada@example.com", "new_email": "ada@example.org",
        "link_path": "/account/confirm-email?token=T", "link_hours": 24,
    },
    "email_change_notice": {
        "name": "Ada", "old_email": "ada@example.com", "new_email": "ada@example.org",
        "forgot_path": "/account/forgot-password",
    },
    "password_changed": {
        "name": "Ada", "email": "ada@example.com", "how": "reset",
        "forgot_path": "/account/forgot-password",
    },
}


@pytest.mark.parametrize("kind", sorted(VALUES))
def test_every_recovery_message_renders_with_links_under_base_url(kind: str) -> None:
    rendered = mail.render(kind, VALUES[kind], base_url=BASE + "/")
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert "Tekcify" in rendered.subject
    assert f"{BASE}/" in rendered.text
    assert f"{BASE}/" in rendered.html
    # Extends mail/base.html: its footer names the server.
    assert f"This message was sent by Tekcify at {BASE}." in rendered.html
    for href in rendered.html.split('href="')[1:]:
        assert href.startswith(BASE), href
    path = VALUES[kind].get("link_path")
    if path is not None:
        assert f"{BASE}{path}" in rendered.text


def test_names_are_escaped_in_html() -> None:
    values = {**VALUES["verify_email"], "name": "<script>alert(1)</script>"}
    rendered = mail.render("verify_email", values, base_url=BASE)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html


def test_the_queue_refuses_a_recipient_with_a_line_break() -> None:
    session = Session()  # bound to nothing: whatever is added stays in session.new
    for bad in ("ada@example.com\r\nBcc: x@example.com", "ada\u2028@example.com"):
        with pytest.raises(ValueError, match="line breaks"):
            mail.enqueue(
                session, kind="password_changed", to=bad, values=VALUES["password_changed"],
                base_url=BASE, now=datetime.now(UTC),
            )
    assert not session.new
