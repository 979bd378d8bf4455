"""Storage: the engine and transactions, the ORM models, and the migrations runner."""

from .applications import Application
from .engine import Database, DatabaseUnavailable
from .images import StoredImage
from .invites import Invite
from .mfa import BackupCode, MfaChallenge, TotpFactor
from .models import Base, RefreshToken, ServerState, SigningKey, User, UserSession
from .oauth import (
    AuthorizationCode,
    ClientCredentialsAllowance,
    Consent,
    LoginSession,
    RevokedClientToken,
)
from .passkeys import Passkey, WebAuthnChallenge
from .security import AccountCode, MailMessage, SecurityActivity
from .social import SocialAccount, SocialFlow

__all__ = [
    "AccountCode",
    "Application",
    "AuthorizationCode",
    "BackupCode",
    "Base",
    "ClientCredentialsAllowance",
    "Consent",
    "Database",
    "DatabaseUnavailable",
    "Invite",
    "LoginSession",
    "MailMessage",
    "MfaChallenge",
    "Passkey",
    "RefreshToken",
    "RevokedClientToken",
    "SecurityActivity",
    "ServerState",
    "SigningKey",
    "SocialAccount",
    "SocialFlow",
    "StoredImage",
    "TotpFactor",
    "User",
    "UserSession",
    "WebAuthnChallenge",
]
