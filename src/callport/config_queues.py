"""Settings for queues: ``[queues]`` (defaults for every queue) and ``[queues.NAME]`` (one
queue each, overriding the defaults), read from the TOML file (the defaults also from
``CALLPORT_QUEUES_*``). See docs/configuration.md, "Queues".

``[queues.support]`` with ``strategy = "longest-idle"`` becomes a ``QueueSettings`` named
``support`` in ``settings.queues.named``; ``settings.queues.get("support")`` finds it.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STRATEGIES = ("longest-idle", "round-robin", "ring-all", "fewest-calls")
ON_MAX_WAIT = ("leave", "keys", "voicemail", "callback")
KEY_ACTIONS = ("voicemail", "callback", "leave")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueDefaults:
    """What every queue has; ``[queues]`` sets the defaults, ``[queues.NAME]`` overrides."""

    strategy: str = "longest-idle"  # longest-idle | round-robin | ring-all | fewest-calls
    ring_timeout_s: float = 15.0  # how long one agent rings before the next is tried
    wrap_up_s: float = 10.0  # after a call, an agent rests this long before the next
    max_wait_s: float = 600.0  # then on_max_wait happens; 0: wait for ever
    announce_every_s: float = 60.0  # position / expected wait said this often; 0: never
    hold_music: str = "builtin"  # "builtin" (callport's own loop) or a WAV/OGG/MP3 path
    on_max_wait: str = "keys"  # leave | keys | voicemail | callback
    keys: tuple[str, ...] = ("1=voicemail", "2=callback")  # DIGIT=voicemail|callback|leave
    expected_handle_s: float = 180.0  # assumed handle time until calls were handled
    choose_s: float = 10.0  # after the max-wait keys prompt, how long to wait for a key

    def key_actions(self) -> dict[str, str]:
        """``keys`` as digit -> action (the entries ``problems`` accepts)."""
        out = {}
        for entry in self.keys:
            digit, _, action = entry.partition("=")
            out[digit.strip()] = action.strip()
        return out

    def problems(self, key: str = "queues") -> list[str]:
        out = []
        if self.strategy not in STRATEGIES:
            out.append(f"{key}.strategy={self.strategy!r}: use one of {', '.join(STRATEGIES)}")
        if self.on_max_wait not in ON_MAX_WAIT:
            out.append(f"{key}.on_max_wait={self.on_max_wait!r}: use one of "
                       f"{', '.join(ON_MAX_WAIT)}")
        for entry in self.keys:
            digit, sep, action = entry.partition("=")
            digit, action = digit.strip(), action.strip()
            if not sep or len(digit) != 1 or digit not in "0123456789*#" \
                    or action not in KEY_ACTIONS:
                out.append(f"{key}.keys: {entry!r}: use DIGIT=voicemail, DIGIT=callback or "
                           "DIGIT=leave")
        if not self.hold_music:
            out.append(f"{key}.hold_music: use builtin or an audio file's path")
        elif self.hold_music != "builtin" and not Path(self.hold_music).is_file():
            out.append(f"{key}.hold_music={self.hold_music!r}: no such file (a WAV, OGG or "
                       "MP3 file, or builtin)")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSettings(QueueDefaults):
    """``[queues.NAME]``: one queue."""

    name: str

    def problems(self, key: str = "") -> list[str]:
        key = key or f"queues.{self.name}"
        out = QueueDefaults.problems(self, key)
        if not self.name.replace("-", "").replace("_", "").isalnum():
            out.append(f"{key}: queue names use letters, digits, - and _")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuesSettings(QueueDefaults):
    """``[queues]``: the defaults, and ``named``: the ``[queues.NAME]`` tables."""

    named: tuple[QueueSettings, ...] = ()

    def get(self, name: str) -> QueueSettings | None:
        return next((q for q in self.named if q.name == name), None)

    def problems(self, key: str = "queues") -> list[str]:
        return QueueDefaults.problems(self, key)


def split_tables(section: dict[str, Any]) -> dict[str, Any]:
    """Take the ``[queues.NAME]`` tables (dict values) out of the ``[queues]`` table."""
    return {k: section.pop(k) for k in [k for k, v in section.items() if isinstance(v, dict)]}


Convert = Callable[[Any, Any, str, list[str]], Any]
RangeCheck = Callable[[str, Any, dict[str, str], list[str]], list[str]]


def with_tables(defaults: QueuesSettings, tables: dict[str, Any], *, convert: Convert,
                ranges: RangeCheck, problems: list[str]) -> QueuesSettings:
    """``defaults`` with its ``named`` queues built from ``tables`` (each starts from the
    defaults); every problem (unknown keys, ranges, the queue's own checks) goes to
    ``problems`` under the key the user wrote."""
    hints = typing.get_type_hints(QueueSettings)
    base = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(QueueDefaults)}
    named = []
    for name, table in tables.items():
        where = f"queues.{name}"
        values: dict[str, Any] = dict(base, name=str(name))
        sources: dict[str, str] = {}
        for f in dataclasses.fields(QueueDefaults):
            if f.name in table:
                sources[f.name] = f"{where}.{f.name}"
                got = convert(table.pop(f.name), hints[f.name], sources[f.name], problems)
                if got is not None:
                    values[f.name] = got
        problems.extend(f"{where}.{unknown}: unknown setting" for unknown in table)
        entry = QueueSettings(**values)
        problems.extend(ranges("queues", entry, sources, entry.problems()))
        named.append(entry)
    return dataclasses.replace(defaults, named=tuple(named))
