"""The ``tekcify-auth`` command: run the server and administer it.

.. code-block:: text

    tekcify-auth serve [--host 127.0.0.1] [--port 7001] [--workers 1]
    tekcify-auth db upgrade
    tekcify-auth users create --email EMAIL [--admin] [--password-stdin]
    tekcify-auth users list
    tekcify-auth users disable EMAIL
    tekcify-auth users enable EMAIL
    tekcify-auth users set-password EMAIL [--password-stdin]
    tekcify-auth users reset-mfa EMAIL
    tekcify-auth keys list
    tekcify-auth keys rotate [--now]
    tekcify-auth keys revoke KID [--now] [--revoke-sessions]
    tekcify-auth keys switch-alg {HS256,RS256,ES256,EdDSA}
    tekcify-auth apps allow-client-credentials CLIENT_ID --scopes "read:orders ..."
    tekcify-auth apps deny-client-credentials CLIENT_ID
    tekcify-auth mail test ADDRESS
    tekcify-auth mail status
    tekcify-auth invites create|list|revoke (and more: _cli_admin.py)

Settings come from the environment (``TEKCIFY_*``, ``JWT_ACCESS_SECRET``). The server
package is imported only inside the commands, so ``import tekcify_auth`` stays light.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from datetime import datetime

    from .server.context import ServerContext
    from .server.db.models import User
    from .server.settings import Settings

__all__ = ["main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7001


class CommandError(Exception):
    """A command failed in a way the user can fix; the message is printed, exit 1."""


def _settings() -> Settings:
    from .server.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        raise CommandError(str(exc)) from None


def _started_context(settings: Settings) -> ServerContext:
    """A server context with storage migrated and keys loaded, as the server starts."""
    from .server.context import ServerContext
    from .server.settings import SettingsError

    ctx = ServerContext(settings)
    try:
        ctx.start()
    except SettingsError as exc:  # e.g. a stored signing key this secret cannot decrypt
        ctx.stop()
        raise CommandError(str(exc)) from None
    return ctx


# -- serve ---------------------------------------------------------------------------


def _log_config(settings: Settings) -> dict[str, Any]:
    from .server.logs import log_config

    return log_config(settings.log_level, settings.log_format)


def _say(settings: Settings, text: str) -> None:
    """Print ``text`` (the banner); with ``TEKCIFY_LOG_FORMAT=json``, log each of its lines
    instead, so every line the server writes is a JSON object."""
    if settings.log_format != "json":
        print(text, flush=True)
        return
    import logging

    logger = logging.getLogger("tekcify_auth.cli")  # standard output, at any level
    for line in text.splitlines():
        logger.info(line.strip())


def _banner(
    settings: Settings, ctx: ServerContext, base_url: str, *, every_interface: bool = False,
    workers: int = 1,
) -> str:
    from .server.context import LIMITS_FILE

    lines = [
        f"Tekcify Auth listening on {base_url}",
        f"  database: {ctx.db.describe()}",
        f"  signing:  {ctx.key_source}",
        f"  workers:  {workers} (--workers N to change)",
    ]
    if settings.public_url is None:
        lines.append(
            f"  sign-in pages: {base_url} (127.0.0.1 and [::1] are sent there, so the "
            "browser keeps its cookies on one host)"
        )
        if every_interface:
            lines.append(
                "  other machines: each address answers with its own URLs; set "
                "TEKCIFY_PUBLIC_URL to name one URL everywhere"
            )
    if ctx.signing_alg == "HS256":
        if settings.jwt_access_secret is None:
            path = settings.secret_file.resolve()
            lines.append(
                f"  resource servers: JWT_ACCESS_SECRET=\"$(cat {path})\" "
                "(the file is private, mode 0600)"
            )
        else:
            lines.append("  resource servers: the same JWT_ACCESS_SECRET as this server")
        if settings.jwt_access_secret is None and ctx.db.dialect != "sqlite":
            # Another host sharing this database would generate a secret of its own, and
            # refuse every token this instance signs.
            lines.append(
                "  several instances: give every one the same JWT_ACCESS_SECRET (this one's "
                "was generated in its data folder)"
            )
    lines.append(f"  resource servers with asymmetric keys: {base_url}/api/.well-known/jwks.json")
    if settings.redis_url is None:
        lines.append(
            "  login limits: in this process's memory (several workers or instances count "
            "apart: set TEKCIFY_REDIS_URL to share them)"
            if workers == 1 else
            f"  login limits: shared by the {workers} workers through "
            f"{(settings.data_dir / LIMITS_FILE).resolve()} (other instances count apart: "
            "set TEKCIFY_REDIS_URL to share them)"
        )
    else:
        lines.append("  login limits: shared through Redis (TEKCIFY_REDIS_URL)")
    lines.append(
        "  verified tokens: cached per worker for their signature only; revocation is read "
        "from the database on every request, so every worker and instance refuses a "
        "revoked token at once"
    )
    lines.append(f"  mail: {_mail_destination(settings)}")
    lines.append(f"  health: {base_url}/health   API docs: {base_url}/docs")
    return "\n".join(lines)


def _mail_destination(settings: Settings) -> str:
    from .server.services.mail_sender import transport_for

    where = transport_for(settings).describe()
    if settings.smtp_url is None:
        where += " (set TEKCIFY_SMTP_URL to send mail)"
    return where


def _port_owner(port: int) -> str | None:
    """The process listening on TCP ``port`` (``"pid 123: cmd ..."``), when Linux says."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            listening = len(fields) > 9 and fields[3] == "0A"
            if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                    errors="replace").strip()
                return f"pid {proc.name}: {command[:200]}"
        except OSError:  # gone, or another user's process
            continue
    return None


