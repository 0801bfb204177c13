"""The recordings in a directory, by their metadata (``ID.json``), and what a listing shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = ("id", "call_id", "user", "started_at", "duration_s", "consent", "paused_s",
           "channels")  # what a listing shows of each recording


def recordings(directory: Path) -> list[dict[str, Any]]:
    """Every recording's metadata (``ID.json``), newest first."""
    if not directory.is_dir():
        return []
    out = []
    for path in directory.glob("rec-*.json"):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda m: str(m.get("started_at", "")), reverse=True)
