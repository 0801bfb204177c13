"""Playout: the queued audio, its marks, and what the caller actually heard.

Pure bookkeeping, no I/O. Everything queued is a *segment* of the ledger: a spoken clause
(text), raw frames, or a source (hold music, a file, a bridged party, pulled a frame at a
time by the pacer). Every segment carries a mark after every ``mark_every`` frames and at its
end; when the leg reports marks back, the ledger knows how much of each segment was played.
After a barge-in, ``heard_text`` gives the played clauses plus the leading words of a partly
played clause, in proportion to the frames played; ``heard()`` gives seconds heard of every
segment, whatever its audio was.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from callport.audio.frame import Reframer
from callport.audio.resample import resample
from callport.types import PCM16

if TYPE_CHECKING:  # a Protocol only: the playout stays pure (sources.LiveSource uses asyncio)
    import asyncio
    from collections.abc import Callable

    from callport.call.sources import AudioSource


@dataclass(slots=True, eq=False)  # not frozen: one is made per frame sent, and frozen costs
class FrameItem:
    pcm: PCM16
    label: str = ""
    endless: bool = False  # pulled from an endless source (hold music)
    live: bool = False  # pulled from a live source (it comes in real time by itself)


@dataclass(frozen=True, slots=True)
class MarkItem:
    name: str


@dataclass(slots=True, eq=False)
class Starved:
    """The head is a live source with nothing to give yet: await ``source.ready()``, or
    hand ``notify`` (the source's ``notify_ready``, where it has one) an event to set."""

    source: AudioSource
    notify: Callable[[asyncio.Event], None] | None = None


PlayItem = FrameItem | MarkItem


@dataclass(slots=True)
class _Clause:
    text: str
    frames: int
    label: str = "speech"
    played_frames: int = 0
    done: bool = False
    interruptible: bool = True


@dataclass(slots=True, eq=False)
class _SourceItem:
    source: AudioSource
    clause: int
    pulled: int = 0
    endless: bool = False  # source.endless, read once
    live: bool = False  # the source's ``live`` attribute (``LiveSource``), read once
    starved: Starved | None = None  # made once: a live source starves at every frame


@dataclass(frozen=True, slots=True)
class HeardSegment:
    """One segment of the ledger: ``label`` (text for speech), frames played of ``frames``
    queued (``frames`` grows while a source is still playing)."""

    label: str
    text: str
    frames: int
    played_frames: int
    done: bool


@dataclass(slots=True)
class _MarkInfo:
    clause: int
    frames_through: int  # frames of the clause covered once this mark is played
    final: bool = False


@dataclass(slots=True)
class Playout:
    """Queued audio (frames, marks, sources), plus the heard ledger."""

    mark_every: int = 10  # one mark per 200 ms at 20 ms frames
    _items: deque[FrameItem | MarkItem | _SourceItem] = field(default_factory=deque)
    _clauses: list[_Clause] = field(default_factory=list)
    _marks: dict[str, _MarkInfo] = field(default_factory=dict)
    _serial: int = 0
    _soft_items: int = 0  # queued items a barge-in cuts (not of a fixed source)
    _soft_marks: int = 0  # marks in flight of such segments
    queued_frames: int = 0

    def _mark(self, index: int, through: int, *, final: bool) -> MarkItem:
        self._serial += 1
        name = f"c{index}.{self._serial}"
        self._marks[name] = _MarkInfo(clause=index, frames_through=through, final=final)
        if self._clauses[index].interruptible:
            self._soft_marks += 1
        return MarkItem(name)

    def _push(self, item: FrameItem | MarkItem | _SourceItem, soft: bool) -> None:
        self._items.append(item)
        if soft:
            self._soft_items += 1

    def _soft(self, item: FrameItem | MarkItem | _SourceItem) -> bool:
        if isinstance(item, _SourceItem):
            return self._clauses[item.clause].interruptible
        if isinstance(item, MarkItem):
            info = self._marks.get(item.name)
            return info is None or self._clauses[info.clause].interruptible
        return True

    def _frames(self, text: str, label: str, frames: list[PCM16]) -> list[str]:
        index = len(self._clauses)
        self._clauses.append(_Clause(text=text, frames=len(frames), label=label))
        names: list[str] = []
        for i, frame in enumerate(frames, start=1):
            self._push(FrameItem(frame, label), True)
            self.queued_frames += 1
            if i % self.mark_every == 0 or i == len(frames):
                mark = self._mark(index, i, final=i == len(frames))
                self._push(mark, True)
                names.append(mark.name)
        return names

    def add_clause(self, text: str, frames: list[PCM16]) -> list[str]:
        """Queue one spoken clause; returns the mark names placed for it."""
        return self._frames(text, "speech", frames)

    def add_frames(self, frames: list[PCM16], *, label: str = "audio") -> list[str]:
        """Queue raw audio (no text), with marks like a clause."""
        return self._frames("", label, frames)

    def add_source(self, source: AudioSource, *, interruptible: bool = True) -> None:
        """Queue an (opened) source; frames are pulled from it when it reaches the head."""
        index = len(self._clauses)
        self._clauses.append(_Clause(text="", frames=0, label=source.label,
                                     interruptible=interruptible))
        self._push(_SourceItem(source, index, endless=source.endless,
                               live=bool(getattr(source, "live", False))), interruptible)

    def pop(self, samples: int = 0) -> PlayItem | Starved | None:
        """Next thing to do; ``samples`` is the frame size sources are read in."""
        while self._items:
            head = self._items[0]
            if not isinstance(head, _SourceItem):
                if self._soft(head):
                    self._soft_items -= 1
                self._items.popleft()
                if isinstance(head, FrameItem):
                    self.queued_frames -= 1
                return head
            frame = head.source.read(samples)
            clause = self._clauses[head.clause]
            if frame is None:  # finished: the end mark says when it was all heard
                self._items.popleft()
                if clause.interruptible:
                    self._soft_items -= 1
                clause.frames = head.pulled
                if head.pulled == 0:
                    clause.done = True
                    continue
                return self._mark(head.clause, head.pulled, final=True)
            if len(frame) == 0:
                if head.starved is None:
                    head.starved = Starved(head.source, getattr(head.source, "notify_ready", None))
                return head.starved
            head.pulled += 1
            clause.frames = head.pulled
            if head.pulled % self.mark_every == 0:  # sent right after this frame
                self._items.appendleft(self._mark(head.clause, head.pulled, final=False))
                if clause.interruptible:
                    self._soft_items += 1
            return FrameItem(frame, clause.label, head.endless, head.live)
        return None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def endless(self) -> bool:
        """True while an endless source (hold music) is queued: nothing after it would play."""
        return any(isinstance(i, _SourceItem) and i.source.endless for i in self._items)

    @property
    def head_endless(self) -> bool:
        head = self._items[0] if self._items else None
        return isinstance(head, _SourceItem) and head.source.endless

    @property
    def interruptible(self) -> bool:
        """True while something a barge-in may cut is queued or not yet confirmed played."""
        return self._soft_items > 0 or self._soft_marks > 0

    def clear(self, *, keep_fixed: bool = False) -> list[str]:
        """Drop what is queued (all, or all but the sources a barge-in leaves playing);
        returns the marks that will never be played."""
        kept: deque[FrameItem | MarkItem | _SourceItem] = deque()
        dropped: list[str] = []
        for item in self._items:
            if keep_fixed and not self._soft(item):
                kept.append(item)
            elif isinstance(item, MarkItem):
                dropped.append(item.name)
        self._items = kept
        self._soft_items = 0
        self.queued_frames = sum(1 for i in kept if isinstance(i, FrameItem))
        for name in dropped:
            self._forget(name)
        return dropped

    def _forget(self, name: str) -> _MarkInfo | None:
        info = self._marks.pop(name, None)
        if info is not None and self._clauses[info.clause].interruptible:
            self._soft_marks -= 1
        return info

    def marked(self, name: str, played: bool) -> bool:
        """Record a mark coming back; returns True if it was ours."""
        info = self._forget(name)
        if info is None:
            return False
        clause = self._clauses[info.clause]
        if played:
            clause.played_frames = max(clause.played_frames, info.frames_through)
            if info.final:
                clause.done = True
        return True

    @property
    def pending_marks(self) -> int:
        return len(self._marks)

    def heard_text(self) -> str:
        """Text the caller heard: whole clauses played, plus a played prefix of a partial one."""
        words: list[str] = []
        for clause in self._clauses:
            if not clause.text:
                continue
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

    def heard(self) -> list[HeardSegment]:
        """Every segment since the ledger was reset: how much of it the caller heard."""
        return [HeardSegment(c.label, c.text, c.frames, c.played_frames, c.done)
                for c in self._clauses]

    def full_text(self) -> str:
        return " ".join(c.text for c in self._clauses if c.text)

    def reset_ledger(self) -> None:
        """Start a new reply: forget segments (marks still in flight are ignored); sources
        still queued keep their segments."""
        if self._items:
            return  # a source (or audio) is still playing: its marks must keep their meaning
        self._clauses.clear()
        self._marks.clear()
        self._soft_marks = 0


def to_frames(pcm: PCM16, sample_rate: int, leg_rate: int, frame: int) -> list[PCM16]:
    """``pcm`` at the leg's rate in whole frames (the last one zero-padded)."""
    if sample_rate == leg_rate and len(pcm) == frame:
        return [pcm]  # the pass-through fast path: already one frame
    if sample_rate != leg_rate:
        pcm = resample(pcm, sample_rate, leg_rate)
    framer = Reframer(frame_samples=frame)
    frames = framer.push(pcm)
    last = framer.flush(pad=True)
    if last is not None:
        frames.append(last)
    return frames
