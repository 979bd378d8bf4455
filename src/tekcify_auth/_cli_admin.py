"""The administration commands of ``tekcify-auth`` (issue 17, items 4 and 5).

.. code-block:: text

    tekcify-auth invites create [--uses N] [--expires 7d] [--json]
    tekcify-auth invites list [--json]
    tekcify-auth invites revoke ID
    tekcify-auth users show EMAIL [--json]
    tekcify-auth users set-role EMAIL {user,admin}
    tekcify-auth users revoke-sessions EMAIL
    tekcify-auth users delete EMAIL [--yes]
    tekcify-auth apps list [--json]
    tekcify-auth apps show CLIENT_ID [--json]
    tekcify-auth apps create --owner EMAIL --name NAME --redirect-uri URI... --scopes "a b"
    tekcify-auth apps deactivate|activate CLIENT_ID
    tekcify-auth apps regenerate-secret CLIENT_ID
    tekcify-auth apps delete CLIENT_ID [--yes]

Kept apart from ``cli.py``, which adds these to its parser: each command reuses the
services the HTTP routes use, prints what it did, and fails (exit 1) with a message
saying how to fix the problem.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .cli import CommandError, _email, _settings, _started_context

if TYPE_CHECKING:
    from .server.context import ServerContext
    from .server.services.admin import AppSummary

__all__ = ["add_app_actions", "add_invite_commands", "add_user_actions"]

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def _duration(value: str) -> timedelta:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` (or seconds alone) as a timedelta."""
    match = _DURATION.match(value.lower())
    if match is None or int(match[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration: write a number and a unit, e.g. 30m, 12h, 7d or 2w"
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError("must be a whole number, 1 or more")
    return number


def _when(value: Any) -> str:
    return "-" if value is None else str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


# -- invites -------------------------------------------------------------------------


def add_invite_commands(commands: Any) -> None:
    """``tekcify-auth invites create|list|revoke``."""
    invites = commands.add_parser(
        "invites", help="invite codes, needed to register with TEKCIFY_REGISTRATION=invite"
    )
    actions = invites.add_subparsers(dest="invites_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create", help="make an invite code; it is printed once, only its hash is kept"
    )
    create.add_argument(
        "--uses", type=_positive, default=1, help="how many registrations it is good for"
    )
    create.add_argument(
        "--expires", type=_duration, default=None,
        help="how long it is good for: 30m, 12h, 7d, 2w (default: until used or revoked)",
    )
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(handler=_invites_create)
    listing = actions.add_parser("list", help="list the invite codes (never the codes)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_invites_list)
    revoke = actions.add_parser("revoke", help="revoke an invite code by its ID")
    revoke.add_argument("invite_id", metavar="ID", help="the ID `invites list` shows")
    revoke.set_defaults(handler=_invites_revoke)


def _invites_create(args: argparse.Namespace) -> int:
    from .server.services import invites

    settings = _settings()
    ctx = _started_context(settings)
    try:
        with ctx.db.write() as db:
            info, code = invites.create_invite(
                db, ctx.clock(), uses=args.uses, expires_in=args.expires
            )
    finally:
        ctx.stop()
    if args.json:
        _print_json({
            "id": info.id, "code": code, "maxUses": info.max_uses,
            "expiresAt": None if info.expires_at is None else _when(info.expires_at),
        })
    else:
        print(f"invite code: {code}")
        print("  shown this once: only its hash is kept; give it to the person you invite")
        until = "until used or revoked" if info.expires_at is None else (
            f"until {_when(info.expires_at)}"
        )
        print(f"  id {info.id}, good for {info.max_uses} registration(s) {until}")
    if settings.registration != "invite":
        print(
            f"note: TEKCIFY_REGISTRATION is {settings.registration}; set "
            "TEKCIFY_REGISTRATION=invite for registration to need invite codes",
            # with --json, standard output holds the JSON alone
            file=sys.stderr if args.json else sys.stdout,
        )
    return 0


def _invites_list(args: argparse.Namespace) -> int:
    from .server.services import invites

    ctx = _started_context(_settings())
    try:
        with ctx.db.read() as db:
            rows = invites.list_invites(db)
        now = ctx.clock()
    finally:
        ctx.stop()
    if args.json:
        _print_json([
            {
                "id": row.id, "state": row.state(now), "uses": row.uses,
                "maxUses": row.max_uses, "createdAt": _when(row.created_at),
                "expiresAt": None if row.expires_at is None else _when(row.expires_at),
                "revokedAt": None if row.revoked_at is None else _when(row.revoked_at),
            }
            for row in rows
        ])
        return 0
    print(f"{'ID':36}  {'STATE':7}  {'USES':9}  {'CREATED':20}  EXPIRES")
    for row in rows:
        print(
            f"{row.id:36}  {row.state(now):7}  {f'{row.uses}/{row.max_uses}':9}  "
            f"{_when(row.created_at):20}  {_when(row.expires_at)}"
        )
    return 0


def _invites_revoke(args: argparse.Namespace) -> int:
    from .server.services import invites

    ctx = _started_context(_settings())
    try:
        with ctx.db.write() as db:
            revoked = invites.revoke_invite(db, args.invite_id, ctx.clock())
    finally:
        ctx.stop()
    if not revoked:
        raise CommandError(
            f"no invite {args.invite_id} to revoke (already revoked, or mistyped: "
            "tekcify-auth invites list shows the IDs)"
        )
    print(f"revoked invite {args.invite_id}; it registers nobody any more")
    return 0


# -- users ---------------------------------------------------------------------------


def add_user_actions(actions: Any) -> None:
    """``tekcify-auth users show|set-role|revoke-sessions|delete`` (``cli.py`` has the rest)."""
    show = actions.add_parser(
        "show", help="an account's facts: role, state, last login, sessions, applications"
    )
    show.add_argument("email")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_users_show)
    role = actions.add_parser(
        "set-role",
        help="give an account the role user or admin (the role claim of its next tokens)",
    )
    role.add_argument("email")
    role.add_argument("role", choices=("user", "admin"), help="user or admin")
    role.set_defaults(handler=_users_set_role)
    revoke = actions.add_parser(
        "revoke-sessions",
        help="end every session of an account (API, applications and sign-in pages)",
    )
    revoke.add_argument("email")
    revoke.set_defaults(handler=_users_revoke_sessions)
    delete = actions.add_parser(
        "delete",
        help="delete an account and everything it owns (its applications too); asks you to "
        "type the email unless --yes",
    )
    delete.add_argument("email")
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    delete.set_defaults(handler=_users_delete)


def _write(ctx: ServerContext, action: Any, what: str, *, read: bool = False) -> Any:
    """``action(db)`` in a write (or ``read``) transaction; a domain error becomes the
    command's, naming ``what``."""
    from .server.errors import ApiError

    try:
        with ctx.db.read() if read else ctx.db.write() as db:
            return action(db)
    except ApiError as exc:
        raise CommandError(f"{exc.message}: {what}") from None


def _users_show(args: argparse.Namespace) -> int:
    from .server.services import admin

    email = _email(args.email)
    settings = _settings()
    ctx = _started_context(settings)
    try:
        facts = _write(
            ctx, lambda db: admin.user_summary(
                db, email, ctx.clock(), settings.refresh_token_ttl
            ), f"{email} (tekcify-auth users list shows the accounts)", read=True,
        )
    finally:
        ctx.stop()
    values = {
        "id": facts.id, "email": facts.email, "role": facts.role,
        "state": "disabled" if facts.disabled else "active",
        "emailVerified": facts.email_verified, "createdAt": _when(facts.created_at),
        "lastLoginAt": None if facts.last_login_at is None else _when(facts.last_login_at),
        "liveSessions": facts.live_sessions, "applications": facts.applications,
    }
    if facts.mfa:
        values["mfa"] = {k: v if isinstance(v, bool | int | None) else str(v)
                         for k, v in facts.mfa.items()}
    if args.json:
        _print_json(values)
        return 0
    rows = [
        ("id", facts.id), ("email", facts.email), ("role", facts.role),
        ("state", values["state"]), ("verified", "yes" if facts.email_verified else "no"),
        ("created", _when(facts.created_at)), ("last login", _when(facts.last_login_at)),
        ("live sessions", str(facts.live_sessions)),
        ("applications", str(facts.applications)),
    ]
    if facts.mfa:
        rows.append(("mfa", ", ".join(f"{k}={v}" for k, v in values["mfa"].items())))
    else:
        rows.append(("mfa", "not available in this version"))
    for label, value in rows:
        print(f"{label + ':':15} {value}")
    return 0


def _users_set_role(args: argparse.Namespace) -> int:
    from .server.services import admin

    email = _email(args.email)
    settings = _settings()
    ctx = _started_context(settings)
    try:
        user, before = _write(
            ctx, lambda db: admin.set_role(db, email, args.role, ctx.clock()), email
        )
    finally:
        ctx.stop()
    if before == args.role:
        print(f"{user.email} already has the role {args.role}; nothing changed")
        return 0
    print(f"{user.email} now has the role {args.role} (was {before})")
    print(
        "  its sessions get the new role at their next refresh; access tokens issued before "
        f"keep {before} until they expire (at most {settings.access_token_ttl} s, "
        "TEKCIFY_ACCESS_TOKEN_TTL): end them now with tekcify-auth users revoke-sessions "
        f"{user.email}"
    )
    return 0


def _users_revoke_sessions(args: argparse.Namespace) -> int:
    from .server.services import admin

    email = _email(args.email)
    ctx = _started_context(_settings())
    try:
        count = _write(ctx, lambda db: admin.revoke_user_sessions(db, email, ctx.clock()), email)
    finally:
        ctx.stop()
    print(f"ended {count} session{'s' if count != 1 else ''} of {email}; it signs in again")
    return 0


def _confirm(expected: str, what: str, yes: bool) -> None:
    """Ask the user to type ``expected`` unless ``yes``; raise when they do not."""
    if yes:
        return
    print(f"This deletes {what} for good. Type {expected} to confirm: ", end="", flush=True)
    typed = sys.stdin.readline().strip()
    if typed.lower() != expected.lower():
        raise CommandError(
            f"not deleted: you typed {typed!r}, not {expected} (or pass --yes to skip the "
            "question)"
        )


def _users_delete(args: argparse.Namespace) -> int:
    from .server.services import accounts, admin

    email = _email(args.email)
    ctx = _started_context(_settings())
    try:
        with ctx.db.read() as db:
            exists = accounts.find_by_email(db, email) is not None
        if not exists:
            raise CommandError(
                f"User not found: {email} (tekcify-auth users list shows the accounts)"
            )
        _confirm(email, f"the account {email}, its sessions and its applications", args.yes)
        user_id = _write(ctx, lambda db: admin.delete_user(db, email, ctx.clock()), email)
    finally:
        ctx.stop()
    print(f"deleted {email} ({user_id}) and everything it owned")
    return 0


# -- apps ----------------------------------------------------------------------------


def add_app_actions(actions: Any) -> None:
    """``tekcify-auth apps list|show|create|deactivate|activate|delete|regenerate-secret``."""
    listing = actions.add_parser("list", help="list every application, of every owner")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_apps_list)
    show = actions.add_parser("show", help="an application's settings and state")
    show.add_argument("client_id", metavar="CLIENT_ID")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_apps_show)
    create = actions.add_parser(
        "create",
        help="register an application for an owner; prints its secret once (none with "
        "--public)",
    )
    create.add_argument("--owner", required=True, help="the owning account's email")
    create.add_argument("--name", required=True, help="the name the consent page shows")
    create.add_argument(
        "--redirect-uri", action="append", required=True, dest="redirect_uris",
        metavar="URI", help="an allowed redirect URI (repeat for more)",
    )
    create.add_argument(
        "--scopes", required=True, help='the scopes it may ask for, space-separated ("openid '
        'profile email")',
    )
    create.add_argument(
        "--origin", action="append", default=[], dest="origins", metavar="ORIGIN",
        help="an origin whose scripts may call the token endpoint (repeat for more)",
    )
    create.add_argument("--description", help="what the application does")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.add_argument(
        "--post-logout-redirect-uri", action="append", default=[], dest="logout_uris",
        metavar="URI", help="where signing out (end_session_endpoint) may send the browser "
        "back (repeat for more)",
    )
    create.add_argument(
        "--public", action="store_true",
        help="a public client (single-page or native app): no secret, PKCE only, no "
        "client_credentials or introspection",
    )
    create.set_defaults(handler=_apps_create)
    for name, helptext, handler in (
        ("deactivate", "set an application inactive: refused everywhere until activated "
         "(nothing is deleted or revoked)", _apps_deactivate),
        ("activate", "set an inactive application active again", _apps_activate),
        ("regenerate-secret", "give a confidential application a new secret (printed once); "
         "the old one stops working at once", _apps_regenerate_secret),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("client_id", metavar="CLIENT_ID")
        action.set_defaults(handler=handler)
    delete = actions.add_parser(
        "delete",
        help="delete an application and revoke every session it was given; asks you to "
        "type the client id unless --yes",
    )
    delete.add_argument("client_id", metavar="CLIENT_ID")
    delete.add_argument("--yes", action="store_true", help="delete without asking")
    delete.set_defaults(handler=_apps_delete)


def _app_values(app: AppSummary) -> dict[str, Any]:
    return {
        "clientId": app.client_id, "name": app.name, "owner": app.owner_email,
        "type": "confidential" if app.confidential else "public",
        "state": "suspended" if app.suspended else ("active" if app.active else "inactive"),
        "createdAt": _when(app.created_at), "redirectUris": app.redirect_uris,
        "authorizedOrigins": app.authorized_origins, "scopes": app.scopes,
        "clientCredentialsScopes": app.client_credentials_scopes,
        "description": app.description,
    }


def _apps_list(args: argparse.Namespace) -> int:
    from .server.services import admin

    ctx = _started_context(_settings())
    try:
        with ctx.db.read() as db:
            apps = admin.all_applications(db)
    finally:
        ctx.stop()
    if args.json:
        _print_json([_app_values(app) for app in apps])
        return 0
    print(f"{'CLIENT ID':34}  {'TYPE':12}  {'STATE':9}  {'OWNER':30}  NAME")
    for app in apps:
        values = _app_values(app)
        print(
            f"{app.client_id:34}  {values['type']:12}  {values['state']:9}  "
            f"{app.owner_email:30}  {app.name}"
        )
    return 0


def _apps_show(args: argparse.Namespace) -> int:
    from .server.services import admin

    ctx = _started_context(_settings())
    try:
        app = _write(
            ctx, lambda db: admin.application_summary(db, args.client_id),
            f"{args.client_id} (tekcify-auth apps list shows the client ids)", read=True,
        )
    finally:
        ctx.stop()
    values = _app_values(app)
    if args.json:
        _print_json(values)
        return 0
    allowance = app.client_credentials_scopes
    state = values["state"]
    if app.suspended:
        state += f" (its owner {app.owner_email} is disabled: tekcify-auth users enable)"
    for label, value in (
        ("client id", app.client_id), ("name", app.name), ("owner", app.owner_email),
        ("type", values["type"]), ("state", state), ("created", values["createdAt"]),
        ("redirect uris", " ".join(app.redirect_uris)),
        ("origins", " ".join(app.authorized_origins) or "-"),
        ("scopes", " ".join(app.scopes)),
        ("client creds", "not allowed" if allowance is None else " ".join(allowance) or "-"),
        ("description", app.description or "-"),
    ):
        print(f"{label + ':':15} {value}")
    return 0


def _secret_warning(secret: str) -> None:
    print(f"client secret: {secret}")
    print(
        "  shown this once: only its hash is kept. Store it in the application's secret "
        "store now; if it is lost, tekcify-auth apps regenerate-secret makes a new one"
    )


def _apps_create(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from .server.errors import ApiError, validation_message
    from .server.schemas.applications import CreateApplicationRequest
    from .server.services import admin, applications

    owner_email = _email(args.owner)
    try:
        body = CreateApplicationRequest(
            name=args.name, description=args.description, redirectUris=args.redirect_uris,
            authorizedOrigins=args.origins or None, scopes=args.scopes.split(),
            tokenEndpointAuthMethod="none" if args.public else "client_secret_basic",
            postLogoutRedirectUris=args.logout_uris or None,
        )
    except ValidationError as exc:
        raise CommandError(
            f"{validation_message(exc.errors())} (the options are --name, --description, "
            "--redirect-uri, --origin, --post-logout-redirect-uri and --scopes)"
        ) from None
    settings = _settings()
    ctx = _started_context(settings)
    try:
        try:
            scopes = applications.check_scopes(body.scopes, settings.scopes)
            with ctx.db.write() as db:
                owner = admin.owner_of(db, owner_email)
                application, secret = applications.create_application(
                    db, owner_id=owner.id, name=body.name, description=body.description,
                    redirect_uris=body.redirectUris,
                    authorized_origins=body.authorizedOrigins or [], scopes=scopes,
                    now=ctx.clock(), confidential=body.confidential,
                    post_logout_redirect_uris=body.postLogoutRedirectUris or [],
                )
                client_id = application.client_id
        except ApiError as exc:
            hint = (
                f": {owner_email} (create the account first: tekcify-auth users create "
                f"--email {owner_email})" if exc.status_code == 404 else ""
            )
            raise CommandError(f"{exc.message}{hint}") from None
    finally:
        ctx.stop()
    if args.json:
        _print_json(
            {"clientId": client_id, "type": "public"} if secret is None
            else {"clientId": client_id, "clientSecret": secret}
        )
        return 0
    kind = "confidential" if secret is not None else "public"
    print(f"created the {kind} application {body.name!r} of {owner_email}")
    print(f"client id:     {client_id}")
    if secret is None:
        print("  no secret: it names itself with its client id and must use PKCE")
    else:
        _secret_warning(secret)
    return 0


def _set_active(args: argparse.Namespace, active: bool) -> None:
    from .server.services import admin

    ctx = _started_context(_settings())
    try:
        _write(
            ctx, lambda db: admin.set_application_active(db, args.client_id, active, ctx.clock()),
            f"{args.client_id} (tekcify-auth apps list shows the client ids)",
        )
    finally:
        ctx.stop()


def _apps_deactivate(args: argparse.Namespace) -> int:
    _set_active(args, False)
    print(
        f"{args.client_id} is inactive: no sign-in, token, refresh or client token until "
        f"tekcify-auth apps activate {args.client_id}"
    )
    return 0


def _apps_activate(args: argparse.Namespace) -> int:
    _set_active(args, True)
    print(f"{args.client_id} is active again")
    return 0


def _apps_regenerate_secret(args: argparse.Namespace) -> int:
    from .server.services import admin, applications

    ctx = _started_context(_settings())
    try:
        def regenerate(db: Any) -> str:
            application = admin.find_any_application(db, args.client_id)
            return applications.regenerate_secret(
                db, application.owner_id, args.client_id, ctx.clock()
            )

        secret = _write(ctx, regenerate, args.client_id)
    finally:
        ctx.stop()
    print(f"new secret for {args.client_id}; the old one is refused from now on")
    _secret_warning(secret)
    return 0


def _apps_delete(args: argparse.Namespace) -> int:
    from .server.services import admin, applications

    ctx = _started_context(_settings())
    try:
        app = _write(
            ctx, lambda db: admin.application_summary(db, args.client_id),
            f"{args.client_id} (tekcify-auth apps list shows the client ids)",
        )
        _confirm(
            app.client_id, f"the application {app.name!r} of {app.owner_email}", args.yes
        )

        def delete(db: Any) -> None:
            application = admin.find_any_application(db, args.client_id)
            applications.delete_application(
                db, application.owner_id, args.client_id, ctx.clock()
            )

        _write(ctx, delete, args.client_id)
    finally:
        ctx.stop()
    print(f"deleted {app.client_id} ({app.name}); every session it was given is revoked")
    return 0
