"""``callport users``, ``callport tokens`` and ``callport tasks``: the account commands.

They open the configured database (``server.db`` / ``--db`` / ``CALLPORT_DB``: a SQLite file or
a ``postgresql://`` URL, through ``store.stores.open_stores``) directly, so they work while
``serve`` runs (SQLite WAL: readers and the writer do not block each other).
Secrets are never printed, except a new token's, once, alone on stdout so scripts can capture
it (``TOKEN=$(callport tokens create alice)``). Invalid input exits 2 with one line saying why.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from callport.config import Settings

if TYPE_CHECKING:
    from callport.store.stores import Stores
    from callport.store.tasks import Task, TaskLists
    from callport.store.users import TokenInfo, TokenStore, UserStore
    from callport.types import User

COMMANDS = frozenset({"users", "tokens", "tasks"})


class CliError(Exception):
    """A request the command refuses (no such user, bad field): exit 2 with this message."""


def _common() -> argparse.ArgumentParser:
    """``--config``/``--db`` accepted after the subcommand too (they override the global ones)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="TOML configuration file")
    p.add_argument("--db", default=argparse.SUPPRESS,
                   help="SQLite database file or postgresql:// URL")
    return p


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = [_common()]
    users = sub.add_parser("users", help="add, list and remove users")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser(
        "add", parents=common, help="add a user",
        description="Add a user; their calls are recognised by --phone (caller ID).",
    )  # fmt: skip
    add.add_argument("name", help="login and owner of their tasks (lower case, e.g. alice)")
    add.add_argument("--phone", action="append", default=[], metavar="+E164",
                     help="a number their calls come from (repeatable)")  # fmt: skip
    add.add_argument("--pin", metavar="DIGITS", help="4-12 digits asked for on phone calls")
    add.add_argument("--password-stdin", action="store_true",
                     help="read a password for the web page from stdin (one line)")  # fmt: skip
    add.add_argument("--role", action="append", default=[], choices=["admin", "agent", "user"],
                     help="admin, agent or user (repeatable; default user)")  # fmt: skip
    add.add_argument("--display-name", default="", metavar="TEXT", help="how the agent says it")
    add.add_argument("--queue", action="append", default=[], metavar="NAME",
                     help="a queue this agent takes calls from ([queues.NAME]; repeatable; "
                          "needs --role agent)")  # fmt: skip
    change = users_sub.add_parser("set", parents=common, help="set or clear a PIN or password")
    change.add_argument("name")
    pin = change.add_mutually_exclusive_group()
    pin.add_argument("--pin", metavar="DIGITS", help="a new PIN (4-12 digits)")
    pin.add_argument("--no-pin", action="store_true", help="remove the PIN")
    pw = change.add_mutually_exclusive_group()
    pw.add_argument("--password-stdin", action="store_true", help="read a new password from stdin")
    pw.add_argument("--no-password", action="store_true", help="remove the password")
    member = change.add_mutually_exclusive_group()
    member.add_argument("--queue", action="append", default=[], metavar="NAME",
                        help="an agent's queues, replacing the old ones (repeatable)")
    member.add_argument("--no-queues", action="store_true", help="leave every queue")
    listing = users_sub.add_parser("list", parents=common, help="list users (no secrets)")
    listing.add_argument("--json", action="store_true")
    remove = users_sub.add_parser("remove", parents=common,
                                  help="remove a user and revoke their tokens")  # fmt: skip
    remove.add_argument("name")

    tokens = sub.add_parser("tokens", help="API bearer tokens")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = tokens_sub.add_parser("create", parents=common,
                                   help="mint an API token for a user; prints it once")  # fmt: skip
    create.add_argument("name", help="the user the token acts as")
    create.add_argument("--label", default="", help="a note for `tokens list` (e.g. the host)")
    create.add_argument("--ttl-days", type=float, metavar="N", help="expire after N days "
                        "(default: until revoked)")  # fmt: skip
    tlist = tokens_sub.add_parser("list", parents=common, help="list tokens (never the secrets)")
    tlist.add_argument("--json", action="store_true")
    revoke = tokens_sub.add_parser("revoke", parents=common, help="revoke a token by id")
    revoke.add_argument("id", help="the id `tokens list` shows (or the token itself)")

    tasks = sub.add_parser("tasks", help="inspect a user's Task Manager tasks")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True, metavar="ACTION")
    tasks_list = tasks_sub.add_parser("list", parents=common, help="list tasks")
    tasks_list.add_argument("--user", metavar="NAME",
                            help="whose tasks (default: identity.owner)")  # fmt: skip
    tasks_list.add_argument("--json", action="store_true")
    tasks_list.add_argument("--all", action="store_true", help="include completed tasks")


