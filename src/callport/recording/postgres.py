"""``PostgresRecordingStore``: the recordings as rows of the shared PostgreSQL database.

Chosen by ``recording_store`` when ``server.db`` is a ``postgresql://`` URL and
``recording.store`` is left empty (set ``local`` or ``s3`` to keep them elsewhere), so every
node lists, plays, exports, purges and erases every node's recordings. Each object
(``rec-ID.json`` metadata, ``rec-ID.wav.enc`` sealed audio) is one row of
``recording_objects`` (migration step 5): ``name`` (the primary key, ``COLLATE "C"`` so
``ORDER BY`` is Python's ``sorted``), ``data`` (``BYTEA``) and ``updated_at`` (unix seconds).
A write is one ``INSERT ... ON CONFLICT DO UPDATE`` statement, so a reader sees the old bytes
or the new ones, never half. The audio stays sealed (AES-256-GCM, ``crypt``): the database
holds ciphertext, and another node opens it only with the same ``recording.key``.

The ``RecordingStore`` calls are synchronous (the server runs them in a worker thread), so
this store has its own small synchronous psycopg pool, opened on first use; opening applies
the versioned migrations (``callport.store.migrations_pg``) first, the same steps ``PgDb``
applies, under the same advisory lock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from callport.recording.store import valid_name
from callport.store.migrations_pg import apply_migrations
from callport.store.postgres import is_postgres_url, redact

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool


def _checked(name: str) -> str:
    if not valid_name(name):
        raise ValueError(f"not a recording object name: {name!r}")
    return name


async def _migrate(url: str) -> None:
    from psycopg import AsyncConnection
    from psycopg.rows import dict_row

    conn = await AsyncConnection.connect(url, row_factory=dict_row)
    try:
        await apply_migrations(conn)
    finally:
        await conn.close()


class PostgresRecordingStore:
    """A ``RecordingStore`` in the ``recording_objects`` table of a PostgreSQL database."""

    def __init__(self, url: str, *, max_size: int = 4) -> None:
        if not is_postgres_url(url):
            raise ValueError(f"not a postgresql:// URL: {redact(url)}")
        self.url = url
        self.max_size = max_size
        self._pool: ConnectionPool[Connection[tuple[Any, ...]]] | None = None
        self._lock = threading.Lock()

    def _ready(self) -> ConnectionPool[Connection[tuple[Any, ...]]]:
        with self._lock:
            if self._pool is None:
                try:
                    from psycopg_pool import ConnectionPool
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise RuntimeError(
                        "server.db is a postgresql:// URL but psycopg is not installed: "
                        "pip install 'callport[postgres]'") from exc
                # the migrations are async (shared with PgDb): run them on a loop of their
                # own in a thread, which works whether or not this thread runs a loop
                with ThreadPoolExecutor(max_workers=1) as one:
                    one.submit(asyncio.run, _migrate(self.url)).result()
                pool: ConnectionPool[Connection[tuple[Any, ...]]] = ConnectionPool(
                    self.url, min_size=1, max_size=self.max_size, open=False)
                pool.open(wait=True, timeout=30)
                self._pool = pool
            return self._pool

    def names(self) -> list[str]:
        with self._ready().connection() as conn:
            rows = conn.execute("SELECT name FROM recording_objects ORDER BY name").fetchall()
        return [str(row[0]) for row in rows]

    def read(self, name: str) -> bytes:
        _checked(name)
        with self._ready().connection() as conn:
            row = conn.execute("SELECT data FROM recording_objects WHERE name = %s",
                               (name,)).fetchone()
        if row is None:
            raise FileNotFoundError(f"no recording object {name!r}")
        return bytes(row[0])

    def objects(self, suffix: str) -> list[tuple[str, bytes]]:
        """Every object whose name ends with ``suffix`` and its bytes, in one query (the
        listing reads every ``.json`` this way: one round trip, not one per recording)."""
        with self._ready().connection() as conn:
            rows = conn.execute(
                "SELECT name, data FROM recording_objects WHERE right(name, %s) = %s "
                "ORDER BY name", (len(suffix), suffix)).fetchall()
        return [(str(name), bytes(data)) for name, data in rows]

    def write(self, name: str, data: bytes) -> None:
        _checked(name)
        with self._ready().connection() as conn:
            conn.execute(
                "INSERT INTO recording_objects (name, data, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, "
                "updated_at = EXCLUDED.updated_at", (name, data, time.time()))

    def delete(self, name: str) -> bool:
        _checked(name)
        with self._ready().connection() as conn:
            cur = conn.execute("DELETE FROM recording_objects WHERE name = %s", (name,))
        return cur.rowcount > 0

    def exists(self, name: str) -> bool:
        _checked(name)
        with self._ready().connection() as conn:
            row = conn.execute("SELECT 1 FROM recording_objects WHERE name = %s",
                               (name,)).fetchone()
        return row is not None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