def _check_port(host: str, port: int) -> socket.socket:
    """Refuse at once, naming the holder, when ``host:port`` cannot be listened on.

    Returns the probe, bound and not listening: its port is ``port``, or for 0 one the
    kernel found free, so the server's URL names the port it will listen on. Keep it
    open until uvicorn listens: both bind with ``SO_REUSEADDR``, which lets uvicorn bind
    beside a socket that does not listen, while no other program is handed the port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    with contextlib.ExitStack() as on_error:
        on_error.callback(probe.close)
        # As uvicorn binds: a port in TIME_WAIT after a restart is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                owner = _port_owner(port)
                held = f" by {owner}" if owner else ""
                raise CommandError(
                    f"port {port} on {host} is already in use{held}. Is the server already "
                    f"running? Stop it, or choose another port: tekcify-auth serve --port "
                    f"{port + 1}"
                ) from None
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        on_error.pop_all()
    return probe


def _check_data_dir(settings: Settings) -> None:
    """Refuse at once when the data folder cannot be made or written to."""
    folder = settings.data_dir
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CommandError(
            f"the data folder {folder.resolve()} is not writable ({exc.strerror}): give this "
            "user write access to it, or choose another with TEKCIFY_DATA_DIR=/path"
        ) from None


def _check_signing_alg(settings: Settings) -> None:
    """Refuse at once a ``TEKCIFY_SIGNING_ALG`` other than the one the database recorded.

    Read-only, before migrations: a database not made yet, or not reachable, is left to
    the start, which decides under a lock (``services/keystore.py``).
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from .server.db.engine import Database
    from .server.services.keystore import check_signing_alg
    from .server.settings import SettingsError

    if settings.signing_alg is None:
        return
    db = Database(settings.effective_database_url, timeout=settings.db_timeout)
    try:
        path = db.url.database
        if db.is_sqlite and (not path or not Path(path).is_file()):
            return
        if not inspect(db.engine).has_table("server_state"):
            return
        with db.read() as session:
            check_signing_alg(session, settings.signing_alg)
    except SettingsError as exc:
        raise CommandError(str(exc)) from None
    except SQLAlchemyError:
        return
    finally:
        db.dispose()


def _allowed_hosts_for(settings: Settings, host: str, port: int) -> str | None:
    """``TEKCIFY_ALLOWED_HOSTS`` with ``--host`` added when it is a name, else ``None``.

    Without a public URL the server answers only its own hosts (``server/hosts.py``). An
    address given to ``--host`` is the address connections reach, which the server knows;
    a name (``--host auth.internal``) is not, so it is handed to the workers this way.
    """
    import ipaddress

    from .server.hosts import LOOPBACK_NAMES

    if settings.public_url is not None or host.lower() in LOOPBACK_NAMES:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ",".join((*settings.allowed_host_list, f"{host.lower()}:{port}"))
    return None


#: Seconds a worker may take to answer its supervisor's ping before it is replaced.
WORKER_HEALTHCHECK_TIMEOUT: Final = 30


def _serve(args: argparse.Namespace) -> int:
    settings = _settings()
    # Before anything is touched: a second `serve` on a busy port must not migrate the
    # live database first and die after.
    with _check_port(args.host, args.port) as probe:
        return _run_server(args, settings, probe.getsockname()[1])


