"""The account console's ways to sign in: Two-factor sign-in (``/account/two-factor``),
Passkeys (``/account/passkeys``) and Social accounts (``/account/social``).

Each page calls the services the JSON API calls (``routers/mfa.py``,
``routers/passkeys.py``, ``routers/social.py``) and says their refusals in the page's
words.

Two-factor: setting up, turning off and renewing the backup codes prove the holder
again as the API does, with the password or a 6-digit code mailed for that action
(traded for a sensitive-action token in the same post, ``services/reauth.py``). Setting
up answers the secret (as text and as a QR code) and the backup codes once; the page
that checks the first code carries them in its form with a signature bound to this
sign-in (:meth:`Visit.csrf` of the values), so a wrong code shows the same QR code again
and a right one shows the backup codes, never ones the form made up. The codes are
offered as a ``.txt`` download by a form posting them back with that signature.

Passkeys: the page's script (``static/passkey.js``) asks ``/account/passkeys/options``
for the registration options and posts the new credential as a form. A passkey is named
in URLs by its row id, and one that is not the user's is the console's 404.

Social accounts: connecting a provider starts the social flow (``routers/social.py``)
with purpose ``link`` for this account; its callback connects the identity and comes
back here.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Annotated, Any, Final

from fastapi import Body, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from ...db.passkeys import Passkey
from ...errors import ApiError
from ...schemas.passkeys import RenamePasskeyRequest
from ...services import mfa, passkeys, reauth
from ...services.accounts import Client
from ...services.passwords import MAX_PASSWORD_LENGTH
from ...services.social import flows, links
from ...services.social.upstream import UpstreamError, authorization
from ..authorize import PASSKEY_SCRIPT_PATH
from ..deps import Ctx, client_address, user_agent
from ..images import BaseUrl, base_url_of
from ..social import callback_url
from ..text import server_router
from . import EXPIRED_FORM, NO_STORE, console, redirect
from .console import ACCOUNT_PATH, Visit

router = server_router(include_in_schema=False)

TWO_FACTOR_PATH: Final = f"{ACCOUNT_PATH}/two-factor"
SETUP_PATH: Final = f"{TWO_FACTOR_PATH}/setup"
CONFIRM_PATH: Final = f"{TWO_FACTOR_PATH}/confirm"
DISABLE_PATH: Final = f"{TWO_FACTOR_PATH}/disable"
REGENERATE_PATH: Final = f"{TWO_FACTOR_PATH}/backup-codes"
DOWNLOAD_PATH: Final = f"{TWO_FACTOR_PATH}/backup-codes.txt"
PASSKEYS_PATH: Final = f"{ACCOUNT_PATH}/passkeys"
PASSKEY_OPTIONS_PATH: Final = f"{PASSKEYS_PATH}/options"
SOCIAL_PAGE_PATH: Final = f"{ACCOUNT_PATH}/social"

#: The sensitive actions of the mailed codes of the Two-factor forms (``services/mfa.py``).
ACTIONS: Final = {"setup": "mfa_setup", "disable": "mfa_disable",
                  "regenerate": "regenerate_backup_codes"}
#: The longest credential JSON a form may carry (an attestation with certificates fits).
MAX_CREDENTIAL_CHARS: Final = 64 * 1024
_FIELD: Final = 2048

console.notices(
    security_code_sent="We sent a 6-digit code to your email address. It works for 10 minutes.",
    security_mfa_off="Two-factor sign-in is off. Your backup codes no longer work.",
    security_passkey_added="Your new passkey is added.",
    security_passkey_renamed="The passkey is renamed.",
    security_passkey_removed="The passkey is removed.",
    security_social_linked="The account is connected. You can sign in with it.",
    security_social_unlinked="The account is disconnected.",
)

_WORDS: Final = {
    mfa.CODE_REQUIRED: "Enter the code from your authenticator app, or one of your backup codes.",
    reauth.NO_PROOF: "Enter your password, or ask for a code by email and enter it.",
    reauth.ONE_PROOF: "Enter your password or the emailed code, not both.",
    reauth.BAD_TOKEN: "The emailed code has expired or was used. Ask for a new one.",
}


def _client(request: Request, via: str = "") -> Client:
    if via:
        return Client(address=client_address(request), user_agent=user_agent(request), via=via)
    return Client(address=client_address(request), user_agent=user_agent(request))


def _words(exc: ApiError) -> str:
    return _WORDS.get(exc.message, exc.message)


def _refused(answer: Response, exc: ApiError) -> Response:
    answer.headers.update(exc.headers)  # a 429's Retry-After
    return answer


# -- Two-factor --------------------------------------------------------------------------


def _mfa_on(seen: Visit) -> bool:
    with seen.ctx.db.read() as db:
        return mfa.is_enabled(db, seen.user.id)


def _two_factor_page(
    seen: Visit, *, status: int = 200, error: str | None = None, invalid: str | None = None,
    form: str = "setup", proof: str = "",
) -> Response:
    """The Two-factor page; ``form`` is the proof form shown: setup, disable or regenerate."""
    enabled = _mfa_on(seen)
    if enabled and form == "setup":
        form = "overview"
    title = {"disable": "Turn off two-factor sign-in",
             "regenerate": "New backup codes"}.get(form, "Two-factor sign-in")
    action = {"setup": SETUP_PATH, "disable": DISABLE_PATH,
              "regenerate": REGENERATE_PATH}.get(form, "")
    return seen.render(
        "account_two_factor.html", title=title, section="two-factor", status=status,
        error=error, invalid=invalid, enabled=enabled, form=form, proof=proof,
        has_password=bool(seen.user.password_hash), back=TWO_FACTOR_PATH,
        action=action, csrf_token=seen.csrf(f"mfa-{form}"),
        code_action=f"{action}/code", code_csrf=seen.csrf(f"mfa-{form}-code"),
        disable_url=DISABLE_PATH, regenerate_url=REGENERATE_PATH,
    )


@router.get(TWO_FACTOR_PATH, response_class=HTMLResponse)
def two_factor_page(request: Request, ctx: Ctx) -> Response:
    """Two-factor sign-in: whether it is on; set it up, or turn it off and renew codes."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _two_factor_page(seen)


