"""Answering-machine detection on an answered outbound call: the driver of
``callport.audio.amd`` and the policy (``routing.amd``).

``screen(call, policy=..., message=..., calls=...)`` taps the callee's audio (before anything
is said to them), runs WebRTC VAD and the detector on each frame, and acts on the verdict:

- ``hangup``: a machine is hung up on (cause ``machine``);
- ``leave-message``: for a machine, waits for the beep (or the greeting's end), says
  ``message`` and hangs up (cause ``message-left``);
- ``continue``: only detects and records;

a human or ``unknown`` always goes on to the flow. The result (``human``/``machine``/
``unknown``) is amended on the call record, with an ``amd`` event giving the reason.
Returns True when the flow should go on.

A provider's own AMD (Twilio ``AnsweredBy``, Telnyx machine detection) is recorded on the
provider's call by ``callport.channels.callbook``; this runs on the media callport holds.
"""

from __future__ import annotations

import asyncio
import logging

from callport.audio.amd import AmdDetector, AmdResult, AmdSettings, AmdVerdict
from callport.call.call import Call
from callport.call.taps import Direction, TapFrame
from callport.config_routing import RoutingSettings
from callport.store.calls import CallStore

__all__ = ["AmdTap", "routed_screen", "screen"]

log = logging.getLogger(__name__)


class AmdTap:
    """A ``MediaTap`` on the callee's audio: VAD + detector per frame; ``changed`` is set
    when the verdict or ``message_ready`` is reached."""

    def __init__(self, *, settings: AmdSettings) -> None:
        from callport.vad.webrtc import WebRtcVad

        self._settings = settings
        self._vad = WebRtcVad(aggressiveness=2, frame_ms=20)
        self._stream: object | None = None
        self.detector: AmdDetector | None = None
        self.changed = asyncio.Event()

    def on_frame(self, frame: TapFrame) -> None:
        if self.detector is None:
            self.detector = AmdDetector(sample_rate=frame.sample_rate, settings=self._settings)
            self._stream = self._vad.new_stream(frame.sample_rate)
        scores = self._vad.process(self._stream, frame.pcm)  # type: ignore[arg-type]
        speech = any(s.prob >= 0.5 for s in scores)
        before = (self.detector.verdict, self.detector.message_ready)
        self.detector.feed(frame.pcm, speech, frame.media_at)
        if (self.detector.verdict, self.detector.message_ready) != before:
            self.changed.set()


async def _until(call: Call, tap: AmdTap, ready: str, limit_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not call.ended and loop.time() < deadline:
        d = tap.detector
        if d is not None and (d.message_ready if ready == "message" else d.verdict):
            return
        tap.changed.clear()
        waiter = asyncio.ensure_future(tap.changed.wait())
        ended = asyncio.ensure_future(call.session.wait_ended())
        await asyncio.wait({waiter, ended}, timeout=max(deadline - loop.time(), 0.01),
                           return_when=asyncio.FIRST_COMPLETED)
        for task in (waiter, ended):
            task.cancel()


async def screen(call: Call, *, policy: str, message: str = "",
                 calls: CallStore | None = None,
                 settings: AmdSettings | None = None) -> bool:
    """Detect, record, apply ``policy``; True when the flow should go on."""
    settings = settings or AmdSettings()
    tap = AmdTap(settings=settings)
    call.session.add_tap(tap, Direction.IN)
    try:
        await _until(call, tap, "verdict", settings.total_s + settings.initial_silence_s + 2)
        d = tap.detector
        verdict = d.verdict if d is not None else None
        if verdict is None:
            verdict = AmdVerdict(result=AmdResult.UNKNOWN, reason="no audio", at=0.0)
        log.info("call %s: AMD %s (%s)", call.info.call_id, verdict.result.value,
                 verdict.reason)
        await _record(calls, call.info.call_id, verdict)
        if call.ended or verdict.result is not AmdResult.MACHINE or policy == "continue":
            return not call.ended
        if policy == "hangup":
            await call.hangup("machine")
            return False
        await _until(call, tap, "message", settings.beep_timeout_s + 1)
        if call.ended:
            return False
        beep = d.beep_at if d is not None else None
        if calls is not None:
            await _event(calls, call.info.call_id, "amd-message",
                         f"after the beep at {beep:.2f} s" if beep is not None
                         else "no beep: after the greeting")
        await call.say(message, interruptible=False)
        await call.hangup("message-left")
        return False
    finally:
        call.session.remove_tap(tap, Direction.IN)


async def routed_screen(call: Call, routing: RoutingSettings, *,
                        calls: CallStore | None) -> bool:
    """``screen`` with the ``[routing]`` AMD settings (``amd``, ``amd_message``, ...)."""
    return await screen(call, policy=routing.amd, message=routing.amd_message, calls=calls,
                        settings=AmdSettings(beep_timeout_s=routing.amd_beep_timeout_s))


async def _record(calls: CallStore | None, call_id: str, verdict: AmdVerdict) -> None:
    if calls is None:
        return
    try:
        await calls.amend(call_id, amd=verdict.result.value)
    except Exception:
        log.exception("call %s: could not record the AMD result", call_id)
    await _event(calls, call_id, "amd", f"{verdict.result.value}: {verdict.reason}")


async def _event(calls: CallStore, call_id: str, kind: str, detail: str) -> None:
    try:
        await calls.add_event(call_id, kind, detail)
    except Exception:
        log.exception("call %s: could not record the %s event", call_id, kind)
