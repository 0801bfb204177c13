"""``pg_stores``: every durable store on one PostgreSQL database, for the composition root.

``callport serve`` (``server.runtime.make_runtime``) calls it when ``server.db`` is a
``postgresql://`` URL; ``check_postgres`` is what ``callport doctor`` reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from callport.store.migrations_pg import MIGRATIONS
from callport.store.postgres import PgDb, redact
from callport.store.postgres_calls import PgCallStore, PgVoicemailStore
from callport.store.postgres_tasks import PgTaskLists
from callport.store.postgres_users import PgTokenStore, PgUserStore
from callport.store.tasks import Clock, local_now


@dataclass(frozen=True, slots=True)
class PgStores:
    db: PgDb
    users: PgUserStore
    tokens: PgTokenStore
    tasks: PgTaskLists
    calls: PgCallStore
    voicemail: PgVoicemailStore


def pg_stores(url: str, *, clock: Clock = local_now) -> PgStores:
    """The stores on ``url``; the pool opens (and migrates) on the first statement."""
    db = PgDb(url)
    return PgStores(db, PgUserStore(db), PgTokenStore(db), PgTaskLists(db, clock=clock),
                    PgCallStore(db, clock=clock), PgVoicemailStore(db))


def check_postgres(url: str, *, timeout_s: float = 5.0) -> tuple[bool, str]:
    """``(ok, detail)``: can we reach the database, and at which schema version is it?
    Read-only (it never migrates: ``callport serve`` does that)."""
    where = f"PostgreSQL {redact(url)}"
    try:
        import psycopg
    except ImportError:
        return False, f"{where}: psycopg is not installed (pip install 'callport[postgres]')"
    try:
        server, version = schema_version(url, timeout_s=timeout_s)
    except psycopg.Error as exc:
        return False, f"{where}: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
    latest = len(MIGRATIONS)
    state = ("up to date" if version == latest else
             "empty (migrated on first serve)" if version == 0 else
             f"schema {version} of {latest} (migrated on next serve)")
    return True, f"{where} (server {server // 10000}.{server % 10000}), {state}"


def schema_version(url: str, *, timeout_s: float = 5.0) -> tuple[int, int]:
    """``(server version, schema version)`` of the database, read-only (0: not migrated yet).
    Raises ``psycopg.Error`` when it cannot be reached; needs psycopg."""
    import psycopg

    with psycopg.connect(url, connect_timeout=max(1, int(timeout_s))) as conn:
        server = conn.info.server_version
        found = conn.execute("SELECT to_regclass('callport_migrations')").fetchone()
        if found is None or found[0] is None:
            return server, 0
        row = conn.execute("SELECT max(version) FROM callport_migrations").fetchone()
        return server, int(row[0] or 0) if row is not None else 0


def is_migrated(url: str) -> bool:
    """Is the database reachable and at the latest schema (so reading it changes nothing)?"""
    try:
        return schema_version(url)[1] == len(MIGRATIONS)
    except Exception:  # not reachable, no psycopg: callport doctor's database check says why
        return False
