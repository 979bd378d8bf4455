"""The Tekcify Auth server: accounts, sessions, tokens and keys over ``http-api.md``.

Install with the ``server`` extra (``postgres`` for PostgreSQL, ``redis`` for shared
rate limits). The library (``tekcify_auth``) never imports this package.
"""

from .app import create_app
from .settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "create_app", "load_settings"]
