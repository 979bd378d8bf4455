"""Storage: the engine and transactions, the ORM models, and the migrations runner."""

from .applications import Application
from .engine import Database, DatabaseUnavailable
from .images import StoredImage
from .invites import Invite
from .models import Base, RefreshToken, ServerState, SigningKey, User, UserSession
from .oauth import (
    AuthorizationCode,
    ClientCredentialsAllowance,
    Consent,
    LoginSession,
    RevokedClientToken,
)
from .security import AccountCode, MailMessage, SecurityActivity

__all__ = [
    "AccountCode",
    "Application",
    "AuthorizationCode",
    "Base",
    "ClientCredentialsAllowance",
    "Consent",
    "Database",
    "DatabaseUnavailable",
    "Invite",
    "LoginSession",
    "MailMessage",
    "RefreshToken",
    "RevokedClientToken",
    "SecurityActivity",
    "ServerState",
    "SigningKey",
    "StoredImage",
    "User",
    "UserSession",
]
