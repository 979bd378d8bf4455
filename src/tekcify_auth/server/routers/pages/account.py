"""The account console's own pages: Profile (``/account``), Email (``/account/email``),
Password (``/account/password``) and Your data (``/account/data``).

Each page calls the services the JSON API calls (``routers/user.py``,
``routers/recovery.py``, ``routers/account_security.py``) and says their refusals in the
page's words; nothing here decides a rule of its own beyond reading the form.

Two flows prove the holder again as the API does (``services/reauth.py``): setting a
first password (an account made at an upstream provider has none) and deleting the
account take a 6-digit code mailed for that action, which the page trades for a
sensitive-action token in the same post. When the action is then refused (a wrong
two-factor code, say), the token, which the refusal did not spend, rides in the form
shown again, so the user retries without a new mail.

Changing or setting the password ends every page sign-in made under the old one
(``login_sessions``); this browser, which just proved itself, is signed in again under
the new password, so the page that says "changed" is still shown to it.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import anyio.to_thread
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from ...errors import ApiError
from ...schemas.account_security import SetOrChangePasswordRequest
from ...schemas.user import ProfileUpdate
from ...services import (
    applications,
    email_change,
    login_sessions,
    mfa,
    profile,
    reauth,
    verification,
)
from ...services.accounts import Client
from ...services.emails import InvalidEmail, normalise_email
from ...services.image_store import image_url
from ...services.images import ImageRejected
from ...services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from ...services.social import links
from ..deps import Ctx, client_address, user_agent
from ..images import Processor, base_url_of
from ..text import server_router
from . import EXPIRED_FORM, NO_STORE, console, page
from .console import ACCOUNT_PATH, Visit

router = server_router(include_in_schema=False)

PROFILE_PATH: Final = ACCOUNT_PATH
AVATAR_PATH: Final = f"{ACCOUNT_PATH}/avatar"
AVATAR_REMOVE_PATH: Final = f"{ACCOUNT_PATH}/avatar/remove"
NAMES_PATH: Final = f"{ACCOUNT_PATH}/profile"
EMAIL_PATH: Final = f"{ACCOUNT_PATH}/email"
RESEND_PATH: Final = f"{ACCOUNT_PATH}/email/resend"
VERIFY_CODE_PATH: Final = f"{ACCOUNT_PATH}/email/verify"
CHANGE_EMAIL_PATH: Final = f"{ACCOUNT_PATH}/email/change"
PASSWORD_PATH: Final = f"{ACCOUNT_PATH}/password"
PASSWORD_CODE_PATH: Final = f"{ACCOUNT_PATH}/password/code"
SET_PASSWORD_PATH: Final = f"{ACCOUNT_PATH}/password/set"
DATA_PATH: Final = f"{ACCOUNT_PATH}/data"
EXPORT_PATH: Final = f"{ACCOUNT_PATH}/data/export"
DELETE_PATH: Final = f"{ACCOUNT_PATH}/data/delete"
DELETE_CODE_PATH: Final = f"{ACCOUNT_PATH}/data/delete/code"

#: The sensitive actions the mailed codes of these pages are for (``reauth``).
SET_PASSWORD_ACTION: Final = "set_password"
DELETE_ACTION: Final = "delete_account"
#: A form field is read up to this many characters (the services refuse longer ones).
_FIELD: Final = 2048

console.notices(
    account_profile_saved="Your profile is saved.",
    account_avatar_saved="Your new picture is saved. This is how it is stored and shown.",
    account_avatar_removed="Your picture is removed.",
    account_verification_sent="A new verification link and code are on their way to your address.",
    account_email_verified="Your email address is verified.",
    account_email_change_sent=(
        "We sent a link to the new address: open it to confirm the change. Until then your "
        "address stays as it is."
    ),
    account_password_changed="Your password is changed. Your other sessions were signed out.",
    account_password_set="Your password is set. Your other sessions were signed out.",
    account_code_sent="We sent a 6-digit code to your email address. It works for 10 minutes.",
)

_ENTER_MFA: Final = "Enter the code from your authenticator app, or one of your backup codes."
#: The services' messages said as the pages' forms name things.
_WORDS: Final = {
    mfa.CODE_REQUIRED: _ENTER_MFA,
    reauth.NO_PROOF: "Enter your password, or ask for a code by email and enter it.",
    reauth.ONE_PROOF: "Enter your password or the emailed code, not both.",
    reauth.BAD_TOKEN: "The emailed code has expired or was used. Ask for a new one.",
    verification.ALREADY_VERIFIED: "Your email address is already verified.",
}
_NEW_PASSWORD: Final = (
    f"Choose a new password of {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters."
)
_NOT_THE_SAME: Final = "The two new passwords are not the same."


def _client(request: Request) -> Client:
    return Client(address=client_address(request), user_agent=user_agent(request))


def _words(exc: ApiError) -> str:
    return _WORDS.get(exc.message, exc.message)


def _field(value: str) -> str:
    return value[:_FIELD]


def _refused(answer: Response, exc: ApiError) -> Response:
    answer.headers.update(exc.headers)  # a 429's Retry-After
    return answer


def _mfa_on(seen: Visit) -> bool:
    with seen.ctx.db.read() as db:
        return mfa.is_enabled(db, seen.user.id)


# -- Profile -----------------------------------------------------------------------------


def _profile_page(
    seen: Visit, *, status: int = 200, error: str | None = None, invalid: str | None = None,
    first_name: str | None = None, last_name: str | None = None,
) -> Response:
    user = seen.user
    return seen.render(
        "account_profile.html", title="Profile", section="profile", status=status,
        error=error, invalid=invalid,
        first_name=user.first_name or "" if first_name is None else first_name,
        last_name=user.last_name or "" if last_name is None else last_name,
        avatar_url=image_url(base_url_of(seen.request), user.avatar_url),
        names_action=NAMES_PATH, names_csrf=seen.csrf("profile"),
        avatar_action=AVATAR_PATH, avatar_csrf=seen.csrf("avatar"),
        remove_url=AVATAR_REMOVE_PATH,
        max_mib=seen.request.app.state.image_processor.limits.max_bytes // (1024 * 1024),
    )


@router.get(PROFILE_PATH, response_class=HTMLResponse)
def profile_page(request: Request, ctx: Ctx) -> Response:
    """Profile: the names and the picture."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _profile_page(seen)