def _run_server(args: argparse.Namespace, settings: Settings, port: int) -> int:
    _check_data_dir(settings)
    _check_signing_alg(settings)
    ctx = _started_context(settings)  # migrate and make keys once, before any worker
    ctx.stop()
    from .server.canonical import every_interface, serve_url

    host = args.host
    # One URL everywhere (issue 11, item 8): http://localhost:PORT as the library's
    # AUTH_SERVER_URL default says, or the --host given when it names one address.
    canonical = serve_url(host, port)
    base_url = settings.public_url or canonical
    import logging.config

    from .server.logs import capture_stray_output

    logging.config.dictConfig(_log_config(settings))  # for the banner; uvicorn's is the same
    capture_stray_output(settings.log_format)
    _say(
        settings,
        _banner(
            settings, ctx, base_url, every_interface=every_interface(host),
            workers=args.workers,
        ),
    )
    # Read again by every worker's app_factory.
    os.environ["TEKCIFY_CANONICAL_URL"] = canonical
    os.environ["TEKCIFY_WORKERS"] = str(args.workers)
    # Migrated above, once: the workers need not each ask again (nor race each other).
    os.environ["TEKCIFY_MIGRATE_ON_START"] = "false"
    allowed = _allowed_hosts_for(settings, host, port)
    if allowed is not None:
        os.environ["TEKCIFY_ALLOWED_HOSTS"] = allowed

    import inspect

    import uvicorn

    # A worker that starts slowly on a loaded host (imports, the wait for the database)
    # is not killed for missing uvicorn's 5-second ping (uvicorn >= 0.32 has the knob).
    patience: dict[str, Any] = (
        {"timeout_worker_healthcheck": WORKER_HEALTHCHECK_TIMEOUT}
        if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters
        else {}
    )
    with _metrics_for(settings, host, args.workers):
        uvicorn.run(
            "tekcify_auth.server.app:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            log_config=_log_config(settings),
            access_log=False,  # the server logs its own structured line per request
            # The app reads X-Forwarded-* itself, from TEKCIFY_TRUSTED_PROXIES only:
            # uvicorn would otherwise believe them from 127.0.0.1 (FORWARDED_ALLOW_IPS).
            proxy_headers=False,
            server_header=False,
            **patience,
        )
    return 0


@contextlib.contextmanager
def _metrics_for(settings: Settings, host: str, workers: int) -> Iterator[None]:
    """With ``TEKCIFY_METRICS=true``: the workers' multiprocess folder (made here, empty,
    and deleted at exit) and the ``TEKCIFY_METRICS_PORT`` listener (server/metrics.py)."""
    if not settings.metrics:
        yield
        return
    import shutil

    from .server.metrics import MULTIPROC_ENV, check_available, serve_port
    from .server.settings import SettingsError

    with contextlib.ExitStack() as cleanup:
        if workers > 1:
            # Before prometheus-client is imported here: it reads the variable then.
            folder = tempfile.mkdtemp(prefix="tekcify-metrics-")
            cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
            os.environ[MULTIPROC_ENV] = folder
        try:
            check_available(settings.model_copy(update={"workers": workers}))
        except SettingsError as exc:
            raise CommandError(str(exc)) from None
        if settings.metrics_port is not None:
            try:
                cleanup.callback(serve_port(settings, host))
            except OSError as exc:
                raise CommandError(
                    f"cannot serve metrics on {host}:{settings.metrics_port} "
                    f"(TEKCIFY_METRICS_PORT): {exc.strerror}"
                ) from None
            _say(settings, f"  metrics:  http://{host}:{settings.metrics_port}/metrics")
        else:
            _say(settings, "  metrics:  /metrics (TEKCIFY_METRICS_TOKEN)")
        yield


# -- db ------------------------------------------------------------------------------


def _db_upgrade(_args: argparse.Namespace) -> int:
    from .server.db.engine import Database
    from .server.db.migrate import current_revision, upgrade

    settings = _settings()
    db = Database(settings.effective_database_url, timeout=settings.db_timeout)
    try:
        db.prepare()
        upgrade(db)
        print(f"database {db.describe()} is at revision {current_revision(db)}")
    finally:
        db.dispose()
    return 0


def _db_purge(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from .server.services.purge import LEASE, purge

    settings = _settings()
    days = args.retention_days
    retention = timedelta(days=days) if days else timedelta(seconds=settings.purge_retention)
    ctx = _started_context(settings)
    try:
        report = purge(
            ctx.db, ctx.clock(), retention,
            activity_retention=timedelta(days=settings.activity_retention_days),
        )
    finally:
        ctx.stop()
    if report.skipped:
        print("another server is purging this database right now; nothing done")
        if ctx.db.is_sqlite:
            print(
                f"(a purge killed midway holds its lease until {LEASE.total_seconds():.0f} s "
                "after its last batch)"
            )
        return 0
    print(
        f"purged {report.codes} authorization codes, {report.sessions} sessions (with their "
        f"refresh tokens), {report.refresh_tokens} more expired refresh tokens and "
        f"{report.revoked_client_tokens} revoked "
        f"client tokens (kept: everything live, and what ended in the last "
        f"{retention.days} days); {report.activities} security events older than "
        f"{settings.activity_retention_days} days"
    )
    print(f"purged {report.mail} mail messages sent or given up before then, and "
          f"{report.account_codes} expired mailed links and codes")
    return 0


# -- parser --------------------------------------------------------------------------


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is a number from 0 to 65535")
    return port


def default_workers() -> int:
    """One worker per CPU this process may run on (its affinity, not the machine's).

    Measured in benchmarks/peers.py (the workers row): on 2 cores, 2 workers serve
    1.6x and more what one does; a worker per core is what uvicorn and gunicorn advise
    for CPU-bound Python.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


Handler = Callable[[argparse.Namespace], int]


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends every option's line with its default (or "required")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text:  # says its default itself
            return text
        if action.required:
            return f"{text} (required)"
        if action.nargs == 0 and action.const is True:  # a store_true flag
            return f"{text} (default: off)"
        if action.default is None or action.default is argparse.SUPPRESS:
            return f"{text} (default: none)" if action.default is None else text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """The command's parsers: every one, subcommands included, shows its defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tekcify-auth",
        description="Tekcify Auth: run the server and administer it. Settings come from "
        "the environment (TEKCIFY_*, JWT_ACCESS_SECRET).",
    )
    # Subparsers are made with the parser's own class, so they show defaults too.
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    serve.add_argument("--port", type=_port, default=DEFAULT_PORT, help="port to listen on")
    serve.add_argument(
        "--workers", type=_positive, default=default_workers(),
        help="worker processes, one per CPU this process may use",
    )
    serve.set_defaults(handler=_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply pending migrations").set_defaults(
        handler=_db_upgrade
    )
    purge = db_commands.add_parser(
        "purge",
        help="delete expired codes and refresh tokens and long-ended sessions now (the "
        "server also does it every TEKCIFY_PURGE_INTERVAL seconds)",
    )
    purge.add_argument(
        "--retention-days", type=_positive, default=None,
        help="keep revoked and ended sessions and expired codes this many days "
        "(default: TEKCIFY_PURGE_RETENTION, 30 days)",
    )
    purge.set_defaults(handler=_db_purge)

    _add_user_commands(commands)
    _add_key_commands(commands)
    _add_app_commands(commands)
    _add_mail_commands(commands)
    from ._cli_admin import add_invite_commands

    add_invite_commands(commands)
    return parser


