"""Take a message: the caller speaks after the tone; the audio and its transcript are stored.

``take_message(call, store=..., for_user=..., menu=...)`` is what the IVR's ``voicemail``
action and the ``voicemail`` fallback (``server.fallback``, when an agent fails) both run:
"leave your message after the tone", a tone, then the caller's audio (an inbound tap) until
pound, a long pause, ``MAX_S`` or a hang-up; the ``Voicemail`` (caller, time, menu, for whom,
transcript, 16-bit PCM) goes into the ``VoicemailStore``, and the caller hears it was saved.
``new_messages_notice`` is what the user a message was left for hears when they call.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import numpy as np

from callport.audio.tones import tone
from callport.call.call import Call
from callport.call.results import Heard, HungUp, Pressed, Timeout
from callport.call.taps import Direction, TapFrame
from callport.store.voicemail import Voicemail, VoicemailStore

log = logging.getLogger(__name__)

AFTER_TONE = "Please leave your message after the tone. Press pound when you are done."
SAVED = "Thank you, your message has been saved. Goodbye."
MAX_S = 120.0
SILENCE_S = 4.0  # a pause this long ends the message


class _Recorder:
    """An inbound tap that keeps the caller's audio."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray[Any, np.dtype[np.int16]]] = []
        self.sample_rate = 0

    def on_frame(self, frame: TapFrame) -> None:
        self.sample_rate = frame.sample_rate
        self.frames.append(frame.pcm)


async def take_message(call: Call, *, store: VoicemailStore, for_user: str, menu: str = "",
                       at: datetime | None = None, reason: str = "voicemail"
                       ) -> Voicemail | None:  # fmt: skip
    """Record and store a message for ``for_user``; the call then ends with ``reason``.
    None when the caller hung up before the tone."""
    await call.say(AFTER_TONE)
    if call.ended:
        return None
    rate = call.session.leg.sample_rate
    await call.play(tone(1000.0, sample_rate=rate, duration_ms=400.0), rate,
                    interruptible=False)
    recorder = _Recorder()
    call.session.add_tap(recorder, Direction.IN)
    words: list[str] = []
    try:
        for _ in range(int(MAX_S / SILENCE_S)):
            answer = await call.listen(timeout=SILENCE_S)
            match answer:
                case Heard(text=text):
                    words.append(text)
                case Pressed(digits="#") | Timeout() | HungUp():
                    break
                case _:
                    pass
    finally:
        if not call.ended:
            call.session.remove_tap(recorder, Direction.IN)
    audio = (np.concatenate(recorder.frames) if recorder.frames
             else np.zeros(0, dtype=np.int16))
    message = await store.add(Voicemail(
        call_id=call.info.call_id, caller=call.info.caller, for_user=for_user, menu=menu,
        at=at or datetime.now().astimezone(), transcript=" ".join(words),
        audio=audio.astype("<i2").tobytes(), sample_rate=recorder.sample_rate or rate))  # fmt: skip
    log.info("call %s: voicemail %d for %s (%.1f s)", call.info.call_id, message.id,
             for_user, message.seconds)
    if not call.ended:
        await call.say(SAVED, interruptible=False)
    if not call.ended:
        await call.hangup(reason)
    return message


async def new_messages_notice(store: VoicemailStore, user: str) -> str:
    """What a user hears first when messages they have not heard wait for them ("You have 2
    new voicemails..."); empty when none."""
    count = sum(not m.heard for m in await store.list(for_user=user))
    if not count:
        return ""
    what = "a new voicemail" if count == 1 else f"{count} new voicemails"
    return f"You have {what}; you can listen on your callport page."
