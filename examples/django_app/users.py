"""Stands in for your user table."""

from typing import Any

USERS = {"user-1": {"email": "ada@example.com"}}


def get_user_info(user_id: str) -> dict[str, Any] | None:
    """The user's details, or ``None`` for an unknown user (answered 401 User not found)."""
    return USERS.get(user_id)