def _add_user_commands(commands: Any) -> None:
    users = commands.add_parser("users", help="manage accounts")
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create an account")
    create.add_argument("--email", required=True, help="the account's email address")
    create.add_argument("--admin", action="store_true", help="give the account the admin role")
    create.add_argument(
        "--password-stdin", action="store_true",
        help="read the password from standard input (else it is prompted for)",
    )
    create.add_argument("--first-name", help="the person's first name")
    create.add_argument("--last-name", help="the person's last name")
    create.set_defaults(handler=_users_create)
    listing = actions.add_parser("list", help="list accounts")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_users_list)
    disable = actions.add_parser(
        "disable", help="disable an account, end its sessions and suspend its applications"
    )
    disable.add_argument("email")
    disable.set_defaults(handler=_users_disable)
    enable = actions.add_parser(
        "enable", help="enable a disabled account again (its applications work again)"
    )
    enable.add_argument("email")
    enable.set_defaults(handler=_users_enable)
    set_password = actions.add_parser(
        "set-password",
        help="set an account's password and sign out every session of it (the user gets "
        "a notice when TEKCIFY_PUBLIC_URL is set)",
    )
    set_password.add_argument("email")
    set_password.add_argument(
        "--password-stdin", action="store_true",
        help="read the password from standard input (else it is prompted for twice, "
        "without echo)",
    )
    set_password.set_defaults(handler=_users_set_password)
    reset_mfa = actions.add_parser(
        "reset-mfa",
        help="turn two-factor sign-in off for an account that lost its authenticator and "
        "backup codes (deletes them; recorded in its security activity)",
    )
    reset_mfa.add_argument("email")
    reset_mfa.set_defaults(handler=_users_reset_mfa)
    from ._cli_admin import add_user_actions

    add_user_actions(actions)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise CommandError("the passwords differ")
    return first


def _email(raw: str) -> str:
    from .server.services.emails import InvalidEmail, normalise_email

    try:
        return normalise_email(raw)
    except InvalidEmail:
        raise CommandError(f"{raw!r} is not a valid email address") from None


