"""I/O-free request builders and response parsers: one builder per endpoint.

Each builder returns an :class:`ApiRequest`, which says what to send (method, path,
headers, body, whether it may be tried again) and how to read the answer. The clients
in ``_client.py`` and ``oauth.py`` only send it, read the body into an
:class:`ApiResponse` with a :class:`BodyReader`, and hand that to
:meth:`ApiRequest.result`, which raises the error the answer means or returns the
parsed model. Paths and shapes are those of ``http-api.md``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from ._account_models import ExportedUserData, MfaChallenge
from ._cache import ExpiringLRU
from ._client_models import (
    Application,
    ApplicationStats,
    ConnectedApp,
    CreateApplicationData,
    CreateApplicationResponse,
    IntrospectResult,
    LogoUploadResponse,
    MessageResponse,
    Page,
    RegenerateSecretResponse,
    Session,
    TokenSet,
    UpdateApplicationData,
    UpdateProfileData,
    UploadResponse,
    UserInfo,
    UserProfile,
)
from ._errors import AuthServerError, AuthServerInvalidResponse
from ._retry import IDEMPOTENT_METHODS
from ._uploads import FileInput, read_upload

__all__ = [
    "MAX_ERROR_BODY_BYTES",
    "MAX_RESPONSE_BYTES",
    "ApiRequest",
    "ApiResponse",
    "BodyReader",
    "ClientAuth",
    "IntrospectionCache",
    "error_from_response",
]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Clock = Callable[[], float]

#: A 2xx body larger than this is refused (Tekcify answers are a few KiB).
MAX_RESPONSE_BYTES: Final = 10 * 1024 * 1024
#: Of an error body, only this much is read: enough for any message.
MAX_ERROR_BODY_BYTES: Final = 64 * 1024
_SNIPPET_CHARS: Final = 200
_HTML_PEEK: Final = 4096
_TITLE: Final = re.compile(r"<title[^>]*>([^<]*)<", re.IGNORECASE)
_TAG: Final = re.compile(r"<[^>]*>")
_SPACE: Final = re.compile(r"\s+")
# The ``token`` of an endpoint that takes none (a None token is an error, not this).
_PUBLIC: Final = object()
# RFC 6750 §3: the error code in a Bearer challenge.
_CHALLENGE_ERROR: Final = re.compile(r'\berror\s*=\s*"([^"]*)"', re.IGNORECASE)


# -- the request and the answer ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """An answer as the clients read it: status, headers and (capped) body."""

    status_code: int
    headers: httpx.Headers
    content: bytes = b""
    reason: str = ""
    #: The body was longer than the client's limit; ``content`` is its beginning.
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class ApiRequest(Generic[T]):
    """One call to the auth server: what to send and how to read the answer."""

    method: str
    path: str
    parse: Callable[[ApiResponse], T] = field(repr=False)
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    json: object | None = field(default=None, repr=False)
    form: Mapping[str, str] | None = field(default=None, repr=False)
    files: Mapping[str, tuple[str, bytes, str]] | None = field(default=None, repr=False)
    #: Whether trying it again after a failure cannot do anything twice.
    idempotent: bool = False
    #: Whether errors follow RFC 6749 §5.2 (``error`` is then a protocol error code).
    oauth: bool = False

    def result(self, response: ApiResponse) -> T:
        """The parsed answer; raises :class:`AuthServerError` for a non-2xx status and
        :class:`AuthServerInvalidResponse` for a 2xx body that cannot be used."""
        if not 200 <= response.status_code < 300:
            raise error_from_response(response, oauth=self.oauth)
        if response.truncated:
            raise AuthServerInvalidResponse(
                response.status_code, "the answer is larger than the client's limit"
            )
        return self.parse(response)


def _request(
    method: str,
    path: str,
    parse: Callable[[ApiResponse], T],
    *,
    token: object = _PUBLIC,
    idempotent: bool | None = None,
    **options: Any,
) -> ApiRequest[T]:
    headers = dict(options.pop("headers", {}))
    if token is not _PUBLIC:
        headers["Authorization"] = "Bearer " + _token(token)
    return ApiRequest(
        method, path, parse, headers=headers,
        idempotent=method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
        **options,
    )


def _token(token: object) -> str:
    if not isinstance(token, str) or not token.strip():
        raise ValueError("access_token must be a non-empty string")
    return token.strip()


def _segment(value: str, what: str) -> str:
    """``value`` as one path segment: percent-encoded, never ``.`` or ``..``."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError(f"{what} must be a non-empty string")
    return quote(value, safe="")


