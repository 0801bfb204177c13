"""``PgDb``: a PostgreSQL database (``server.db = postgresql://...``) for the async stores.

The scale-out twin of :class:`~callport.store.sqlite.SqliteDb`: many callport nodes share one
PostgreSQL database. It holds a psycopg 3 ``AsyncConnectionPool`` (the optional ``postgres``
extra: ``pip install 'callport[postgres]'``), opened lazily on first use in the running event
loop, so stores are built synchronously like the SQLite ones. Opening applies the versioned
migrations of :mod:`callport.store.migrations_pg` (once per database, under an advisory lock, so
nodes starting together do not race). A pool belongs to one event loop: used from another
(``callport serve`` runs ``asyncio.run`` before uvicorn's loop), ``PgDb`` opens a new one.
Each ``transaction()`` block is one transaction: it commits when the block ends and rolls back
if it raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from callport.store.migrations_pg import apply_migrations

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

URL_PREFIXES = ("postgresql://", "postgres://")


def is_postgres_url(db: str) -> bool:
    """Does ``server.db`` name a PostgreSQL database (rather than a SQLite file)?"""
    return db.startswith(URL_PREFIXES)


def redact(url: str) -> str:
    """``url`` without its password, for logs and ``callport doctor``."""
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = auth.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in auth else url


class PgDb:
    """A PostgreSQL database behind a small connection pool (``max_size`` connections)."""

    def __init__(self, url: str, *, max_size: int = 8) -> None:
        if not is_postgres_url(url):
            raise ValueError(f"not a postgresql:// URL: {redact(url)}")
        self.url = url
        self.max_size = max_size
        self._pool: AsyncConnectionPool[AsyncConnection[dict[str, Any]]] | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop the pool belongs to
        self.migrated: tuple[int, ...] = ()  # versions this process applied (the rest were there)

    async def _ready(self) -> AsyncConnectionPool[AsyncConnection[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._loop is not loop:  # a new event loop (``asyncio.run`` at start, then serve's):
            self._pool, self._lock, self._loop = None, asyncio.Lock(), loop  # a pool for it
        assert self._lock is not None
        async with self._lock:
            if self._pool is None:
                try:
                    from psycopg import AsyncConnection
                    from psycopg.rows import dict_row
                    from psycopg_pool import AsyncConnectionPool
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise RuntimeError(
                        "server.db is a postgresql:// URL but psycopg is not installed: "
                        "pip install 'callport[postgres]'") from exc
                pool: AsyncConnectionPool[AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
                    self.url, min_size=1, max_size=self.max_size, open=False,
                    connection_class=AsyncConnection[dict[str, Any]],
                    kwargs={"row_factory": dict_row, "autocommit": True})  # fmt: skip
                await pool.open(wait=True, timeout=15.0)
                try:
                    async with pool.connection() as conn:
                        self.migrated = await apply_migrations(conn)
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
        return self._pool

    async def open(self) -> None:
        """Connect and migrate now (otherwise the first statement does it)."""
        await self._ready()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection[dict[str, Any]]]:
        """A pooled connection inside one transaction, for the ``async with`` block."""
        pool = await self._ready()
        async with pool.connection() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
