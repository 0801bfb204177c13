"""Storage limitation: recordings older than ``recording.retention_days`` are deleted (the
audio, encrypted or not, and the metadata with its encrypted transcript).

``purge(directory, now=..., keep_days=...)`` does one pass and returns the ids it removed;
``retention_loop`` runs it every ``every_s`` with an injectable clock and sleep (simulated time
in tests); the server starts it beside its other background jobs when recording is on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callport.recording.store import LocalStore, RecordingStore, metadata, remove, valid_name

log = logging.getLogger(__name__)


def purge(directory: Path, *, now: datetime, keep_days: int,
          store: RecordingStore | None = None) -> list[str]:
    """Delete every recording that started more than ``keep_days`` before ``now`` from
    ``store`` (default: the directory's ``LocalStore``)."""
    if keep_days <= 0:
        return []
    store = store if store is not None else LocalStore(directory=directory)
    cutoff = now - timedelta(days=keep_days)
    removed = []
    for meta in metadata(store):
        try:
            started = datetime.fromisoformat(str(meta["started_at"]))
            rec_id = str(meta["id"])
        except (ValueError, KeyError):
            continue
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if started >= cutoff or not valid_name(rec_id):
            continue
        remove(store, rec_id)
        removed.append(rec_id)
    if removed:
        log.info("recording retention: purged %d recording(s) older than %d days",
                 len(removed), keep_days)
    return removed


async def retention_loop(
    directory: Path, *, keep_days: int, every_s: float = 3600.0,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    store: RecordingStore | None = None,
) -> None:
    """``purge`` (of ``store``, default the directory's) now and then every ``every_s``
    until cancelled."""
    while True:
        try:
            await asyncio.to_thread(purge, directory, now=now(), keep_days=keep_days,
                                    store=store)
        except Exception:
            log.exception("recording retention: purge failed")
        await sleep(every_s)
