"""Media taps: both directions of a call's audio, for recording, supervisors and metrics.

A tap sees caller audio as the leg delivered it (``Direction.IN``, ``media_at`` = the leg's
media time at the end of the frame) and outbound audio at the moment the pacer handed it to
the leg (``Direction.OUT``, ``media_at`` = seconds of audio sent so far, ``at`` = session
clock at send). Audio that was queued but dropped by a barge-in never reaches a tap, so an
outbound tap records what was actually sent, whatever its source (speech, hold music, a
file, a bridged party).

A tap must return quickly and must not raise (a failing tap is logged and removed).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Protocol

from callport.types import PCM16

log = logging.getLogger(__name__)


class Direction(enum.Enum):
    IN = "in"  # from the party on this leg
    OUT = "out"  # sent to the party on this leg


@dataclass(frozen=True, slots=True, eq=False)
class TapFrame:
    direction: Direction
    pcm: PCM16
    sample_rate: int
    at: float  # session clock when received / sent
    media_at: float
    source: str = ""  # OUT only: label of the source the frame came from


class MediaTap(Protocol):
    def on_frame(self, frame: TapFrame) -> None: ...


class TapList:
    """The taps of one direction set; ``emit`` drops a tap that raises."""

    def __init__(self) -> None:
        self._taps: list[MediaTap] = []
        self.active = False  # any tap: read once per frame, so a plain attribute

    def __bool__(self) -> bool:
        return self.active

    def __len__(self) -> int:
        return len(self._taps)

    def add(self, tap: MediaTap) -> None:
        self._taps.append(tap)
        self.active = True

    def remove(self, tap: MediaTap) -> None:
        if tap in self._taps:
            self._taps.remove(tap)
        self.active = bool(self._taps)

    def emit(self, frame: TapFrame) -> None:
        failed: list[MediaTap] = []
        for tap in self._taps:  # no copy per frame: a failing tap is removed afterwards
            try:
                tap.on_frame(frame)
            except Exception:
                log.exception("media tap failed; removed")
                failed.append(tap)
        for tap in failed:
            self.remove(tap)


class FrameCollector:
    """A tap that keeps every frame (tests, short recordings)."""

    def __init__(self) -> None:
        self.frames: list[TapFrame] = []

    def on_frame(self, frame: TapFrame) -> None:
        self.frames.append(frame)
