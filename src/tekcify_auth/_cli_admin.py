"""The administration commands of ``tekcify-auth`` (issue 17, items 4 and 5).

.. code-block:: text

    tekcify-auth invites create [--uses N] [--expires 7d] [--json]
    tekcify-auth invites list [--json]
    tekcify-auth invites revoke ID

Kept apart from ``cli.py``, which adds these to its parser: each command reuses the
services the HTTP routes use, prints what it did, and fails (exit 1) with a message
saying how to fix the problem.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from typing import Any

from .cli import CommandError, _settings, _started_context

__all__ = ["add_invite_commands"]

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
            "TEKCIFY_REGISTRATION=invite for registration to need invite codes"
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
