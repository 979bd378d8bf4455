"""Password hashing: argon2id through argon2-cffi, with the costs from the settings.

:meth:`Passwords.verify_dummy` spends the same work as a real check against a hash
made at start-up, so a login for an unknown email takes as long as one with a wrong
password. :meth:`Passwords.needs_rehash` tells when a stored hash was made with other
parameters (or another variant), so it is replaced at the next successful login.
"""

from __future__ import annotations

import secrets
from typing import Final

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "Passwords"]

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 1024


class Passwords:
    """Hash and check passwords with argon2id (RFC 9106)."""

    def __init__(self, *, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism,
            hash_len=32, salt_len=16, type=Type.ID,
        )
        self._dummy = self._hasher.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        """A new argon2id hash of ``password`` (PHC string format)."""
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches the ``stored`` hash; never raises for a mismatch."""
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> bool:
        """Do the work of :meth:`verify` for an account that does not exist; ``False``."""
        self.verify(self._dummy, password)
        return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than the current ones."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True