def _users_create(args: argparse.Namespace) -> int:
    from .server.errors import ApiError
    from .server.services import accounts
    from .server.services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

    email = _email(args.email)
    password = _read_password(args.password_stdin)
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise CommandError(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    ctx = _started_context(_settings())
    try:
        user = accounts.register(
            ctx, email=email, password=password, first_name=args.first_name,
            last_name=args.last_name, role="admin" if args.admin else "user",
        )
    except ApiError as exc:
        raise CommandError(exc.message) from None
    finally:
        ctx.stop()
    print(f"created {user.role} {user.email} ({user.id})")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    from .server.services import accounts

    ctx = _started_context(_settings())
    try:
        with ctx.db.read() as db:
            users = accounts.list_users(db)
    finally:
        ctx.stop()
    if getattr(args, "json", False):
        import json

        print(json.dumps([
            {"id": user.id, "email": user.email, "role": user.role,
             "state": "disabled" if user.disabled_at is not None else "active",
             "createdAt": _when(user.created_at)}
            for user in users
        ], indent=2))
        return 0
    print(f"{'ID':36}  {'ROLE':5}  {'STATUS':8}  {'CREATED':20}  EMAIL")
    for user in users:
        status = "disabled" if user.disabled_at is not None else "active"
        created = user.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{user.id:36}  {user.role:5}  {status:8}  {created:20}  {user.email}")
    return 0


def _set_user_state(email_arg: str, *, disabled: bool) -> User:
    """Disable or enable the account ``email_arg`` in one write; its user row."""
    from .server.errors import ApiError
    from .server.services import admin

    email = _email(email_arg)
    ctx = _started_context(_settings())
    try:
        with ctx.db.write() as db:
            return admin.set_disabled(db, ctx, email, disabled)
    except ApiError as exc:
        raise CommandError(f"{exc.message}: {email}") from None
    finally:
        ctx.stop()


def _users_disable(args: argparse.Namespace) -> int:
    user = _set_user_state(args.email, disabled=True)
    print(f"disabled {user.email}; its sessions are revoked and its applications suspended")
    return 0


def _users_enable(args: argparse.Namespace) -> int:
    user = _set_user_state(args.email, disabled=False)
    print(f"enabled {user.email}; its applications work again")
    return 0


def _users_set_password(args: argparse.Namespace) -> int:
    from .server.errors import ApiError
    from .server.services import password_reset
    from .server.services.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

    email = _email(args.email)
    password = _read_password(args.password_stdin)
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise CommandError(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    settings = _settings()
    ctx = _started_context(settings)
    try:
        ended = password_reset.set_password(
            ctx, email, password, base_url=settings.public_url
        )
    except ApiError as exc:
        raise CommandError(f"{exc.message}: {email}") from None
    finally:
        ctx.stop()
    print(f"set the password of {email}; {ended} session{'s' if ended != 1 else ''} signed out")
    return 0


def _users_reset_mfa(args: argparse.Namespace) -> int:
    from .server.services import accounts, mfa

    email = _email(args.email)
    ctx = _started_context(_settings())
    try:
        with ctx.db.write() as db:
            user = accounts.find_by_email(db, email)
            if user is None:
                raise CommandError(f"User not found: {email}")
            was_on = mfa.reset(db, user, ctx.clock())
    finally:
        ctx.stop()
    if was_on:
        print(f"two-factor sign-in is off for {email}; its backup codes are deleted")
    else:
        print(f"{email} had no two-factor sign-in on; nothing left to reset")
    return 0


# -- keys ----------------------------------------------------------------------------


def _add_key_commands(commands: Any) -> None:
    keys = commands.add_parser(
        "keys", help="asymmetric signing keys (TEKCIFY_SIGNING_ALG=RS256, ES256 or EdDSA)"
    )
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list", help="list the signing keys, their states (next, active, retired, revoked, "
        "expired) and ages, and what happens next",
    )
    listing.add_argument(
        "--json", action="store_true",
        help="print JSON: a list of keys (kid, alg, state, ageSeconds and ISO times; never "
        "key material)",
    )
    listing.set_defaults(handler=_keys_list)
    rotate = actions.add_parser(
        "rotate",
        help="publish the next signing key now; it signs once every resource server can "
        "have fetched it (the JWKS max-age plus TEKCIFY_KEY_RELOAD_INTERVAL), and the old "
        "one stays published until its tokens expire (with HS256 access tokens: the id "
        "tokens' RS256 key)",
    )
    rotate.add_argument(
        "--now", action="store_true",
        help="emergency: the new key signs at once (resource servers that fetched the JWKS "
        "lately refuse its tokens until they fetch it again)",
    )
    rotate.set_defaults(handler=_keys_rotate)
    revoke = actions.add_parser(
        "revoke",
        help="withdraw a key at once (a leaked one): out of the JWKS, and its tokens refused "
        "by introspection, UserInfo and every route within TEKCIFY_KEY_RELOAD_INTERVAL",
    )
    revoke.add_argument(
        "kid", metavar="KID",
        help="the key's kid (see keys list); a kid starting with - goes after --, as in "
        "keys revoke --now -- -AbC...",
    )
    revoke.add_argument(
        "--now", action="store_true",
        help="needed to revoke the key that signs now: a new key is made and signs at once",
    )
    revoke.add_argument(
        "--revoke-sessions", action="store_true",
        help="also revoke the sessions whose latest access token the key signed (their "
        "refresh tokens stop working; the users sign in again)",
    )
    revoke.set_defaults(handler=_keys_revoke)
    switch = actions.add_parser(
        "switch-alg",
        help="change the signing algorithm recorded in the database, on purpose: a new key "
        "of ALG signs (HS256: the shared secret), the old keys stay published until their "
        "tokens expire; then start every instance with TEKCIFY_SIGNING_ALG=ALG",
    )
    switch.add_argument("alg", metavar="ALG", choices=("HS256", "RS256", "ES256", "EdDSA"),
                        help="HS256, RS256, ES256 or EdDSA")
    switch.set_defaults(handler=_keys_switch_alg)


def _when(value: Any) -> str:
    return "-" if value is None else str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _iso_or_none(value: Any) -> str | None:
    """An ISO time for JSON, ``None`` (``null``) for no time."""
    return None if value is None else _when(value)


def _clock_time(value: Any) -> str:
    """``HH:MM UTC (ISO time)``: when something happens, for a person and for a script."""
    return f"{value.strftime('%H:%M')} UTC ({_when(value)})"


def _age(seconds: float) -> str:
    """A duration as its two largest units: ``3d 4h``, ``12m 5s``, ``40s``."""
    left = max(0, int(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
    return " ".join(parts[:2])


def _keys_list(args: argparse.Namespace) -> int:
    from .server.services import keystore

    settings = _settings()
    ctx = _started_context(settings)
    now = ctx.clock()
    try:
        with ctx.db.read() as db:
            keys = keystore.list_keys(db, settings, now)
    finally:
        ctx.stop()
    if getattr(args, "json", False):
        import json

        print(json.dumps([
            {
                "kid": key.kid, "alg": key.alg, "state": key.state, "purpose": key.purpose,
                "ageSeconds": int(key.age(now).total_seconds()),
                "createdAt": _when(key.created_at),
                "activatesAt": _iso_or_none(key.activates_at),
                "retiredAt": _iso_or_none(key.retired_at),
                "publishedUntil": _iso_or_none(key.published_until),
                "revokedAt": _iso_or_none(key.revoked_at),
            }
            for key in keys
        ], indent=2))
        return 0
    if ctx.signing_alg == "HS256":
        print(
            "the server signs HS256: access tokens are signed with the shared secret, not "
            "these keys"
        )
    print(
        f"{'KID':43}  {'ALG':5}  {'STATE':7}  {'AGE':7}  {'CREATED':20}  {'SIGNS FROM':20}  "
        f"{'RETIRED':20}  {'PUBLISHED UNTIL':20}  REVOKED"
    )
    for key in keys:
        print(
            f"{key.kid:43}  {key.alg:5}  {key.state:7}  {_age(key.age(now).total_seconds()):7}  "
            f"{_when(key.created_at):20}  {_when(key.activates_at):20}  "
            f"{_when(key.retired_at):20}  {_when(key.published_until):20}  "
            f"{_when(key.revoked_at)}"
        )
    for key in keys:
        if key.purpose == keystore.ID_TOKEN:
            print(f"{key.kid} signs id tokens only (access tokens are HS256)")
    for key in keys:
        if key.state == "next":
            print(f"signing switches to {key.kid} at {_clock_time(key.activates_at)}")
        elif key.state == "retired":
            print(f"{key.kid} leaves the JWKS at {_clock_time(key.published_until)}")
    return 0


def _reload_note(settings: Settings) -> str:
    return f"{settings.key_reload_interval:g} seconds (TEKCIFY_KEY_RELOAD_INTERVAL)"


def _keys_rotate(args: argparse.Namespace) -> int:
    from .server.services import keystore
    from .server.services.keys import key_cipher

    settings = _settings()
    ctx = _started_context(settings)
    now = ctx.clock()
    # The access key, or with HS256 the id tokens' own RS256 key (services/keystore.py).
    purposes = [keystore.ACCESS if ctx.signing_alg != "HS256" else keystore.ID_TOKEN]
    rotations: list[tuple[str, keystore.Rotation]] = []
    try:
        cipher, _where = key_cipher(settings)
        for purpose in purposes:
            with ctx.db.write() as db:
                rotations.append((purpose, keystore.rotate_key(
                    db, settings, cipher, now, immediate=args.now, purpose=purpose
                )))
    except keystore.KeyPending as exc:
        raise CommandError(
            f"key {exc.pending.kid} is already next: signing switches to it at "
            f"{_clock_time(exc.pending.activates_at)}, nothing changed (`tekcify-auth keys "
            "rotate --now` makes a new key sign at once instead)"
        ) from None
    finally:
        ctx.stop()
    if ctx.signing_alg == "HS256":
        print(
            "access tokens are HS256: the shared secret (JWT_ACCESS_SECRET) is their key; "
            "rotated the id tokens' key only"
        )
    for purpose, rotation in rotations:
        _print_rotation(args, settings, now, rotation, purpose == keystore.ID_TOKEN)
    return 0


def _print_rotation(
    args: argparse.Namespace, settings: Settings, now: datetime, rotation: Any, id_token: bool
) -> None:
    from .server.services import keystore

    new = rotation.active
    what = "id token signing key" if id_token else "signing key"
    if args.now:
        print(f"new {what} {new.kid} ({new.alg}), signing now")
        if rotation.retired:
            until = _when(now + keystore.retention(settings))
            print(f"retired {', '.join(rotation.retired)}: published until {until}")
        print(f"running servers sign with the new key within {_reload_note(settings)}")
        print(
            "resource servers that fetched the JWKS before the new key was in it refuse its "
            "tokens until they fetch it again (JwksVerifier: at most refetch_cooldown "
            "seconds, 30 by default); without --now, keys rotate avoids this"
        )
    else:
        assert rotation.switch_at is not None
        delay = keystore.publication_delay(settings).total_seconds()
        print(f"next {what} {new.kid} ({new.alg}), published in the JWKS now")
        print(f"signing switches to {new.kid} at {_clock_time(rotation.switch_at)}")
        print(
            f"in {delay:g} seconds: the JWKS max-age ({settings.jwks_max_age}), the reload "
            f"interval ({settings.key_reload_interval:g}) and a margin for clocks "
            f"({keystore.ACTIVATION_MARGIN}); every instance switches by itself, so no "
            "resource server sees a token of a key it could not have fetched"
        )
        if rotation.retired:
            until = _when(rotation.switch_at + keystore.retention(settings))
            print(
                f"{', '.join(rotation.retired)} signs until then; published until {until}"
            )
    if rotation.deleted:
        print(f"deleted {len(rotation.deleted)} expired key(s): {', '.join(rotation.deleted)}")


def _keys_revoke(args: argparse.Namespace) -> int:
    from .server.services import keystore
    from .server.services.keys import key_cipher

    settings = _settings()
    ctx = _started_context(settings)
    now = ctx.clock()
    kid: str = args.kid
    try:
        with ctx.db.write() as db:
            revocation = keystore.revoke_key(
                db, settings, kid, now, cipher=lambda: key_cipher(settings)[0],
                replace=args.now, revoke_sessions=args.revoke_sessions,
            )
    except keystore.UnknownKey:
        raise CommandError(f"no signing key {kid} (see `tekcify-auth keys list`)") from None
    except keystore.RevokeRefused:
        raise CommandError(
            f"{kid} is the key that signs now, and nothing would sign without it: run "
            f"`tekcify-auth keys revoke {kid} --now` to make a new key that signs at once "
            "(resource servers that fetched the JWKS before it was in it refuse its tokens "
            "until they fetch it again)"
        ) from None
    finally:
        ctx.stop()
    if revocation.already:
        print(f"{kid} was already revoked at {_when(revocation.revoked.revoked_at)}")
    else:
        print(
            f"revoked {kid}: out of the JWKS now; introspection, UserInfo and every route "
            f"of every instance refuse its tokens within {_reload_note(settings)}"
        )
        print(
            "resource servers that verify with a cached JWKS drop it when they fetch it "
            f"again (within {settings.jwks_max_age} seconds, its max-age)"
        )
    if revocation.replacement is not None:
        print(f"new signing key {revocation.replacement.kid} ({revocation.replacement.alg}), "
              "signing now")
    for other in revocation.restored:
        print(f"{other} goes on signing: the key it was to hand over to is revoked")
    if args.revoke_sessions:
        print(f"revoked {revocation.sessions} session(s) whose access tokens {kid} signed")
    else:
        print(
            "the sessions whose access tokens it signed are still live (their refresh tokens "
            "get tokens of the current key); --revoke-sessions ends them"
        )
    return 0


def _keys_switch_alg(args: argparse.Namespace) -> int:
    from .server.context import utcnow
    from .server.db.engine import Database
    from .server.db.migrate import upgrade
    from .server.services import keystore
    from .server.services.keys import key_cipher
    from .server.settings import SettingsError

    settings = _settings()  # TEKCIFY_SIGNING_ALG may name either side: it is not checked
    alg: str = args.alg
    db = Database(settings.effective_database_url, timeout=settings.db_timeout)
    try:
        db.prepare()
        if settings.migrate_on_start:
            upgrade(db)
        now = utcnow()
        with db.write() as session:
            switch = keystore.switch_signing_alg(
                session, settings, alg, lambda: key_cipher(settings)[0], now
            )
    except SettingsError as exc:  # the key-encryption secret does not open the active key
        raise CommandError(str(exc)) from None
    finally:
        db.dispose()
    if not switch.changed and switch.active is None:
        print(f"the server already signs with {alg}; nothing changed")
    else:
        if switch.changed:
            before = switch.previous or "nothing (a new database)"
            print(f"signing algorithm switched from {before} to {alg}")
        else:  # recorded already, but its key was missing
            print(f"the server signs with {alg}; it had no active key")
        if switch.active is not None:
            print(f"new signing key {switch.active.kid} ({alg})")
        if switch.retired:
            until = _when(now + keystore.retention(settings))
            print(f"retired {', '.join(switch.retired)}: published until {until}")
        if switch.deleted:
            print(f"deleted {len(switch.deleted)} expired key(s): {', '.join(switch.deleted)}")
        if alg == "HS256":
            print(
                "resource servers need the shared secret (JWT_ACCESS_SECRET) for new tokens; "
                "the retired keys stay in the JWKS, and their tokens good, until those "
                "tokens have expired"
            )
        else:
            print(
                "resource servers verify new tokens with the JWKS (/api/.well-known/jwks.json); "
                f"those that pin algorithms must allow {alg}"
            )
            if switch.previous == "HS256":
                print(
                    "HS256 access tokens stop verifying once the instances restart (clients "
                    "refresh)"
                )
    print(
        f"now set TEKCIFY_SIGNING_ALG={alg} (or unset it) on every instance and restart them: "
        "an instance started with another value refuses to start"
    )
    return 0


# -- apps ----------------------------------------------------------------------------


def _add_app_commands(commands: Any) -> None:
    apps = commands.add_parser("apps", help="administer OAuth applications")
    actions = apps.add_subparsers(dest="apps_command", required=True, metavar="ACTION")
    allow = actions.add_parser(
        "allow-client-credentials",
        help="let a confidential application get client_credentials tokens (no user) for "
        "these scopes; replaces an earlier allowance",
    )
    allow.add_argument("client_id", metavar="CLIENT_ID")
    allow.add_argument(
        "--scopes", required=True,
        help='the scopes its client tokens may hold, space-separated ("read:orders ...")',
    )
    allow.set_defaults(handler=_apps_allow_client_credentials)
    deny = actions.add_parser(
        "deny-client-credentials",
        help="withdraw that leave; the application's client tokens stop being active",
    )
    deny.add_argument("client_id", metavar="CLIENT_ID")
    deny.set_defaults(handler=_apps_deny_client_credentials)
    from ._cli_admin import add_app_actions

    add_app_actions(actions)


def _apps_allow_client_credentials(args: argparse.Namespace) -> int:
    from .server.services.client_credentials import AllowanceRefused, allow_client_credentials

    ctx = _started_context(_settings())
    try:
        with ctx.db.write() as db:
            granted, pending = allow_client_credentials(
                db, args.client_id, args.scopes.split(), ctx.clock()
            )
    except AllowanceRefused as exc:
        raise CommandError(str(exc)) from None
    finally:
        ctx.stop()
    print(
        f"{args.client_id} may use client_credentials for: {' '.join(granted) or '(nothing yet)'}"
    )
    if pending:
        print(f"  not registered by the application, granted once it does: {' '.join(pending)}")
    return 0


def _apps_deny_client_credentials(args: argparse.Namespace) -> int:
    from .server.services.client_credentials import AllowanceRefused, deny_client_credentials

    ctx = _started_context(_settings())
    try:
        with ctx.db.write() as db:
            had = deny_client_credentials(db, args.client_id)
    except AllowanceRefused as exc:
        raise CommandError(str(exc)) from None
    finally:
        ctx.stop()
    if had:
        print(f"{args.client_id} may no longer use client_credentials; its tokens are revoked")
    else:
        print(f"{args.client_id} was not allowed client_credentials")
    return 0


# -- mail ----------------------------------------------------------------------------


def _add_mail_commands(commands: Any) -> None:
    mail = commands.add_parser(
        "mail", help="the mail queue (SMTP with TEKCIFY_SMTP_URL, else .eml files in the outbox)"
    )
    actions = mail.add_subparsers(dest="mail_command", required=True, metavar="ACTION")
    test = actions.add_parser(
        "test", help="queue a test message to ADDRESS and deliver it now; says where it went"
    )
    test.add_argument("address", metavar="ADDRESS")
    test.set_defaults(handler=_mail_test)
    actions.add_parser(
        "status", help="count the queue's messages: due, retrying, failed and sent"
    ).set_defaults(handler=_mail_status)


def _mail_test(args: argparse.Namespace) -> int:
    from .server.services import mail
    from .server.services.mail_sender import MailSender

    settings = _settings()
    address = _email(args.address)
    base_url = settings.public_url or settings.canonical_url or f"http://localhost:{DEFAULT_PORT}"
    ctx = _started_context(settings)
    try:
        with ctx.db.write() as db:
            message_id = mail.enqueue(
                db, kind="test_message", to=address, values={}, base_url=base_url,
                now=ctx.clock(),
            )
        report = MailSender(ctx.db, settings, ctx.clock).deliver_due(only=[message_id])
    finally:
        ctx.stop()
    if message_id in report.sent:
        print(f"test message to {address} delivered {report.where[message_id]}")
        return 0
    if message_id not in report.errors:  # a running server claimed it first
        print(f"test message to {address} queued; a running server is delivering it (its log, "
              "and tekcify-auth mail status, say how it went)")
        return 0
    error = report.errors[message_id]
    if message_id in report.failed:
        raise CommandError(f"the test message to {address} failed for good: {error}")
    raise CommandError(
        f"the test message to {address} was not delivered: {error}; it stays queued and a "
        "running server tries again (tekcify-auth mail status)"
    )


def _mail_status(_args: argparse.Namespace) -> int:
    from .server.services.mail_sender import queue_counts

    settings = _settings()
    ctx = _started_context(settings)
    try:
        counts = queue_counts(ctx.db)
    finally:
        ctx.stop()
    print(f"mail: {_mail_destination(settings)}")
    print(
        f"{counts.due} due, {counts.retrying} retrying, {counts.failed} failed, "
        f"{counts.sent} sent (sent and failed ones are kept until the purge's retention)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CommandError as exc:
        if handler is _serve and os.environ.get("TEKCIFY_LOG_FORMAT", "").strip().lower() == "json":
            from .server.logs import json_line  # a log shipper reads why it did not start

            print(json_line("tekcify_auth.cli", "ERROR", str(exc)), file=sys.stderr)
        else:
            print(f"tekcify-auth: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
