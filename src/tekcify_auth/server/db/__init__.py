"""Storage: the engine and transactions, the ORM models, and the migrations runner."""

from .applications import Application
from .engine import Database, DatabaseUnavailable
from .images import StoredImage
from .models import Base, RefreshToken, SigningKey, User, UserSession

__all__ = [
    "Application",
    "Base",
    "Database",
    "DatabaseUnavailable",
    "RefreshToken",
    "SigningKey",
    "StoredImage",
    "User",
    "UserSession",
]