# -- reading bodies ------------------------------------------------------------------------


class BodyReader:
    """Collects a streamed body up to a limit, so a huge answer costs no memory.

    A 2xx body may be up to ``limit`` bytes; of any other only
    :data:`MAX_ERROR_BODY_BYTES` are kept, as the message is all that is wanted.
    """

    __slots__ = ("_body", "headers", "limit", "status_code", "truncated")

    def __init__(self, status_code: int, headers: httpx.Headers, limit: int) -> None:
        self.status_code = status_code
        self.headers = headers
        ok = 200 <= status_code < 300
        self.limit = limit if ok else min(limit, MAX_ERROR_BODY_BYTES)
        self._body = bytearray()
        self.truncated = False
        length = headers.get("content-length", "")
        if ok and length.isdigit() and int(length) > self.limit:
            self.truncated = True  # refused before a byte is read

    def feed(self, chunk: bytes) -> bool:
        """Add ``chunk``; ``False`` once the limit is passed (stop reading then)."""
        self._body += chunk
        if len(self._body) > self.limit:
            del self._body[self.limit :]
            self.truncated = True
            return False
        return True

    def response(self, reason: str) -> ApiResponse:
        """The :class:`ApiResponse` read so far."""
        # An error body cut at the limit still carries its message: not truncated.
        truncated = self.truncated and 200 <= self.status_code < 300
        return ApiResponse(self.status_code, self.headers, bytes(self._body), reason, truncated)


# -- errors ------------------------------------------------------------------------------


def error_from_response(response: ApiResponse, *, oauth: bool = False) -> AuthServerError:
    """The :class:`AuthServerError` a non-2xx answer means.

    ``message`` is the body's ``message`` (a list of messages is joined), else the
    OAuth ``error_description``, else FastAPI's ``detail``, else the OAuth ``error``
    code; a body without any (not JSON, empty, an HTML page from a proxy) gives the
    HTTP reason phrase and the beginning of the body's text. ``error`` is the OAuth
    error code on the OAuth protocol endpoints (or whenever the body has an
    ``error_description``), else the ``error`` of a ``WWW-Authenticate: Bearer``
    challenge (RFC 6750 §3), else ``None``.
    """
    body = _try_json(response.content)
    message: str | None = None
    error: str | None = None
    if isinstance(body, dict):
        message = _first_text(
            body.get("message"), body.get("error_description"), body.get("detail")
        )
        code = body.get("error")
        # The Tekcify error shape {statusCode, error, message} puts the HTTP reason phrase
        # in "error" (a 503 or 413 of a protocol endpoint too); only an RFC 6749 §5.2 body
        # carries a protocol code there.
        rfc = "error_description" in body or (oauth and "statusCode" not in body)
        if isinstance(code, str) and code and rfc:
            error = code
            message = message or code
    if error is None:
        match = _CHALLENGE_ERROR.search(response.headers.get("www-authenticate", ""))
        error = match.group(1) if match else None
    if message is None:
        reason = response.reason or httpx.codes.get_reason_phrase(response.status_code)
        reason = reason or f"HTTP {response.status_code}"
        snippet = _snippet(response)
        message = f"{reason}: {snippet}" if snippet else reason
    return AuthServerError(response.status_code, message, error)


