"""Every public name that library-api.md promises is exported, from one sorted __all__.

The lists below are library-api.md's names, module by module; a name added there is
added here, and a name that disappears from a module fails this test.
"""

from __future__ import annotations

import importlib
import types

import pytest

PROMISED: dict[str, set[str]] = {
    "tekcify_auth": {
        # Token verification
        "verify_access_token", "decode_token", "JwksVerifier", "create_jwks_verifier",
        "VerifiedToken", "TokenPayload", "UserPayload", "AUTH_SERVER_URL",
        # Client of the auth server
        "AuthClient", "AsyncAuthClient", "fetch_user_info", "introspect_token",
        "get_user_profile", "update_user_profile", "upload_profile_picture",
        "list_applications", "get_application_by_client_id", "create_application",
        "update_application", "upload_application_logo", "delete_application",
        "regenerate_application_secret", "list_sessions", "revoke_session",
        "revoke_all_sessions", "logout", "UserInfo", "IntrospectResult", "UserProfile",
        "UploadResponse", "Application", "CreateApplicationResponse", "MessageResponse",
        "LogoUploadResponse",
        # The current Node client's account-security calls, and the email flows
        "export_user_data", "delete_account", "change_password", "get_auth_methods",
        "set_or_change_password", "get_security_activities", "initiate_sensitive_action",
        "send_sensitive_action_code", "verify_sensitive_action_code", "verify_email",
        "resend_verification_email", "forgot_password", "reset_password",
        "request_email_change", "confirm_email_change",
        # Passkeys (issue 14)
        "passkey_registration_options", "register_passkey", "list_passkeys", "delete_passkey",
        "rename_passkey", "passkey_login_options", "passkey_login", "Passkey",
        "PasskeyRegistrationOptions", "PasskeyLoginOptions",
        # Errors
        "TekcifyAuthError", "AuthServerError", "AuthServerUnavailable",
        # Guards that ask the server (introspection mode, user info hooks)
        "IntrospectionVerifier", "ServerUserInfo", "AsyncServerUserInfo",
    },
    "tekcify_auth.aio": {
        "fetch_user_info", "introspect_token", "get_user_profile", "update_user_profile",
        "upload_profile_picture", "list_applications", "get_application_by_client_id",
        "create_application", "update_application", "upload_application_logo",
        "delete_application", "regenerate_application_secret", "list_sessions",
        "revoke_session", "revoke_all_sessions", "logout", "export_user_data",
        "delete_account", "change_password", "get_auth_methods", "set_or_change_password",
        "get_security_activities", "initiate_sensitive_action", "send_sensitive_action_code",
        "verify_sensitive_action_code", "verify_email", "resend_verification_email",
        "forgot_password", "reset_password", "request_email_change", "confirm_email_change",
        "passkey_registration_options", "register_passkey", "list_passkeys", "delete_passkey",
        "rename_passkey", "passkey_login_options", "passkey_login",
    },
    "tekcify_auth.oauth": {
        "generate_code_verifier", "generate_code_challenge", "OAuthClient", "AsyncOAuthClient",
        "TokenSet",
    },
    "tekcify_auth.testing": {"mint_access_token"},
    "tekcify_auth.fastapi": {"JwtAuthGuard", "JwksAuthGuard", "CurrentUser", "require_scopes"},
    "tekcify_auth.starlette": {"AuthMiddleware"},
    "tekcify_auth.flask": {"create_auth_middleware", "current_user"},
    "tekcify_auth.django": {"JwtAuthMiddleware", "auth_required", "JwtAuthentication",
                            "HasScopes"},
    "tekcify_auth.server": {"create_app"},
}


@pytest.mark.parametrize("module_name", sorted(PROMISED))
def test_promised_names_are_exported(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = set(module.__all__)
    assert PROMISED[module_name] <= exported, PROMISED[module_name] - exported
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize(
    "module_name",
    ["tekcify_auth", "tekcify_auth.aio", "tekcify_auth.oauth"],
)
def test_all_is_sorted_and_lists_every_public_name(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == sorted(module.__all__)
    assert len(set(module.__all__)) == len(module.__all__)
    # The package exports everything it imports; a module, what it defines itself.
    public = {
        name for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and (module_name == "tekcify_auth" or getattr(value, "__module__", "") == module_name)
        and name != "annotations"
    }
    assert public - set(module.__all__) == set()


def test_public_names_have_docstrings() -> None:
    import tekcify_auth

    for name in tekcify_auth.__all__:
        value = getattr(tekcify_auth, name)
        if callable(value):
            assert value.__doc__, name
