"""One SQLite connection served by one worker thread, for the async stores.

sqlite3 blocks, so every statement runs on a dedicated thread (one per database, which also
serialises writers without "database is locked" retries). The database uses WAL journaling and
``synchronous=NORMAL``: readers never block the writer, and a crash loses at most the last
transactions, never corrupts the file. Each ``transaction`` call is one transaction: it commits
when the function returns and rolls back if it raises, so a bad request leaves no half-write.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class SqliteDb:
    """A SQLite file (or ``":memory:"``) behind a single worker thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self._schemas: set[str] = set()
        self._lock = threading.Lock()
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None)  # explicit BEGIN/COMMIT below
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn

    def ensure_schema(self, name: str, script: str) -> None:
        """Run ``script`` (idempotent DDL) once per database; blocks, call it at start-up."""
        with self._lock:
            if name in self._schemas:
                return
            self._executor.submit(self._run_script, script).result()
            self._schemas.add(name)

    def ensure_migration(self, name: str, fn: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``fn(conn)`` (an idempotent migration) once per database, in one transaction."""
        with self._lock:
            if name in self._schemas:
                return
            self._executor.submit(self._in_transaction, fn).result()
            self._schemas.add(name)

    def _run_script(self, script: str) -> None:
        assert self._conn is not None
        self._conn.executescript(script)

    def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("database is closed")
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in one transaction on the database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._in_transaction, fn)

    def close(self) -> None:
        def _close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        self._executor.submit(_close).result()
        self._executor.shutdown(wait=True)