def _first_text(*candidates: object) -> str | None:
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value
        # NestJS validation errors carry a list of messages.
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return "; ".join(value)
    return None


def _try_json(content: bytes) -> Any:
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


def _snippet(response: ApiResponse) -> str:
    """The beginning of a body as one line of plain text (an HTML page's title)."""
    text = response.content[:_HTML_PEEK].decode("utf-8", "replace")
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type or text.lstrip().startswith("<"):
        title = _TITLE.search(text)
        text = html.unescape(title.group(1) if title else _TAG.sub(" ", text))
    text = "".join(c if c.isprintable() else " " for c in text)
    text = _SPACE.sub(" ", text).strip()
    if len(text) > _SNIPPET_CHARS:
        text = text[: _SNIPPET_CHARS - 1] + "…"
    return text


# -- parsing answers ------------------------------------------------------------------------


def _json(response: ApiResponse) -> Any:
    if not response.content.strip():
        raise AuthServerInvalidResponse(response.status_code, "the answer has an empty body")
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        kind = response.headers.get("content-type", "no Content-Type")
        raise AuthServerInvalidResponse(
            response.status_code, f"the answer is not JSON ({kind}): {_snippet(response)}"
        ) from None


def _validate(model: type[M], data: Any, response: ApiResponse) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # The input values are left out: they may hold tokens or secrets.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise AuthServerInvalidResponse(
            response.status_code, f"the answer is not a {model.__name__} ({problems})"
        ) from None


def _model(model: type[M]) -> Callable[[ApiResponse], M]:
    def parse(response: ApiResponse) -> M:
        return _validate(model, _json(response), response)

    return parse


def _items(model: type[M], data: Any, response: ApiResponse) -> list[M]:
    if not isinstance(data, list):
        raise AuthServerInvalidResponse(
            response.status_code, f"the answer is not a list of {model.__name__}"
        )
    return [_validate(model, item, response) for item in data]


def _models(model: type[M], key: str | None = None) -> Callable[[ApiResponse], list[M]]:
    """A list of ``model``: a bare array, or (with ``key``) the array under ``key`` of an
    object too (2.2.12 wraps lists: ``{sessions: [...]}``, ``{success, data: [...]}``)."""

    def parse(response: ApiResponse) -> list[M]:
        data = _json(response)
        if key is not None and isinstance(data, dict):
            data = data.get(key)
        return _items(model, data, response)

    return parse


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _page(model: type[M], page: int, limit: int) -> Callable[[ApiResponse], Page[M]]:
    """A page from a bare array and ``X-Total-Count`` (2.0.4) or from the envelope
    ``{success, stats, data, pagination: {page, limit, total, totalPages}}`` (2.2.12)."""

    def parse(response: ApiResponse) -> Page[M]:
        data = _json(response)
        header = response.headers.get("x-total-count", "").strip()
        total = int(header) if header.isdigit() else None
        if not isinstance(data, dict):
            return Page(_items(model, data, response), total=total, page=page, limit=limit)
        pagination = data.get("pagination")
        pagination = pagination if isinstance(pagination, dict) else {}
        stats = data.get("stats")
        return Page(
            _items(model, data.get("data"), response),
            total=_int(pagination.get("total")) if "total" in pagination else total,
            page=_int(pagination.get("page")) or page,
            limit=_int(pagination.get("limit")) or limit,
            total_pages=_int(pagination.get("totalPages")),
            stats=_validate(ApplicationStats, stats, response) if stats is not None else None,
        )

    return parse


def _message(response: ApiResponse) -> MessageResponse:
    if response.status_code == 204:  # No Content: nothing was said, but all went well
        return MessageResponse(message="")
    return _validate(MessageResponse, _json(response), response)


def _json_object(response: ApiResponse) -> dict[str, Any]:
    data = _json(response)
    if not isinstance(data, dict):
        raise AuthServerInvalidResponse(response.status_code, "the answer is not a JSON object")
    return data


