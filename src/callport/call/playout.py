"""Playout: the agent's queued audio, its marks, and what the caller actually heard.

Pure bookkeeping, no I/O. Speech is queued as frames with a mark after every
``mark_every`` frames and at the end of each clause; when the leg reports marks back, the
tracker knows how much of each clause was played. After a barge-in, ``heard_text`` gives
the played clauses plus the leading words of a partly played clause, in proportion to the
frames played.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from callport.types import PCM16


@dataclass(frozen=True, slots=True, eq=False)
class FrameItem:
    pcm: PCM16


@dataclass(frozen=True, slots=True)
class MarkItem:
    name: str


PlayItem = FrameItem | MarkItem


@dataclass(slots=True)
class _Clause:
    text: str
    frames: int
    played_frames: int = 0
    done: bool = False


@dataclass(slots=True)
class _MarkInfo:
    clause: int
    frames_through: int  # frames of the clause covered once this mark is played


@dataclass(slots=True)
class Playout:
    """Queued agent audio (frames and marks), plus the heard-text ledger."""

    mark_every: int = 10  # one mark per 200 ms at 20 ms frames
    _items: deque[PlayItem] = field(default_factory=deque)
    _clauses: list[_Clause] = field(default_factory=list)
    _marks: dict[str, _MarkInfo] = field(default_factory=dict)
    _serial: int = 0
    queued_frames: int = 0

    def add_clause(self, text: str, frames: list[PCM16]) -> list[str]:
        """Queue one clause; returns the mark names placed for it."""
        index = len(self._clauses)
        self._clauses.append(_Clause(text=text, frames=len(frames)))
        names: list[str] = []
        for i, frame in enumerate(frames, start=1):
            self._items.append(FrameItem(frame))
            self.queued_frames += 1
            if i % self.mark_every == 0 or i == len(frames):
                self._serial += 1
                name = f"c{index}.{self._serial}"
                self._marks[name] = _MarkInfo(clause=index, frames_through=i)
                self._items.append(MarkItem(name))
                names.append(name)
        return names

    def add_frames(self, frames: list[PCM16]) -> None:
        """Queue raw audio (echo, hold music) with no text and no marks."""
        for frame in frames:
            self._items.append(FrameItem(frame))
            self.queued_frames += 1

    def pop(self) -> PlayItem | None:
        if not self._items:
            return None
        item = self._items.popleft()
        if isinstance(item, FrameItem):
            self.queued_frames -= 1
        return item

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> list[str]:
        """Drop everything queued; returns the marks that will never be played."""
        dropped = [item.name for item in self._items if isinstance(item, MarkItem)]
        self._items.clear()
        self.queued_frames = 0
        for name in dropped:
            self._marks.pop(name, None)
        return dropped

    def marked(self, name: str, played: bool) -> bool:
        """Record a mark coming back; returns True if it was ours."""
        info = self._marks.pop(name, None)
        if info is None:
            return False
        clause = self._clauses[info.clause]
        if played:
            clause.played_frames = max(clause.played_frames, info.frames_through)
            if info.frames_through >= clause.frames:
                clause.done = True
        return True

    @property
    def pending_marks(self) -> int:
        return len(self._marks)

    def heard_text(self) -> str:
        """Text the caller heard: whole clauses played, plus a played prefix of a partial one."""
        words: list[str] = []
        for clause in self._clauses:
            if clause.done:
                words.extend(clause.text.split())
            elif clause.played_frames > 0 and clause.frames > 0:
                parts = clause.text.split()
                keep = int(len(parts) * clause.played_frames / clause.frames)
                words.extend(parts[:keep])
                break
            else:
                break
        return " ".join(words)

    def full_text(self) -> str:
        return " ".join(c.text for c in self._clauses)

    def reset_ledger(self) -> None:
        """Start a new reply: forget clauses (marks still in flight are ignored)."""
        self._clauses.clear()
        self._marks.clear()
