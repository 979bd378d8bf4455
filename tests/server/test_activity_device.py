"""The device type the security activity log records, read from the User-Agent."""

from __future__ import annotations

import pytest

from tekcify_auth.server.services.activity import device_type


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
         "desktop"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/131.0 Mobile Safari/537.36",
         "mobile"),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Safari/604.1", "tablet"),
        ("Mozilla/5.0 (Linux; Android 13; SM-X200) Chrome/120.0 Safari/537.36", "tablet"),
        ("curl/8.5.0", "bot"),
        ("python-httpx/0.28.1", "bot"),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "bot"),
        (None, None),
        ("", None),
    ],
)
def test_device_type(agent: str | None, expected: str | None) -> None:
    assert device_type(agent) == expected