def _nothing(response: ApiResponse) -> None:
    return None


def _token_set(clock: Clock, previous_refresh_token: str | None = None) -> Callable[
    [ApiResponse], TokenSet
]:
    def parse(response: ApiResponse) -> TokenSet:
        tokens = _validate(TokenSet, _json_object(response), response)
        update: dict[str, Any] = {}
        if tokens.expires_at is None and tokens.expires_in is not None:
            update["expires_at"] = int(clock()) + tokens.expires_in
        # RFC 6749 §6: without a new refresh token, the one just used stays valid.
        if tokens.refresh_token is None and previous_refresh_token is not None:
            update["refresh_token"] = previous_refresh_token
        return tokens.model_copy(update=update) if update else tokens

    return parse


def _body(model: type[M], data: M | Mapping[str, Any]) -> dict[str, Any]:
    """The wire form of ``data``: the model, or a dict with snake_case or camelCase keys.

    Only the fields given are sent; unknown keys are passed on as they are (the server
    refuses them with 400). Raises ``ValueError`` when a value has the wrong type.
    """
    if isinstance(data, model):
        value = data
    elif isinstance(data, Mapping):
        value = model.model_validate(dict(data))
    else:
        raise TypeError(f"data must be a {model.__name__} or a dict, not {type(data).__name__}")
    return value.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _upload(file: FileInput, file_name: str | None, content_type: str | None) -> dict[
    str, tuple[str, bytes, str]
]:
    upload = read_upload(file, file_name, content_type)
    return {"file": (upload.file_name, upload.content, upload.content_type)}


# -- /api/auth -------------------------------------------------------------------------------


def register(
    email: str, password: str, first_name: str | None = None, last_name: str | None = None
) -> ApiRequest[UserProfile]:
    """``POST /api/auth/register``: create an account."""
    body = {"email": email, "password": password}
    if first_name is not None:
        body["firstName"] = first_name
    if last_name is not None:
        body["lastName"] = last_name
    return _request("POST", "/api/auth/register", _model(UserProfile), json=body)


def login(email: str, password: str, clock: Clock) -> ApiRequest[TokenSet | MfaChallenge]:
    """``POST /api/auth/login``: email and password for a token pair, or (MFA on) for an
    :class:`~tekcify_auth.MfaChallenge` (``{mfaRequired: true, mfaToken, methods}``)."""
    body = {"email": email, "password": password}
    tokens = _token_set(clock)

    def parse(response: ApiResponse) -> TokenSet | MfaChallenge:
        data = _json_object(response)
        if data.get("mfaRequired") is True:
            return _validate(MfaChallenge, data, response)
        return tokens(response)

    return _request("POST", "/api/auth/login", parse, json=body)


def refresh_tokens(refresh_token: str, clock: Clock) -> ApiRequest[TokenSet]:
    """``POST /api/auth/refresh``: a new pair; the refresh token is used up."""
    body = {"refreshToken": _token(refresh_token)}
    return _request("POST", "/api/auth/refresh", _token_set(clock), json=body)


def logout(access_token: str) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/sessions/logout``: end the token's session."""
    return _request("POST", "/api/auth/sessions/logout", _message, token=access_token)


def list_sessions(access_token: str) -> ApiRequest[list[Session]]:
    """``GET /api/auth/sessions``: ``{sessions: [...]}`` (2.2.12) or a bare array."""
    return _request(
        "GET", "/api/auth/sessions", _models(Session, "sessions"), token=access_token
    )


def revoke_session(access_token: str, session_id: str) -> ApiRequest[MessageResponse]:
    """``DELETE /api/auth/sessions/{id}``."""
    path = "/api/auth/sessions/" + _segment(session_id, "session_id")
    return _request("DELETE", path, _message, token=access_token)


def revoke_all_sessions(access_token: str) -> ApiRequest[MessageResponse]:
    """``DELETE /api/auth/sessions``: every session but the token's own."""
    return _request("DELETE", "/api/auth/sessions", _message, token=access_token)


