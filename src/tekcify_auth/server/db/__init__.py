"""Storage: the engine and transactions, the ORM models, and the migrations runner."""

from .engine import Database, DatabaseUnavailable
from .models import Base, RefreshToken, SigningKey, User, UserSession

__all__ = [
    "Base",
    "Database",
    "DatabaseUnavailable",
    "RefreshToken",
    "SigningKey",
    "User",
    "UserSession",
]
