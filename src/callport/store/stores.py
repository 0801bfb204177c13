"""``open_stores``: every durable store on the database ``server.db`` names, SQLite or PostgreSQL.

The one place that turns ``server.db`` (``--db``, ``CALLPORT_DB``) into stores: ``callport
serve`` (``server.runtime.build_runtime``) and every CLI command that reads or changes data
(``users``, ``tokens``, ``tasks``, ``calls``, ``voicemail``, ``queues status``, ``privacy``,
``doctor``) open their stores here, so no command can open the other backend by mistake. A
``postgresql://`` or ``postgres://`` URL is PostgreSQL (``postgres_stores.pg_stores``); any other
``scheme://`` is refused (``StoreUrlError``) rather than taken for a file name; anything else is
a SQLite file (or ``:memory:``) whose folder is created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from callport.store.postgres import URL_PREFIXES, is_postgres_url, redact

if TYPE_CHECKING:
    from callport.store.calls import CallStore
    from callport.store.tasks import Clock, TaskLists
    from callport.store.users import TokenStore, UserStore
    from callport.store.voicemail import VoicemailStore


class StoreUrlError(ValueError):
    """``server.db`` is a URL of a database callport does not speak (``mysql://...``)."""


def db_url_problem(db: str) -> str | None:
    """Why ``db`` cannot be ``server.db``, or None: a URL must be ``postgresql://``."""
    if "://" in db and not is_postgres_url(db):
        scheme = db.split("://", 1)[0]
        return (f"server.db={redact(db)!r}: {scheme}:// is not a database callport can use; "
                f"give a SQLite file path or a {' or '.join(URL_PREFIXES)} URL")
    return None


@dataclass(frozen=True, slots=True)
class Erased:
    """What ``Stores.erase`` deleted."""

    calls: int
    voicemail: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Stores:
    """The durable stores on one database; ``close()`` when done (a CLI command)."""

    url: str
    backend: str  # "sqlite" or "postgresql"
    users: UserStore
    tokens: TokenStore
    tasks: TaskLists
    calls: CallStore
    voicemail: VoicemailStore
    _erase: Callable[[str | None, str | None], Awaitable[Erased]]
    _close: Callable[[], Awaitable[None]]

    async def erase(self, *, user: str | None, phone: str | None) -> Erased:
        """Delete the call records (with their events) and voicemail of a user (their calls,
        messages left for them) or of a phone number (calls from or to it, messages it left).
        SQLite is vacuumed after, so deleted rows do not linger in free pages."""
        if (user is None) == (phone is None):
            raise ValueError("erase: give a user or a phone number")
        return await self._erase(user, phone)

    async def close(self) -> None:
        await self._close()


def open_stores(db: str, *, owner: str, clock: Clock | None = None) -> Stores:
    """The stores on ``db`` (a SQLite path or a PostgreSQL URL); ``owner`` (``identity.owner``)
    owns SQLite task rows from before owners existed. Raises ``StoreUrlError`` for a URL of
    another kind; PostgreSQL connects (and migrates) on the first statement."""
    problem = db_url_problem(db)
    if problem is not None:
        raise StoreUrlError(problem)
    from callport.store.tasks import local_now

    when = clock or local_now
    if is_postgres_url(db):
        from callport.store.erase import pg_erase
        from callport.store.postgres_stores import pg_stores

        pg = pg_stores(db, clock=when)

        async def erase_pg(user: str | None, phone: str | None) -> Erased:
            return Erased(*await pg_erase(pg.db, user=user, phone=phone))

        return Stores(url=db, backend="postgresql", users=pg.users, tokens=pg.tokens,
                      tasks=pg.tasks, calls=pg.calls, voicemail=pg.voicemail,
                      _erase=erase_pg, _close=pg.db.close)  # fmt: skip
    from callport.store.erase import sqlite_erase
    from callport.store.sqlite import SqliteDb
    from callport.store.sqlite_calls import SqliteCallStore
    from callport.store.sqlite_tasks import SqliteTaskLists
    from callport.store.sqlite_tokens import SqliteTokenStore
    from callport.store.sqlite_users import SqliteUserStore
    from callport.store.voicemail import SqliteVoicemailStore

    sq = SqliteDb(db)

    async def erase_sqlite(user: str | None, phone: str | None) -> Erased:
        return Erased(*await sqlite_erase(sq, user=user, phone=phone))

    async def close_sqlite() -> None:
        sq.close()

    return Stores(url=db, backend="sqlite", users=SqliteUserStore(sq),
                  tokens=SqliteTokenStore(sq),
                  tasks=SqliteTaskLists(sq, clock=when, default_owner=owner),
                  calls=SqliteCallStore(sq, clock=when), voicemail=SqliteVoicemailStore(sq),
                  _erase=erase_sqlite, _close=close_sqlite)  # fmt: skip