def change_password(
    access_token: str, current_password: str, new_password: str, mfa_code: str | None = None
) -> ApiRequest[MessageResponse]:
    """``POST /api/auth/password/change {currentPassword, newPassword, mfaCode?}``."""
    body = {"currentPassword": current_password, "newPassword": new_password}
    if mfa_code is not None:
        body["mfaCode"] = mfa_code
    return _request("POST", "/api/auth/password/change", _message, token=access_token, json=body)


# -- /api/user ---------------------------------------------------------------------------------


def get_user_profile(access_token: str) -> ApiRequest[UserProfile]:
    """``GET /api/user/profile``."""
    return _request("GET", "/api/user/profile", _model(UserProfile), token=access_token)


def update_user_profile(
    access_token: str, data: UpdateProfileData | Mapping[str, Any]
) -> ApiRequest[UserProfile]:
    """``PUT /api/user/profile``."""
    body = _body(UpdateProfileData, data)
    return _request("PUT", "/api/user/profile", _model(UserProfile), token=access_token, json=body)


def upload_profile_picture(
    access_token: str, file: FileInput, file_name: str | None = None,
    content_type: str | None = None,
) -> ApiRequest[UploadResponse]:
    """``POST /api/user/profile/picture`` (multipart, field ``file``)."""
    return _request(
        "POST", "/api/user/profile/picture", _model(UploadResponse), token=access_token,
        files=_upload(file, file_name, content_type),
    )


def export_user_data(access_token: str) -> ApiRequest[ExportedUserData]:
    """``GET /api/user/export-data``."""
    return _request("GET", "/api/user/export-data", _export, token=access_token)


def _export(response: ApiResponse) -> ExportedUserData:
    # Any JSON object reads (as when this call returned a dict); its sections are typed.
    return _validate(ExportedUserData, _json_object(response), response)


def delete_account(
    access_token: str, password: str | None = None, sensitive_action_token: str | None = None,
    mfa_code: str | None = None,
) -> ApiRequest[MessageResponse]:
    """``DELETE /api/user/account {password? | sensitiveActionToken?, mfaCode?,
    confirmDelete: true}`` (2.2.12 ``DeleteAccountDto``)."""
    if password is None and sensitive_action_token is None:
        raise ValueError("give the password or a sensitive_action_token")
    body: dict[str, object] = {"confirmDelete": True}
    if password is not None:
        body["password"] = password
    if sensitive_action_token is not None:
        body["sensitiveActionToken"] = sensitive_action_token
    if mfa_code is not None:
        body["mfaCode"] = mfa_code
    return _request("DELETE", "/api/user/account", _message, token=access_token, json=body)


# -- /api/applications ------------------------------------------------------------------------


def list_applications(
    access_token: str, page: int = 1, limit: int = 10
) -> ApiRequest[Page[Application]]:
    """``GET /api/applications?page=&limit=``: the 2.2.12 envelope or a bare array.

    A server that answers the envelope gives the counts (``Page.stats``) and
    ``total_pages``; one that answers a bare array gives the total in ``X-Total-Count``.
    """
    if page < 1 or limit < 1:
        raise ValueError("page and limit must be at least 1")
    return _request(
        "GET", "/api/applications", _page(Application, page, limit), token=access_token,
        params={"page": str(page), "limit": str(limit)},
    )


def get_application_by_client_id(client_id: str) -> ApiRequest[Application]:
    """``GET /api/applications/public/{clientId}`` (no authentication)."""
    path = "/api/applications/public/" + _segment(client_id, "client_id")
    return _request("GET", path, _model(Application))


def create_application(
    access_token: str, data: CreateApplicationData | Mapping[str, Any]
) -> ApiRequest[CreateApplicationResponse]:
    """``POST /api/applications``."""
    body = _body(CreateApplicationData, data)
    return _request(
        "POST", "/api/applications", _model(CreateApplicationResponse), token=access_token,
        json=body,
    )