@router.get(DISABLE_PATH, response_class=HTMLResponse)
def disable_page(request: Request, ctx: Ctx) -> Response:
    """The confirmation before two-factor sign-in is turned off."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not _mfa_on(seen):  # nothing to confirm: the set-up it is
        return seen.done(TWO_FACTOR_PATH)
    return _two_factor_page(seen, form="disable")


@router.get(REGENERATE_PATH, response_class=HTMLResponse)
def regenerate_page(request: Request, ctx: Ctx) -> Response:
    """The confirmation before new backup codes replace the old ones."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not _mfa_on(seen):  # nothing to confirm: the set-up it is
        return seen.done(TWO_FACTOR_PATH)
    return _two_factor_page(seen, form="regenerate")


def _send_code(request: Request, ctx: Ctx, form: str, csrf_token: str) -> Response:
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    if not seen.csrf_ok(f"mfa-{form}-code", csrf_token):
        return _two_factor_page(seen, status=403, error=EXPIRED_FORM, form=form)
    try:
        reauth.send_code(ctx, seen.user.id, ACTIONS[form], base_url=base_url_of(request))
    except ApiError as exc:
        return _refused(
            _two_factor_page(seen, status=exc.status_code, error=_words(exc), form=form), exc
        )
    back = {"setup": TWO_FACTOR_PATH, "disable": DISABLE_PATH, "regenerate": REGENERATE_PATH}
    return seen.done(back[form], "security_code_sent")


