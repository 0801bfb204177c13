"""``callport talk``: a whole conversation from WAV files through the real CallSession.

Each WAV file is the caller's next turn. The audio goes through the same leg -> VAD ->
turn detector -> STT -> agent -> TTS -> pacer path as a live call (``phone=True`` adds the
8 kHz mu-law round trip of a PSTN call both ways), and each turn reports what was heard,
understood and answered, with a timing breakdown.

Who is talking: ``caller="+E164"`` sets the caller ID, so the call goes through the
identification gate like a phone call from that number (a PIN, when the user has one, is a
WAV file of spoken digits, or of DTMF tones with ``phone=True``: end the tones with ``#``).
Without a caller the conversation acts as the owner (``identity.owner``, created on first
run), as on a personal line.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from callport.agents.base import CallInfo
from callport.audio.decode import read_audio
from callport.call.call import Call, TurnRecord
from callport.call.events import PCM16
from callport.call.memory import MemoryLeg
from callport.flows.gate import HANGUP_UNKNOWN
from callport.server.runtime import Runtime
from callport.store.owner import ensure_owner
from callport.store.users import UserError
from callport.types import User

TRAILING_SILENCE_S = 1.0  # after each file: lets the end-of-turn timer run out


class TalkError(RuntimeError):
    """The conversation could not go on (no reply in time, the call ended early)."""


@dataclass(slots=True)
class TalkTurn:
    source: str
    record: TurnRecord | None  # None: no speech heard, or a secret turn (a PIN)
    reply_pcm: PCM16
    reply_start_s: float  # where this reply starts and ends in ``TalkResult.output``
    reply_end_s: float
    secret: bool = False  # the turn answered the PIN prompt (what it said is not kept)


@dataclass(slots=True)
class TalkResult:
    call_id: str
    sample_rate: int
    greeting_pcm: PCM16
    turns: list[TalkTurn] = field(default_factory=list)
    output: PCM16 = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    user: str | None = None  # who the call acted as (None: the caller was turned away)
    hangup_reason: str = ""


async def run_talk(
    runtime: Runtime,
    inputs: Sequence[Path | tuple[PCM16, int]],
    *,
    phone: bool = False,
    realtime: bool = False,
    turn_timeout_s: float = 60.0,
    caller: str | None = None,
    sources: Sequence[str] = (),
) -> TalkResult:
    """Play each input as one caller turn and collect the agent's replies.

    ``realtime`` paces caller audio and agent playout at 1x, as on a live call (so early STT
    during the caller's pause shows in the latency); otherwise audio runs as fast as it can.
    ``caller`` is the caller ID the identification gate sees; None acts as the owner.
    ``sources`` names the decoded inputs in the report (file names), in order.
    """
    call_id = "talk-" + uuid.uuid4().hex[:8]
    user: User | None = None
    if caller is None:
        try:
            user, _ = await ensure_owner(runtime.users, name=runtime.settings.identity.owner)
        except UserError as exc:
            raise TalkError(str(exc)) from None
    leg = MemoryLeg(
        call_id=call_id,
        sample_rate=8000 if phone else 16000,
        codec="ulaw" if phone else "pcm",
        realtime=realtime,
    )
    holder: list[Call] = []
    info = CallInfo(call_id=call_id, channel="memory-phone" if phone else "memory",
                    caller=caller or "", user=user)  # fmt: skip
    task = asyncio.create_task(
        runtime.run_call(leg, info, on_call=holder.append, inband_dtmf=phone)
    )
    try:
        while not holder:
            await asyncio.sleep(0)
        call = holder[0]
        try:
            await _until_listening(call, task, turn_timeout_s)
        except TalkError:
            if leg.hung_up_reason == HANGUP_UNKNOWN:
                raise TalkError(f"caller {caller!r} is not a known user's number and "
                                "identity.unknown is reject") from None  # fmt: skip
            raise
        result = TalkResult(call_id=call_id, sample_rate=leg.sample_rate, greeting_pcm=leg.output())
        for n, item in enumerate(inputs):
            if isinstance(item, Path):
                pcm, rate = read_audio(item)
                source = str(item)
            else:
                pcm, rate = item
                source = sources[n] if n < len(sources) else "<array>"
            before_frames, before_turns = len(leg.sent), len(call.turns)
            before_secret = call.secret_turns
            await leg.speak(pcm, rate, trailing_silence_s=TRAILING_SILENCE_S)
            await _until_reply(call, task, leg, turn_timeout_s)
            record = call.turns[-1] if len(call.turns) > before_turns else None
            sent = leg.sent[before_frames:]
            reply = np.concatenate(sent) if sent else np.zeros(0, dtype=np.int16)
            frame_s = leg.frame_ms / 1000.0
            result.turns.append(
                TalkTurn(
                    source=source,
                    record=record,
                    reply_pcm=reply,
                    reply_start_s=before_frames * frame_s,
                    reply_end_s=len(leg.sent) * frame_s,
                    secret=call.secret_turns > before_secret,
                )
            )
            if call.ended:
                break
        leg.caller_hangup()
        await task
        result.output = leg.output()
        result.user = call.info.user.name if call.info.user is not None else None
        result.hangup_reason = call.session.hangup_reason
        return result
    finally:
        if not task.done():
            task.cancel()


async def _until_listening(call: Call, task: asyncio.Task[Call], timeout: float) -> None:
    waiter = asyncio.create_task(call.listening.wait())
    done, _ = await asyncio.wait(
        {waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
    )
    waiter.cancel()
    if task in done:
        raise TalkError("the call ended before the agent started listening")
    if not done:
        raise TalkError(f"the agent did not finish its greeting within {timeout:.0f} s")


async def _until_reply(
    call: Call, task: asyncio.Task[Call], leg: MemoryLeg, timeout: float
) -> None:
    """Wait until every caller turn the audio produced has been answered (or none was heard)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    settled = 0
    while loop.time() < deadline:
        if task.done() or call.ended:
            return
        drained = leg.pending_events == 0
        answered = call.turns_handled >= call.session.turns_produced and call.listening.is_set()
        settled = settled + 1 if drained and answered else 0
        if settled >= 3:  # three quiet polls: the reader has scored the last frame too
            return
        await asyncio.sleep(0.01)
    raise TalkError(f"no reply within {timeout:.0f} s")