def update_application(
    access_token: str, client_id: str, data: UpdateApplicationData | Mapping[str, Any]
) -> ApiRequest[MessageResponse]:
    """``PUT /api/applications/{clientId}``."""
    path = "/api/applications/" + _segment(client_id, "client_id")
    body = _body(UpdateApplicationData, data)
    return _request("PUT", path, _message, token=access_token, json=body)


def delete_application(access_token: str, client_id: str) -> ApiRequest[MessageResponse]:
    """``DELETE /api/applications/{clientId}``."""
    path = "/api/applications/" + _segment(client_id, "client_id")
    return _request("DELETE", path, _message, token=access_token)


def upload_application_logo(
    access_token: str, client_id: str, file: FileInput, file_name: str | None = None,
    content_type: str | None = None,
) -> ApiRequest[LogoUploadResponse]:
    """``POST /api/applications/{clientId}/logo`` (multipart, field ``file``)."""
    path = f"/api/applications/{_segment(client_id, 'client_id')}/logo"
    return _request(
        "POST", path, _model(LogoUploadResponse), token=access_token,
        files=_upload(file, file_name, content_type),
    )


def regenerate_application_secret(
    access_token: str, client_id: str
) -> ApiRequest[RegenerateSecretResponse]:
    """``POST /api/applications/{clientId}/regenerate-secret``."""
    path = f"/api/applications/{_segment(client_id, 'client_id')}/regenerate-secret"
    return _request("POST", path, _model(RegenerateSecretResponse), token=access_token)


# -- /api/oauth ---------------------------------------------------------------------------------


def openid_configuration() -> ApiRequest[dict[str, Any]]:
    """``GET /.well-known/openid-configuration`` (OIDC Discovery 1.0 §4)."""
    return _request("GET", "/.well-known/openid-configuration", _json_object)


def fetch_jwks(path: str) -> ApiRequest[dict[str, Any]]:
    """``GET`` the server's JWKS at ``path`` (the discovery document's ``jwks_uri``)."""
    return _request("GET", path, _json_object)


def fetch_user_info(access_token: str) -> ApiRequest[UserInfo]:
    """``GET /api/oauth/userinfo``.

    Its errors are a Bearer resource's (RFC 6750 §3, OIDC Core §5.3.3): the code is in
    ``WWW-Authenticate``, not in an RFC 6749 body.
    """
    return _request("GET", "/api/oauth/userinfo", _model(UserInfo), token=access_token)


def introspect_token(
    token: str, client_id: str | None = None, client_secret: str | None = None
) -> ApiRequest[IntrospectResult]:
    """``POST /api/oauth/token/introspect`` in the Tekcify JSON form.

    Tried again like a GET: introspection only reads (RFC 7662 §2.1).
    """
    body = {"token": _token(token)}
    if client_id:
        body["clientId"] = client_id
    if client_secret:
        body["clientSecret"] = client_secret
    return _request(
        "POST", "/api/oauth/token/introspect", _model(IntrospectResult), json=body,
        idempotent=True, oauth=True,
    )


def list_connected_apps(access_token: str) -> ApiRequest[list[ConnectedApp]]:
    """``GET /api/oauth/connected-apps``: ``{success, data: [...]}`` (2.2.12) or a bare array."""
    return _request(
        "GET", "/api/oauth/connected-apps", _models(ConnectedApp, "data"), token=access_token
    )


def revoke_connected_app(access_token: str, client_id: str) -> ApiRequest[MessageResponse]:
    """``DELETE /api/oauth/connected-apps/{clientId}``: ``{success, message}`` (2.2.12;
    ``success`` is kept in the answer's ``model_extra``) or ``{message}``."""
    path = "/api/oauth/connected-apps/" + _segment(client_id, "client_id")
    return _request("DELETE", path, _message, token=access_token)


