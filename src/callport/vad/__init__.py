"""callport.vad: voice activity detection and turn-taking.

- ``base``: ``VadScore`` and the ``VadEngine`` / ``VadStream`` protocols.
- ``silero``: Silero ONNX, one shared single-threaded session, batched across calls.
- ``webrtc``: webrtcvad fallback (0/1 per 10-30 ms frame).
- ``batcher``: ``VadBatcher``, the asyncio front that coalesces concurrent calls.
- ``turn``: ``TurnDetector`` (hysteresis, min speech, end of turn, barge-in), pure.
"""

from callport.vad.base import VadEngine, VadScore, VadStream, VadUsageError
from callport.vad.turn import (
    BargeIn,
    SpeechDiscarded,
    SpeechStarted,
    TurnDetector,
    TurnEnded,
    TurnEvent,
)

__all__ = [
    "BargeIn",
    "SpeechDiscarded",
    "SpeechStarted",
    "TurnDetector",
    "TurnEnded",
    "TurnEvent",
    "VadEngine",
    "VadScore",
    "VadStream",
    "VadUsageError",
]
