"""The recordings in a directory, by their metadata (``ID.json``), and what a listing shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callport.recording.store import LocalStore, RecordingStore, metadata

COLUMNS = ("id", "call_id", "user", "started_at", "duration_s", "consent", "paused_s",
           "channels")  # what a listing shows of each recording


def recordings(directory: Path, store: RecordingStore | None = None) -> list[dict[str, Any]]:
    """Every recording's metadata (``ID.json``) in ``store`` (default: the directory's
    ``LocalStore``), newest first."""
    found = metadata(store if store is not None else LocalStore(directory=directory))
    return sorted(found, key=lambda m: str(m.get("started_at", "")), reverse=True)