@router.post(NAMES_PATH, response_class=HTMLResponse)
def save_names(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    first_name: Annotated[str, Form()] = "",
    last_name: Annotated[str, Form()] = "",
) -> Response:
    """Save the first and last name (blank clears one), as ``PUT /api/user/profile``."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    shown = {"first_name": _field(first_name), "last_name": _field(last_name)}
    if not seen.csrf_ok("profile", csrf_token):
        return _profile_page(seen, status=403, error=EXPIRED_FORM, **shown)
    try:
        body = ProfileUpdate.model_validate(
            {"firstName": shown["first_name"], "lastName": shown["last_name"]}
        )
    except ValidationError as exc:
        field = str(exc.errors()[0].get("loc", ("",))[0])
        label, invalid = (
            ("Last name", "last_name") if field == "lastName" else ("First name", "first_name")
        )
        return _profile_page(
            seen, status=400, invalid=invalid, **shown,
            error=f"{label} must be at most 100 characters, without control characters.",
        )
    with ctx.db.write() as db:
        profile.update_profile(
            db, seen.user.id, {"first_name": body.firstName, "last_name": body.lastName},
            ctx.clock(),
        )
    return seen.done(PROFILE_PATH, "account_profile_saved")


@router.post(AVATAR_PATH, response_class=HTMLResponse)
async def upload_avatar(request: Request, ctx: Ctx, processor: Processor) -> Response:
    """Replace the picture (``multipart/form-data``: ``csrf_token`` and ``file``), as
    ``POST /api/user/profile/picture``: checked and stored re-encoded."""
    seen = await anyio.to_thread.run_sync(console.visit, request, ctx)
    if isinstance(seen, Response):
        return seen
    async with request.form(max_files=1, max_fields=10) as form:
        token = form.get("csrf_token")
        if not isinstance(token, str) or not seen.csrf_ok("avatar", token):
            return _profile_page(seen, status=403, error=EXPIRED_FORM)
        item = form.get("file")
        if not isinstance(item, UploadFile) or not item.filename:
            return _profile_page(
                seen, status=400, invalid="avatar", error="Choose a picture to upload."
            )
        data = await item.read()
    try:
        processed = await processor.aprocess(data)
    except ImageRejected as exc:
        return _profile_page(seen, status=exc.status_code, invalid="avatar", error=exc.message)

    def save() -> None:
        with ctx.db.write() as db:
            profile.set_avatar(db, seen.user.id, processed, now=ctx.clock())

    await anyio.to_thread.run_sync(save)
    return seen.done(PROFILE_PATH, "account_avatar_saved")


def _remove_page(seen: Visit, *, status: int = 200, error: str | None = None) -> Response:
    return seen.render(
        "account_avatar_remove.html", title="Remove your picture", section="profile",
        status=status, error=error, back=PROFILE_PATH, action=AVATAR_REMOVE_PATH,
        csrf_token=seen.csrf("avatar-remove"),
        avatar_url=image_url(base_url_of(seen.request), seen.user.avatar_url),
    )


@router.get(AVATAR_REMOVE_PATH, response_class=HTMLResponse)
def remove_avatar_page(request: Request, ctx: Ctx) -> Response:
    """The confirmation before the picture is removed."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if seen.user.avatar_url is None:
        return seen.done(PROFILE_PATH)
    return _remove_page(seen)