@dataclass
class _Stores:
    opened: Stores
    users: UserStore
    tokens: TokenStore
    tasks: TaskLists
    settings: Settings | None = None  # for the queues an agent is added to


def _open(settings: Settings) -> _Stores:
    from callport.store.stores import open_stores

    opened = open_stores(settings.server.db, owner=settings.identity.owner)
    return _Stores(opened, opened.users, opened.tokens, opened.tasks, settings)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``users``/``tokens``/``tasks`` ACTION; 0 on success, 2 on a refused request."""
    from callport.store.tasks import TaskError
    from callport.store.users import UserError

    stores = _open(settings)
    try:
        match args.command:
            case "users":
                return await _users(stores, args)
            case "tokens":
                return await _tokens(stores, args)
            case _:
                return await _tasks(stores, settings, args)
    except (UserError, TaskError, CliError) as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return 2
    finally:
        await stores.opened.close()


# -- users ----------------------------------------------------------------------------------


async def _users(stores: _Stores, args: argparse.Namespace) -> int:
    match args.users_command:
        case "add":
            if args.queue and "agent" not in args.role:
                raise CliError("--queue: only agents take calls from a queue; add --role agent")
            password = _read_password() if args.password_stdin else None
            user = await stores.users.add(args.name, display_name=args.display_name,
                                          phones=args.phone, pin=args.pin, password=password,
                                          roles=args.role or ["user"],
                                          queues=args.queue)  # fmt: skip
            _warn_unknown_queues(stores, user)
            print(f"added {_describe(user)}")
            return 0
        case "set":
            return await _set_secrets(stores, args)
        case "list":
            users = await stores.users.list()
            if args.json:
                print(json.dumps([user_json(u) for u in users], indent=2))
            elif not users:
                print("no users (`callport serve` creates the owner on first run)")
            for u in [] if args.json else users:
                print(_describe(u))
            return 0
        case _:
            if not await stores.users.remove(args.name):
                raise CliError(f"no user {args.name!r}")
            print(f"removed {args.name} (their tokens are revoked; their tasks are kept)")
            return 0


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("--password-stdin: no password on stdin")
    return password


async def _set_secrets(stores: _Stores, args: argparse.Namespace) -> int:
    if await stores.users.get(args.name) is None:
        raise CliError(f"no user {args.name!r}")
    if not (args.pin or args.no_pin or args.password_stdin or args.no_password or args.queue
            or args.no_queues):
        raise CliError("users set: give --pin/--no-pin, --password-stdin/--no-password and/or "
                       "--queue/--no-queues")
    from callport.store.users import clean_password, clean_pin, clean_queues

    existing = await stores.users.get(args.name)
    if args.queue and existing is not None and not existing.has_role("agent"):
        raise CliError("--queue: only agents take calls from a queue")
    queues = clean_queues(args.queue)

    # validate both before changing either, so a bad password leaves the PIN as it was
    pin = clean_pin(args.pin) if args.pin else None
    password = clean_password(_read_password()) if args.password_stdin else None
    if args.pin or args.no_pin:
        await stores.users.set_pin(args.name, pin)
    if args.password_stdin or args.no_password:
        await stores.users.set_password(args.name, password)
    if args.queue or args.no_queues:
        await stores.users.set_queues(args.name, queues)
    user = await stores.users.get(args.name)
    assert user is not None
    _warn_unknown_queues(stores, user)
    print(f"updated {_describe(user)}")
    return 0


def user_json(user: User) -> dict[str, object]:
    """A user as ``users list --json`` shows it: never a secret, only whether one is set."""
    return {
        "name": user.name,
        "display_name": user.display_name,
        "phones": list(user.phones),
        "roles": sorted(user.roles),
        "has_pin": user.has_pin,
        "has_password": user.has_password,
        "queues": list(user.queues),
    }


def _warn_unknown_queues(stores: _Stores, user: User) -> None:
    if stores.settings is None:
        return
    unknown = [q for q in user.queues if stores.settings.queues.get(q) is None]
    if unknown:
        print(f"note: no [queues.{unknown[0]}] in the configuration yet; "
              f"{user.name} takes its calls once it is configured", file=sys.stderr)


def _describe(user: User) -> str:
    shown = f" ({user.display_name})" if user.display_name else ""
    phones = ", ".join(user.phones) or "no phone"
    secrets = [s for s, on in (("PIN", user.has_pin), ("password", user.has_password)) if on]
    queues = f"; queues {', '.join(user.queues)}" if user.queues else ""
    return (f"{user.name}{shown}: {phones}; roles {', '.join(sorted(user.roles))}{queues}; "
            f"{' and '.join(secrets) or 'no PIN or password'}")  # fmt: skip


# -- tokens ---------------------------------------------------------------------------------


async def _tokens(stores: _Stores, args: argparse.Namespace) -> int:
    from callport.store.users import token_id_of

    now = time.time()
    match args.tokens_command:
        case "create":
            if args.ttl_days is not None and not args.ttl_days > 0:
                raise CliError("--ttl-days: must be positive")
            ttl = args.ttl_days * 86400 if args.ttl_days is not None else None
            issued = await stores.tokens.create(args.name, kind="api", ttl_s=ttl,
                                                label=args.label, now=now)  # fmt: skip
            ends = _when(issued.info.expires_at) if issued.info.expires_at else "until revoked"
            print(f"callport: token {issued.info.id} for {args.name} ({ends}); it is shown once: "
                  "send it as 'Authorization: Bearer <token>'", file=sys.stderr)  # fmt: skip
            print(issued.secret)
            return 0
        case "list":
            tokens = await stores.tokens.list()
            if args.json:
                print(json.dumps([token_json(t, now=now) for t in tokens], indent=2))
                return 0
            if not tokens:
                print("no tokens")
            for t in tokens:
                label = f" {t.label!r}" if t.label else ""
                used = _when(t.last_used_at) if t.last_used_at else "never"
                print(f"{t.id}  {t.user:<12} {t.kind:<8} {_state(t, now):<8} created "
                      f"{_when(t.created_at)}, last used {used}{label}")  # fmt: skip
            return 0
        case _:
            token_id = token_id_of(args.id) or args.id
            if not await stores.tokens.revoke(token_id):
                raise CliError(f"no token {token_id!r} (see `callport tokens list`)")
            print(f"revoked {token_id}")
            return 0


def _state(token: TokenInfo, now: float) -> str:
    if token.revoked:
        return "revoked"
    if token.expires_at is not None and now >= token.expires_at:
        return "expired"
    return "active"


def token_json(token: TokenInfo, *, now: float) -> dict[str, object]:
    return {
        "id": token.id,
        "user": token.user,
        "kind": token.kind,
        "label": token.label,
        "state": _state(token, now),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
    }


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts or 0).strftime("%Y-%m-%d %H:%M")


# -- tasks ----------------------------------------------------------------------------------


async def _tasks(stores: _Stores, settings: Settings, args: argparse.Namespace) -> int:
    name = args.user or settings.identity.owner
    known = not args.user or await stores.users.get(name) is not None
    if not known and name not in await stores.tasks.owners():
        raise CliError(f"no user {name!r} (see `callport users list`)")
    tasks = await stores.tasks.of(name).list(include_done=args.all)
    if args.json:
        print(json.dumps([task_json(t) for t in tasks], indent=2))
        return 0
    if not tasks:
        print(f"no tasks for {name}")
    for t in tasks:
        due = t.due.strftime("%a %d %b %H:%M") if t.due else "no due date"
        print(f"{'[x]' if t.done else '[ ]'} {t.id:>4}  {t.title}  ({due})")
    return 0


def task_json(task: Task) -> dict[str, object]:
    return {
        "id": task.id,
        "title": task.title,
        "due": task.due.isoformat() if task.due else None,
        "done": task.done,
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat(),
    }
