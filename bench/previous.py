"""The previous figures of each benchmark, and the ratios a new run prints against them.

``bench/README.md`` keeps the dated tables people read; ``bench/previous.json`` keeps the
same figures in a form a script can compare with: per benchmark, per row (``"twilio N=50"``),
the figures of the last recorded run with when, at which commit and at what load average it
ran. A benchmark prints, for each row it measured, ``new / previous`` for every figure the
previous run also had (``0.52x`` is half the previous value: lower is better for costs and
latencies, higher for accuracies; the ratio says nothing about which, the figure's name does).
``--record`` makes the run's figures the new previous ones (then date the README table too).

    prev = Previous.load("bench_load")
    print(prev.against("twilio N=50", {"cpu_ms_per_call_s": 7.1}))
    # vs 2026-12-02 10:06 UTC ec5805f (load 0.5): cpu_ms_per_call_s 7.10 / 12.72 = 0.56x
    prev.keep("twilio N=50", {"cpu_ms_per_call_s": 7.1}, load=os.getloadavg()[0])
    prev.save()  # only with --record
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).with_name("previous.json")


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=Path(__file__).parent, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{out}+changes" if dirty else out


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass
class Previous:
    """One benchmark's previous figures (read from ``path``) and this run's (kept to save)."""

    bench: str
    path: Path = DEFAULT_PATH
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    _kept: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, bench: str, path: Path = DEFAULT_PATH) -> Previous:
        """The figures on record for ``bench`` (none when the file or the bench is absent;
        a file that is not valid JSON is an error: it is edited by hand too)."""
        rows: dict[str, dict[str, Any]] = {}
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            section = data.get(bench, {}) if isinstance(data, dict) else {}
            rows = {str(k): v for k, v in section.items() if isinstance(v, dict)}
        return cls(bench=bench, path=path, rows=rows)

    def against(self, row: str, figures: Mapping[str, float | None]) -> str:
        """One line: each figure of ``row`` over its previous value, or why there is none."""
        before = self.rows.get(row)
        if before is None:
            return f"{row}: no previous figures on record"
        old = before.get("figures", {})
        parts = []
        for name, value in figures.items():
            new, was = _number(value), _number(old.get(name))
            if new is None or was is None:
                continue
            ratio = f"{new / was:.2f}x" if was else "n/a (previous 0)"
            parts.append(f"{name} {new:.4g} / {was:.4g} = {ratio}")
        where = (f"vs {before.get('when', '?')} {before.get('commit', '?')}"
                 f" (load {before.get('load', '?')})")
        if not parts:
            return f"{row}: {where}: no figure in common"
        return f"{row}: {where}: " + ", ".join(parts)

    def keep(self, row: str, figures: Mapping[str, float | None], *, load: float,
             note: str = "") -> None:
        """Keep this run's figures of ``row`` (written by ``save``); non-numbers are left out."""
        kept = {k: round(n, 4) for k, v in figures.items() if (n := _number(v)) is not None}
        entry: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": _commit(), "load": round(load, 2), "figures": kept,
        }
        if note:
            entry["note"] = note
        self._kept[row] = entry

    def save(self) -> int:
        """Write the kept rows over their previous ones (other rows and benches stay);
        returns how many rows were written."""
        if not self._kept:
            return 0
        data: dict[str, Any] = {}
        if self.path.is_file():
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            data = loaded if isinstance(loaded, dict) else {}
        section = data.setdefault(self.bench, {})
        section.update(self._kept)
        self.rows.update(self._kept)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        written = len(self._kept)
        self._kept = {}
        return written