@dataclass(frozen=True, slots=True)
class ClientAuth:
    """How an OAuth client authenticates at the token and revocation endpoints.

    With a secret, ``client_secret_basic`` (RFC 6749 §2.3.1, the default) or
    ``client_secret_post``; without one, a public client sends only its ``client_id``.
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"

    def apply(self) -> tuple[dict[str, str], dict[str, str]]:
        """The headers and form fields that carry the credentials."""
        if self.client_secret is None:
            return {}, {"client_id": self.client_id}
        if self.method == "client_secret_post":
            return {}, {"client_id": self.client_id, "client_secret": self.client_secret}
        # §2.3.1: both parts are form-urlencoded before they are joined and encoded.
        pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {}


def oauth_token(
    grant: Mapping[str, str], auth: ClientAuth, clock: Clock,
    previous_refresh_token: str | None = None,
) -> ApiRequest[TokenSet]:
    """``POST /api/oauth/token`` with the form fields of ``grant``, form-encoded.

    Never tried again: a code is single use and a refresh token rotates.
    """
    headers, credentials = auth.apply()
    return _request(
        "POST", "/api/oauth/token", _token_set(clock, previous_refresh_token),
        headers=headers, form={**grant, **credentials}, oauth=True,
    )


def oauth_revoke(
    token: str, auth: ClientAuth, token_type_hint: str | None = None
) -> ApiRequest[None]:
    """``POST /api/oauth/revoke`` (RFC 7009).

    Tried again like a DELETE: revoking twice is revoking once, and the server
    answers 200 for a token it does not know (§2.2).
    """
    headers, credentials = auth.apply()
    form = {"token": _token(token), **credentials}
    if token_type_hint:
        form["token_type_hint"] = token_type_hint
    return _request(
        "POST", "/api/oauth/revoke", _nothing, headers=headers, form=form, idempotent=True,
        oauth=True,
    )


# -- the introspection cache ---------------------------------------------------------------------


class IntrospectionCache:
    """Remembers introspection answers, when enabled (``ttl`` not ``None``).

    An active answer is kept until the earlier of the token's ``exp`` and ``ttl``
    seconds; an inactive one for ``inactive_ttl`` seconds, so that a flood of bad
    tokens does not become a flood of requests while a just-revoked token is not
    believed for long. Keys are hashes: the cache holds no token. Errors are never
    kept.
    """

    __slots__ = ("_entries", "clock", "inactive_ttl", "ttl")

    def __init__(
        self, ttl: float | None, inactive_ttl: float, maxsize: int, clock: Clock
    ) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError("the introspection cache TTL must be > 0 (None turns it off)")
        if inactive_ttl < 0:
            raise ValueError("the inactive TTL must be >= 0")
        self.ttl = ttl
        self.inactive_ttl = inactive_ttl
        self.clock = clock
        self._entries: ExpiringLRU[IntrospectResult] | None = (
            None if ttl is None else ExpiringLRU(maxsize, clock)
        )

    @staticmethod
    def key(token: str, client_id: str | None, client_secret: str | None) -> str:
        """The cache key of one introspection question."""
        parts = (token, client_id or "", client_secret or "")
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def get(self, key: str) -> IntrospectResult | None:
        """The remembered answer, or ``None``."""
        return None if self._entries is None else self._entries.get(key)

    def put(self, key: str, result: IntrospectResult) -> None:
        """Remember ``result`` for as long as the rules above allow."""
        if self._entries is None or self.ttl is None:
            return
        now = self.clock()
        if not result.active:
            if self.inactive_ttl > 0:
                self._entries.put(key, result, now + self.inactive_ttl)
            return
        until = now + self.ttl
        if result.exp is not None:
            until = min(until, result.exp)
        if until > now:
            self._entries.put(key, result, until)

    def clear(self) -> None:
        """Forget every answer."""
        if self._entries is not None:
            self._entries.clear()