@router.post(f"{SETUP_PATH}/code", response_class=HTMLResponse)
def send_setup_code(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Mail the code that confirms setting up two-factor sign-in (instead of the password)."""
    return _send_code(request, ctx, "setup", csrf_token)


@router.post(f"{DISABLE_PATH}/code", response_class=HTMLResponse)
def send_disable_code(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Mail the code that confirms turning two-factor sign-in off."""
    return _send_code(request, ctx, "disable", csrf_token)


@router.post(f"{REGENERATE_PATH}/code", response_class=HTMLResponse)
def send_regenerate_code(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Mail the code that confirms renewing the backup codes."""
    return _send_code(request, ctx, "regenerate", csrf_token)


def _identity(
    seen: Visit, form: str, password: str, code: str, proof: str
) -> tuple[str | None, str | None] | Response:
    """The proof of identity a form gave: ``(password, sensitive-action token)``, or the
    page saying what is missing or refused."""
    entered = code.strip()[:64]
    if password and (entered or proof):
        return _two_factor_page(
            seen, status=400, error=_WORDS[reauth.ONE_PROOF], invalid="password", form=form,
            proof=proof,
        )
    if password:
        return password[:MAX_PASSWORD_LENGTH], None
    if proof:
        return None, proof
    if not entered:
        return _two_factor_page(
            seen, status=400, error=_WORDS[reauth.NO_PROOF], form=form,
            invalid="password" if seen.user.password_hash else "code",
        )
    try:
        token = reauth.verify_code(
            seen.ctx, seen.user.id, ACTIONS[form], entered, client=_client(seen.request)
        )
    except ApiError as exc:
        return _refused(
            _two_factor_page(
                seen, status=exc.status_code, error=_words(exc), invalid="code", form=form
            ),
            exc,
        )
    return None, token


def _signature(seen: Visit, secret: str, codes: list[str]) -> str:
    return seen.csrf("mfa-issued|" + secret + "|" + " ".join(codes))


def _codes_of(seen: Visit, secret: str, codes: str, signature: str) -> list[str] | None:
    """The values a form carried back, if this sign-in's page issued them."""
    found = codes[:_FIELD].split()
    if not seen.csrf_ok("mfa-issued|" + secret[:128] + "|" + " ".join(found), signature):
        return None
    return found


def _scan_page(
    seen: Visit, secret: str, codes: list[str], *, status: int = 200,
    error: str | None = None,
) -> Response:
    return seen.render(
        "account_two_factor_scan.html", title="Set up two-factor sign-in",
        section="two-factor", status=status, error=error, secret=secret, data_images=True,
        qr_code=mfa.qr_code(seen.user.email, secret), codes=" ".join(codes),
        signature=_signature(seen, secret, codes), back=TWO_FACTOR_PATH,
        action=CONFIRM_PATH, csrf_token=seen.csrf("mfa-confirm"),
        invalid="mfa_code" if error else None,
    )


def _codes_page(seen: Visit, codes: list[str], *, heading: str, notice: str) -> Response:
    return seen.render(
        "account_backup_codes.html", title=heading, section="two-factor", notice=notice,
        backup_codes=codes, codes=" ".join(codes), signature=_signature(seen, "", codes),
        download_action=DOWNLOAD_PATH, download_csrf=seen.csrf("mfa-download"),
        back=TWO_FACTOR_PATH,
    )


@router.post(SETUP_PATH, response_class=HTMLResponse)
def setup(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "",
    proof: Annotated[str, Form()] = "",
) -> Response:
    """Start setting up two-factor sign-in, as ``POST /api/auth/mfa/setup``: the secret,
    its QR code and the form checking the first code."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    proof = proof[:128]
    if not seen.csrf_ok("mfa-setup", csrf_token):
        return _two_factor_page(seen, status=403, error=EXPIRED_FORM, proof=proof)
    given = _identity(seen, "setup", password, code, proof)
    if isinstance(given, Response):
        return given
    try:
        made = mfa.setup(
            ctx, seen.user.id, password=given[0], sensitive_action_token=given[1],
            client=_client(request),
        )
    except ApiError as exc:
        kept = given[1] or "" if exc.message != reauth.BAD_TOKEN else ""
        answer = _two_factor_page(
            seen, status=exc.status_code, error=_words(exc), proof=kept,
            invalid="code" if given[1] else "password",
        )
        return _refused(answer, exc)
    return _scan_page(seen, made.secret, made.backup_codes)


@router.post(CONFIRM_PATH, response_class=HTMLResponse)
def confirm(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "", codes: Annotated[str, Form()] = "",
    signature: Annotated[str, Form()] = "", mfa_code: Annotated[str, Form()] = "",
) -> Response:
    """Turn two-factor sign-in on with a first code, as ``POST /api/auth/mfa/verify-setup``;
    then the backup codes, shown this once."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    issued = _codes_of(seen, secret, codes, signature)
    if issued is None:  # not what this sign-in's set-up page showed: start again
        return _two_factor_page(seen, status=403, error=EXPIRED_FORM)
    if not seen.csrf_ok("mfa-confirm", csrf_token):
        return _scan_page(seen, secret, issued, status=403, error=EXPIRED_FORM)
    entered = "".join(mfa_code.split())[:64]
    if not entered:
        return _scan_page(
            seen, secret, issued, status=400,
            error="Enter the 6-digit code your authenticator app shows.",
        )
    try:
        mfa.verify_setup(ctx, seen.user.id, entered, _client(request))
    except ApiError as exc:
        if exc.status_code == 409:
            return _two_factor_page(seen, status=409, error=exc.message)
        return _refused(
            _scan_page(seen, secret, issued, status=exc.status_code, error=exc.message), exc
        )
    return _codes_page(
        seen, issued, heading="Two-factor sign-in is on",
        notice="Two-factor sign-in is on. Keep your backup codes now: they are shown only once.",
    )


def _with_code(
    request: Request, ctx: Ctx, form: str, csrf_token: str, password: str, code: str,
    proof: str, mfa_code: str,
) -> Response | tuple[Visit, tuple[str | None, str | None], str]:
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    proof = proof[:128]
    if not seen.csrf_ok(f"mfa-{form}", csrf_token):
        return _two_factor_page(seen, status=403, error=EXPIRED_FORM, form=form, proof=proof)
    entered = mfa_code.strip()[:64]
    if not entered:
        return _two_factor_page(
            seen, status=400, error=_WORDS[mfa.CODE_REQUIRED], invalid="mfa_code", form=form,
            proof=proof,
        )
    given = _identity(seen, form, password, code, proof)
    if isinstance(given, Response):
        return given
    return seen, given, entered


def _mfa_refused(seen: Visit, form: str, exc: ApiError, token: str | None) -> Response:
    kept = (token or "") if exc.message != reauth.BAD_TOKEN else ""
    wrong_mfa = exc.message in (mfa.CODE_REQUIRED, mfa.WRONG_CODE)
    answer = _two_factor_page(
        seen, status=exc.status_code, error=_words(exc), form=form, proof=kept,
        invalid="mfa_code" if wrong_mfa else ("code" if token else "password"),
    )
    return _refused(answer, exc)


@router.post(DISABLE_PATH, response_class=HTMLResponse)
def disable(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "",
    proof: Annotated[str, Form()] = "", mfa_code: Annotated[str, Form()] = "",
) -> Response:
    """Turn two-factor sign-in off, as ``POST /api/auth/mfa/disable``."""
    got = _with_code(request, ctx, "disable", csrf_token, password, code, proof, mfa_code)
    if isinstance(got, Response):
        return got
    seen, given, entered = got
    try:
        mfa.disable(
            ctx, seen.user.id, password=given[0], sensitive_action_token=given[1],
            mfa_code=entered, client=_client(request),
        )
    except ApiError as exc:
        return _mfa_refused(seen, "disable", exc, given[1])
    return seen.done(TWO_FACTOR_PATH, "security_mfa_off")


@router.post(REGENERATE_PATH, response_class=HTMLResponse)
def regenerate(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "", code: Annotated[str, Form()] = "",
    proof: Annotated[str, Form()] = "", mfa_code: Annotated[str, Form()] = "",
) -> Response:
    """Ten new backup codes, as ``POST /api/auth/mfa/regenerate-backup-codes``; shown once."""
    got = _with_code(request, ctx, "regenerate", csrf_token, password, code, proof, mfa_code)
    if isinstance(got, Response):
        return got
    seen, given, entered = got
    try:
        codes = mfa.regenerate_backup_codes(
            ctx, seen.user.id, password=given[0], sensitive_action_token=given[1],
            mfa_code=entered, client=_client(request),
        )
    except ApiError as exc:
        return _mfa_refused(seen, "regenerate", exc, given[1])
    return _codes_page(
        seen, codes, heading="Your new backup codes",
        notice="Your new backup codes are ready; the old ones no longer work. They are "
        "shown only once.",
    )


@router.post(DOWNLOAD_PATH)
def download_codes(
    request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "",
    codes: Annotated[str, Form()] = "", signature: Annotated[str, Form()] = "",
) -> Response:
    """The backup codes just shown, as a text file."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    issued = _codes_of(seen, "", codes, signature)
    if not seen.csrf_ok("mfa-download", csrf_token) or not issued:
        return _two_factor_page(seen, status=403, error=EXPIRED_FORM)
    text = (
        f"Tekcify backup codes for {seen.user.email}\n"
        "Each code signs you in once when your authenticator app is not at hand.\n\n"
        + "".join(f"{c}\n" for c in issued)
    )
    return Response(
        text, media_type="text/plain; charset=utf-8",
        headers={
            **NO_STORE,
            "Content-Disposition": 'attachment; filename="tekcify-backup-codes.txt"',
        },
    )


# -- Passkeys ----------------------------------------------------------------------------


def _passkeys_page(
    seen: Visit, *, status: int = 200, error: str | None = None, invalid: str | None = None,
    name: str = "",
) -> Response:
    with seen.ctx.db.read() as db:
        held = passkeys.list_passkeys(db, seen.user.id)
    # The service's rule (``passkeys.delete_passkey``): without a password, the last
    # passkey stays.
    last_way = not seen.user.password_hash and len(held) == 1
    return seen.render(
        "account_passkeys.html", title="Passkeys", section="passkeys", status=status,
        error=error, invalid=invalid, passkeys=held, last_way=last_way, name=name,
        scripts=True, action=PASSKEYS_PATH, options_url=PASSKEY_OPTIONS_PATH,
        script=PASSKEY_SCRIPT_PATH, csrf_token=seen.csrf("passkey-add"), base=PASSKEYS_PATH,
    )


def _own_passkey(seen: Visit, passkey_id: str) -> Passkey | None:
    with seen.ctx.db.read() as db:
        return next(
            (p for p in passkeys.list_passkeys(db, seen.user.id) if p.id == passkey_id[:64]),
            None,
        )


@router.get(PASSKEYS_PATH, response_class=HTMLResponse)
def passkeys_page(request: Request, ctx: Ctx) -> Response:
    """Passkeys: the list, and the button that adds one."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _passkeys_page(seen)


@router.post(PASSKEY_OPTIONS_PATH)
def passkey_options(
    request: Request, ctx: Ctx, base: BaseUrl,
    csrfToken: Annotated[str, Body(embed=True, max_length=128)] = "",
) -> Response:
    """The registration options for the page's script (CSRF token in the JSON body)."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        raise ApiError(401, "Sign in first")
    if not seen.csrf_ok("passkey-add", csrfToken):
        raise ApiError(403, EXPIRED_FORM)
    options = passkeys.registration_options(ctx, seen.user.id, passkeys.RelyingParty.of(base))
    return JSONResponse(options, headers=NO_STORE)


def _credential(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if len(raw) <= MAX_CREDENTIAL_CHARS else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ApiError(400, passkeys.REFUSED)
    return value


@router.post(PASSKEYS_PATH, response_class=HTMLResponse)
def add_passkey(
    request: Request, ctx: Ctx, base: BaseUrl, csrf_token: Annotated[str, Form()] = "",
    challenge: Annotated[str, Form()] = "", credential: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Register the new passkey the page's script posted, as ``POST /api/auth/passkey/register``."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    # The API's rule for names (schemas/passkeys.py): no control or format characters.
    label = " ".join("".join(
        c for c in name[:_FIELD] if unicodedata.category(c)[0] != "C"
    ).split())[:100]
    if not seen.csrf_ok("passkey-add", csrf_token):
        return _passkeys_page(seen, status=403, error=EXPIRED_FORM, name=label)
    try:
        passkeys.register(
            ctx, seen.user.id, credential=_credential(credential), challenge=challenge[:256],
            name=label or None, rp=passkeys.RelyingParty.of(base),
            client=_client(request, "page"),
        )
    except ApiError as exc:
        return _passkeys_page(seen, status=exc.status_code, error=exc.message, name=label)
    return seen.done(PASSKEYS_PATH, "security_passkey_added")


def _rename_page(
    seen: Visit, row: Passkey, *, status: int = 200, error: str | None = None,
    name: str | None = None,
) -> Response:
    return seen.render(
        "account_passkey_rename.html", title="Rename a passkey", section="passkeys",
        status=status, error=error, passkey=row, back=PASSKEYS_PATH,
        name=row.name if name is None else name, invalid="name" if status == 400 else None,
        action=f"{PASSKEYS_PATH}/{row.id}/rename", csrf_token=seen.csrf("passkey-rename"),
    )


@router.get(PASSKEYS_PATH + "/{passkey_id}/rename", response_class=HTMLResponse)
def rename_passkey_page(request: Request, ctx: Ctx, passkey_id: str) -> Response:
    """The form that renames a passkey."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    row = _own_passkey(seen, passkey_id)
    if row is None:
        return console.not_found(request, ctx, "This passkey")
    return _rename_page(seen, row)


@router.post(PASSKEYS_PATH + "/{passkey_id}/rename", response_class=HTMLResponse)
def rename_passkey(
    request: Request, ctx: Ctx, passkey_id: str, csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
) -> Response:
    """Rename a passkey, as ``PUT /api/auth/passkey/{credentialId}/rename``."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    row = _own_passkey(seen, passkey_id)
    if row is None:
        return console.not_found(request, ctx, "This passkey")
    shown = name[:_FIELD]
    if not seen.csrf_ok("passkey-rename", csrf_token):
        return _rename_page(seen, row, status=403, error=EXPIRED_FORM, name=shown[:100])
    try:
        body = RenamePasskeyRequest.model_validate({"name": shown})
    except ValidationError:
        return _rename_page(
            seen, row, status=400, name=shown[:100],
            error="A passkey's name is 1 to 100 characters, without control characters.",
        )
    try:
        passkeys.rename_passkey(ctx, seen.user.id, row.credential_id, body.name,
                                _client(request))
    except ApiError as exc:
        return _rename_page(seen, row, status=exc.status_code, error=exc.message, name=shown)
    return seen.done(PASSKEYS_PATH, "security_passkey_renamed")


def _remove_passkey_page(
    seen: Visit, row: Passkey, *, status: int = 200, error: str | None = None
) -> Response:
    with seen.ctx.db.read() as db:
        count = len(passkeys.list_passkeys(db, seen.user.id))
    return seen.render(
        "account_passkey_remove.html", title="Remove a passkey", section="passkeys",
        status=status, error=error, passkey=row, back=PASSKEYS_PATH,
        last_way=not seen.user.password_hash and count <= 1,
        action=f"{PASSKEYS_PATH}/{row.id}/remove", csrf_token=seen.csrf("passkey-remove"),
    )


@router.get(PASSKEYS_PATH + "/{passkey_id}/remove", response_class=HTMLResponse)
def remove_passkey_page(request: Request, ctx: Ctx, passkey_id: str) -> Response:
    """The confirmation before a passkey is removed."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    row = _own_passkey(seen, passkey_id)
    if row is None:
        return console.not_found(request, ctx, "This passkey")
    return _remove_passkey_page(seen, row)


@router.post(PASSKEYS_PATH + "/{passkey_id}/remove", response_class=HTMLResponse)
def remove_passkey(
    request: Request, ctx: Ctx, passkey_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Remove a passkey, as ``DELETE /api/auth/passkey/{credentialId}`` (not the last way
    to sign in)."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    row = _own_passkey(seen, passkey_id)
    if row is None:
        return console.not_found(request, ctx, "This passkey")
    if not seen.csrf_ok("passkey-remove", csrf_token):
        return _remove_passkey_page(seen, row, status=403, error=EXPIRED_FORM)
    try:
        passkeys.delete_passkey(ctx, seen.user.id, row.credential_id, _client(request))
    except ApiError as exc:
        return _remove_passkey_page(seen, row, status=exc.status_code, error=exc.message)
    return seen.done(PASSKEYS_PATH, "security_passkey_removed")


# -- Social accounts ---------------------------------------------------------------------


def _social_page(seen: Visit, *, status: int = 200, error: str | None = None) -> Response:
    with seen.ctx.db.read() as db:
        linked = links.list_links(db, seen.user.id)
    configured = {p.name: p.display_name for p in seen.ctx.settings.social_providers}
    rows = [
        {"name": name, "label": label, "links": [r for r in linked if r.provider == name]}
        for name, label in configured.items()
    ] + [
        {"name": name, "label": name, "links": [r for r in linked if r.provider == name]}
        for name in dict.fromkeys(r.provider for r in linked) if name not in configured
    ]
    return seen.render(
        "account_social.html", title="Social accounts", section="social", status=status,
        error=error, providers=rows, base=SOCIAL_PAGE_PATH,
        link_csrf=seen.csrf("social-link"),
    )


@router.get(SOCIAL_PAGE_PATH, response_class=HTMLResponse)
def social_page(request: Request, ctx: Ctx) -> Response:
    """Social accounts: the providers, which are connected, connect and disconnect."""
    seen = console.visit(request, ctx)
    return seen if isinstance(seen, Response) else _social_page(seen)


@router.post(SOCIAL_PAGE_PATH + "/{provider}/link", response_class=HTMLResponse)
def link_social(
    request: Request, ctx: Ctx, base: BaseUrl, provider: str,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Connect ``provider``: sign in there; its callback connects it to this account."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    try:
        upstream = links.provider(ctx, provider[:64])
    except ApiError:
        return console.not_found(request, ctx, "This sign-in provider")
    if not seen.csrf_ok("social-link", csrf_token):
        return _social_page(seen, status=403, error=EXPIRED_FORM)
    try:
        sent = authorization(upstream, callback_url(base, upstream.name))
    except UpstreamError as exc:
        return _social_page(seen, status=502, error=exc.message)
    with ctx.db.write() as db:
        flows.start(
            db, ctx.clock(), purpose=flows.LINK, provider=upstream.name,
            browser=flows.binding(seen.browser.csrf_secret), state=sent.state,
            nonce=sent.nonce, code_verifier=sent.code_verifier,
            next_path=f"{SOCIAL_PAGE_PATH}?notice=security_social_linked",
            user_id=seen.user.id,
        )
    return redirect(seen.browser, ctx, sent.url, 303)


def _unlink_page(
    seen: Visit, name: str, label: str, *, status: int = 200, error: str | None = None
) -> Response:
    return seen.render(
        "account_social_unlink.html", title=f"Disconnect {label}", section="social",
        status=status, error=error, label=label, back=SOCIAL_PAGE_PATH,
        action=f"{SOCIAL_PAGE_PATH}/{name}/unlink", csrf_token=seen.csrf("social-unlink"),
    )


def _linked_label(seen: Visit, provider: str) -> str | None:
    with seen.ctx.db.read() as db:
        linked = {r.provider for r in links.list_links(db, seen.user.id)}
    if provider not in linked:
        return None
    return next(
        (p.display_name for p in seen.ctx.settings.social_providers if p.name == provider),
        provider,
    )


@router.get(SOCIAL_PAGE_PATH + "/{provider}/unlink", response_class=HTMLResponse)
def unlink_page(request: Request, ctx: Ctx, provider: str) -> Response:
    """The confirmation before a provider is disconnected."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    label = _linked_label(seen, provider[:64])
    if label is None:
        return console.not_found(request, ctx, "This connected account")
    return _unlink_page(seen, provider[:64], label)


@router.post(SOCIAL_PAGE_PATH + "/{provider}/unlink", response_class=HTMLResponse)
def unlink_social(
    request: Request, ctx: Ctx, provider: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Disconnect ``provider``, as ``DELETE /api/auth/account/social/{provider}`` (not the
    last way to sign in)."""
    seen = console.visit(request, ctx)
    if isinstance(seen, Response):
        return seen
    name = provider[:64]
    label = _linked_label(seen, name)
    if label is None:
        return console.not_found(request, ctx, "This connected account")
    if not seen.csrf_ok("social-unlink", csrf_token):
        return _unlink_page(seen, name, label, status=403, error=EXPIRED_FORM)
    try:
        links.unlink(ctx, seen.user.id, name, _client(request))
    except ApiError as exc:
        return _unlink_page(seen, name, label, status=exc.status_code, error=exc.message)
    return seen.done(SOCIAL_PAGE_PATH, "security_social_unlinked")