@router.post(AVATAR_REMOVE_PATH, response_class=HTMLResponse)
def remove_avatar(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Remove the picture; its stored image is deleted."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok("avatar-remove", csrf_token):
        return _remove_page(seen, status=403, error=EXPIRED_FORM)
    with ctx.db.write() as db:
        profile.remove_avatar(db, seen.user.id, now=ctx.clock())
    return seen.done(PROFILE_PATH, "account_avatar_removed")


# -- Email -------------------------------------------------------------------------------


def _email_page(
    seen: Visit, *, status: int = 200, error: str | None = None, invalid: str | None = None,
    new_email: str = "",
) -> Response:
    user = seen.user
    return seen.render(
        "account_email.html", title="Email", section="email", status=status, error=error,
        invalid=invalid, email=user.email, verified=user.email_verified,
        verified_at=user.email_verified_at, has_password=bool(user.password_hash),
        new_email=new_email, password_url=PASSWORD_PATH,
        resend_action=RESEND_PATH, resend_csrf=seen.csrf("email-resend"),
        verify_action=VERIFY_CODE_PATH, verify_csrf=seen.csrf("email-verify"),
        change_action=CHANGE_EMAIL_PATH, change_csrf=seen.csrf("email-change"),
    )


@router.get(EMAIL_PATH, response_class=HTMLResponse)
def email_page(request: Request, ctx: Ctx) -> Response:
    """Email: the address, whether it is verified, and its change."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _email_page(seen)


@router.post(RESEND_PATH, response_class=HTMLResponse)
def resend_verification(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Mail a new verification link and code, as ``POST /api/auth/email/verify/resend``."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok("email-resend", csrf_token):
        return _email_page(seen, status=403, error=EXPIRED_FORM)
    try:
        verification.resend(
            ctx, seen.user.id, base_url=base_url_of(request), address=client_address(request)
        )
    except ApiError as exc:
        return _refused(_email_page(seen, status=exc.status_code, error=_words(exc)), exc)
    return seen.done(EMAIL_PATH, "account_verification_sent")


@router.post(VERIFY_CODE_PATH, response_class=HTMLResponse)
def verify_email_code(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
) -> Response:
    """Verify the address with the mailed 6-digit code."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok("email-verify", csrf_token):
        return _email_page(seen, status=403, error=EXPIRED_FORM)
    entered = _field(code).strip()
    if not entered:
        return _email_page(
            seen, status=400, invalid="verify_code",
            error="Enter the 6-digit code from the verification email.",
        )
    try:
        verification.verify_code(ctx, seen.user.id, entered[:64], _client(request))
    except ApiError as exc:
        return _email_page(seen, status=exc.status_code, error=_words(exc), invalid="verify_code")
    return seen.done(EMAIL_PATH, "account_email_verified")


@router.post(CHANGE_EMAIL_PATH, response_class=HTMLResponse)
def change_email(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "",
    new_email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
) -> Response:
    """Ask to change the address, as ``POST /api/user/email/change``: nothing changes until
    the link mailed to the new address is opened."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    shown = new_email.strip()[:320]
    if not seen.csrf_ok("email-change", csrf_token):
        return _email_page(seen, status=403, error=EXPIRED_FORM, new_email=shown)
    try:
        address = normalise_email(new_email[:_FIELD])
    except InvalidEmail:
        return _email_page(
            seen, status=400, invalid="new_email", new_email=shown,
            error="Enter a valid email address.",
        )
    if not password:
        return _email_page(
            seen, status=400, invalid="change_password", new_email=shown,
            error="Enter your password to change your address.",
        )
    try:
        email_change.request_change(
            ctx, seen.user.id, address, password[:MAX_PASSWORD_LENGTH],
            base_url=base_url_of(request), client=_client(request),
        )
    except ApiError as exc:
        invalid = "change_password" if exc.message == email_change.WRONG_PASSWORD else "new_email"
        answer = _email_page(
            seen, status=exc.status_code, error=_words(exc), invalid=invalid, new_email=shown
        )
        return _refused(answer, exc)
    return seen.done(EMAIL_PATH, "account_email_change_sent")


# -- Password ----------------------------------------------------------------------------


def _password_page(
    seen: Visit, *, status: int = 200, error: str | None = None, invalid: str | None = None,
    proof: str = "",
) -> Response:
    user = seen.user
    with seen.ctx.db.read() as db:
        providers = list(dict.fromkeys(row.provider for row in links.list_links(db, user.id)))
        mfa_on = mfa.is_enabled(db, user.id)
    return seen.render(
        "account_password.html", title="Password", section="password", status=status,
        error=error, invalid=invalid, has_password=bool(user.password_hash),
        providers=providers, mfa_on=mfa_on, proof=proof,
        min_password=MIN_PASSWORD_LENGTH, max_password=MAX_PASSWORD_LENGTH,
        change_action=PASSWORD_PATH, change_csrf=seen.csrf("password-change"),
        code_action=PASSWORD_CODE_PATH, code_csrf=seen.csrf("password-code"),
        set_action=SET_PASSWORD_PATH, set_csrf=seen.csrf("password-set"),
    )


def _new_password_problem(new_password: str, again: str) -> tuple[str, str] | None:
    """What is wrong with the new password typed twice (message, field), if anything."""
    try:
        SetOrChangePasswordRequest.model_validate({"newPassword": new_password})
    except ValidationError:
        return _NEW_PASSWORD, "new_password"
    if new_password != again:
        return _NOT_THE_SAME, "new_password_again"
    return None


def _keep_signed_in(seen: Visit, new_password: str) -> None:
    """Sign this browser in again under the password it has just set.

    The new hash is read back and checked against the password this form sent, so a
    browser is never signed in under a password it did not give (another change in the
    instant since); then it simply signs in again.
    """
    ctx = seen.ctx
    with ctx.db.read() as db:
        user = profile.get_user(db, seen.user.id)
    if not user.password_hash or not ctx.passwords.verify(user.password_hash, new_password):
        return
    try:
        with ctx.db.write() as db:
            token, _row = login_sessions.start_login_session(
                db, ctx, user.id, password_hash=user.password_hash,
                replacing=seen.browser.login_token, user_agent=user_agent(seen.request),
                ip_address=client_address(seen.request), amr=seen.login.amr,
            )
    except ApiError:  # changed or disabled meanwhile: the login page it is
        return
    seen.browser.set_login = token


@router.get(PASSWORD_PATH, response_class=HTMLResponse)
def password_page(request: Request, ctx: Ctx) -> Response:
    """Password: change it, or set one on an account that has none."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _password_page(seen)


@router.post(PASSWORD_PATH, response_class=HTMLResponse)
def change_password(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    new_password_again: Annotated[str, Form()] = "",
    mfa_code: Annotated[str, Form()] = "",
) -> Response:
    """Change the password, as ``POST /api/auth/account/password/set-or-change``; every
    other session is signed out."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok("password-change", csrf_token):
        return _password_page(seen, status=403, error=EXPIRED_FORM)
    if not seen.user.password_hash:
        return seen.done(PASSWORD_PATH)
    if not current_password:
        return _password_page(
            seen, status=400, invalid="current_password", error="Enter your current password."
        )
    problem = _new_password_problem(new_password[:_FIELD], new_password_again[:_FIELD])
    if problem is not None:
        return _password_page(seen, status=400, error=problem[0], invalid=problem[1])
    try:
        reauth.set_or_change_password(
            ctx, user_id=seen.user.id, session_id=seen.login.session_id,
            current_password=current_password[:MAX_PASSWORD_LENGTH],
            sensitive_action_token=None, new_password=new_password,
            client=_client(request), mfa_code=mfa_code.strip()[:64] or None,
        )
    except ApiError as exc:
        invalid = "mfa_code" if exc.status_code == 403 or exc.message == mfa.CODE_REQUIRED \
            else "current_password"
        answer = _password_page(seen, status=exc.status_code, error=_words(exc), invalid=invalid)
        return _refused(answer, exc)
    _keep_signed_in(seen, new_password)
    return seen.done(PASSWORD_PATH, "account_password_changed")


@router.post(PASSWORD_CODE_PATH, response_class=HTMLResponse)
def send_password_code(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Mail the code that lets an account without a password set one."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok("password-code", csrf_token):
        return _password_page(seen, status=403, error=EXPIRED_FORM)
    if seen.user.password_hash:
        return seen.done(PASSWORD_PATH)
    try:
        reauth.send_code(ctx, seen.user.id, SET_PASSWORD_ACTION, base_url=base_url_of(request))
    except ApiError as exc:
        return _refused(_password_page(seen, status=exc.status_code, error=_words(exc)), exc)
    return seen.done(PASSWORD_PATH, "account_code_sent")


def _proof_token(
    seen: Visit, action: str, code: str, proof: str
) -> tuple[str | None, ApiError | None]:
    """The sensitive-action token: ``proof`` (one the page handed back), or the one the
    mailed ``code`` is traded for; or the refusal."""
    if proof:
        return proof[:128], None
    try:
        token = reauth.verify_code(
            seen.ctx, seen.user.id, action, code.strip()[:64], client=_client(seen.request)
        )
    except ApiError as exc:
        return None, exc
    return token, None


@router.post(SET_PASSWORD_PATH, response_class=HTMLResponse)
def set_password(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    proof: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    new_password_again: Annotated[str, Form()] = "",
    mfa_code: Annotated[str, Form()] = "",
) -> Response:
    """Set a first password with the mailed code, as ``set-or-change`` with a
    sensitive-action token; every other session is signed out."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    proof = proof[:128]
    if not seen.csrf_ok("password-set", csrf_token):
        return _password_page(seen, status=403, error=EXPIRED_FORM, proof=proof)
    if seen.user.password_hash:
        return seen.done(PASSWORD_PATH)
    if not proof and not code.strip():
        return _password_page(
            seen, status=400, invalid="set_code", error="Enter the 6-digit code we emailed you."
        )
    problem = _new_password_problem(new_password[:_FIELD], new_password_again[:_FIELD])
    if problem is not None:
        return _password_page(seen, status=400, error=problem[0], invalid=problem[1], proof=proof)
    token, refused = _proof_token(seen, SET_PASSWORD_ACTION, code, proof)
    if refused is not None:
        return _password_page(
            seen, status=refused.status_code, error=_words(refused), invalid="set_code"
        )
    try:
        reauth.set_or_change_password(
            ctx, user_id=seen.user.id, session_id=seen.login.session_id,
            current_password=None, sensitive_action_token=token, new_password=new_password,
            client=_client(request), mfa_code=mfa_code.strip()[:64] or None,
        )
    except ApiError as exc:
        kept = (token or "") if exc.message != reauth.BAD_TOKEN else ""
        answer = _password_page(
            seen, status=exc.status_code, error=_words(exc), proof=kept,
            invalid="mfa_code" if kept else "set_code",
        )
        return _refused(answer, exc)
    _keep_signed_in(seen, new_password)
    return seen.done(PASSWORD_PATH, "account_password_set")


# -- Your data ---------------------------------------------------------------------------


def _data_page(seen: Visit, *, status: int = 200, error: str | None = None) -> Response:
    return seen.render(
        "account_data.html", title="Your data", section="data", status=status, error=error,
        export_action=EXPORT_PATH, export_csrf=seen.csrf("data-export"),
        delete_url=DELETE_PATH,
    )


@router.get(DATA_PATH, response_class=HTMLResponse)
def data_page(request: Request, ctx: Ctx) -> Response:
    """Your data: the export, and the way to delete the account."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _data_page(seen)


@router.post(EXPORT_PATH, response_class=HTMLResponse)
def export_data(request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    """Every record held on the user as a JSON download, as ``GET /api/user/export-data``
    (a form, so no other site can start the download)."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok("data-export", csrf_token):
        return _data_page(seen, status=403, error=EXPIRED_FORM)
    with ctx.db.read() as db:
        data: dict[str, Any] = profile.export_data(
            db, seen.user.id, ctx.clock(), base_url=base_url_of(request)
        )
    return JSONResponse(
        data,
        headers={
            **NO_STORE,
            "Content-Disposition": 'attachment; filename="tekcify-data-export.json"',
        },
    )


def _delete_page(
    seen: Visit, *, status: int = 200, error: str | None = None, invalid: str | None = None,
    proof: str = "",
) -> Response:
    user = seen.user
    with seen.ctx.db.read() as db:
        _rows, owned = applications.list_applications(db, user.id, page=1, limit=1)
        mfa_on = mfa.is_enabled(db, user.id)
    return seen.render(
        "account_delete.html", title="Delete your account", section="data", status=status,
        error=error, invalid=invalid, email=user.email, has_password=bool(user.password_hash),
        mfa_on=mfa_on, applications=owned.total, proof=proof, back=DATA_PATH,
        action=DELETE_PATH, csrf_token=seen.csrf("delete-account"),
        code_action=DELETE_CODE_PATH, code_csrf=seen.csrf("delete-code"),
    )


@router.get(DELETE_PATH, response_class=HTMLResponse)
def delete_page(request: Request, ctx: Ctx) -> Response:
    """The confirmation page: what deleting the account does, and the proof it needs."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _delete_page(seen)


@router.post(DELETE_CODE_PATH, response_class=HTMLResponse)
def send_delete_code(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Mail a code that confirms the deletion (instead of the password)."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok("delete-code", csrf_token):
        return _delete_page(seen, status=403, error=EXPIRED_FORM)
    try:
        reauth.send_code(ctx, seen.user.id, DELETE_ACTION, base_url=base_url_of(request))
    except ApiError as exc:
        return _refused(_delete_page(seen, status=exc.status_code, error=_words(exc)), exc)
    return seen.done(DELETE_PATH, "account_code_sent")


@router.post(DELETE_PATH, response_class=HTMLResponse)
def delete_account(
    request: Request,
    ctx: Ctx,
    csrf_token: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    proof: Annotated[str, Form()] = "",
    mfa_code: Annotated[str, Form()] = "",
) -> Response:
    """Delete the account and everything it owns, as ``DELETE /api/user/account``: with
    the password or a mailed code, and the two-factor code while it is on."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    proof = proof[:128]
    if not seen.csrf_ok("delete-account", csrf_token):
        return _delete_page(seen, status=403, error=EXPIRED_FORM, proof=proof)
    entered = code.strip()
    if password and (entered or proof):
        return _delete_page(
            seen, status=400, error=_WORDS[reauth.ONE_PROOF], invalid="password", proof=proof
        )
    token: str | None = None
    if not password:
        if not entered and not proof:
            return _delete_page(
                seen, status=400, error=_WORDS[reauth.NO_PROOF], invalid="password"
            )
        token, refused = _proof_token(seen, DELETE_ACTION, entered, proof)
        if refused is not None:
            return _refused(
                _delete_page(
                    seen, status=refused.status_code, error=_words(refused), invalid="code"
                ),
                refused,
            )
    try:
        profile.delete_account(
            ctx, user_id=seen.user.id, password=password[:MAX_PASSWORD_LENGTH] or None,
            sensitive_action_token=token, mfa_code=mfa_code.strip()[:64] or None,
            client=_client(request),
        )
    except ApiError as exc:
        kept = (token or "") if exc.message != reauth.BAD_TOKEN else ""
        wrong_mfa = exc.message in (mfa.CODE_REQUIRED, mfa.WRONG_CODE)
        answer = _delete_page(
            seen, status=exc.status_code, error=_words(exc), proof=kept,
            invalid="mfa_code" if wrong_mfa else ("code" if token else "password"),
        )
        return _refused(answer, exc)
    return page(
        seen.browser, ctx, "account_done.html", title="Your account is deleted",
        heading="Your account is deleted",
        message=(
            "Your Tekcify account and all its data are gone, and you are signed out "
            "everywhere. Thank you for having been with us."
        ),
    )
