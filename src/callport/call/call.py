"""Call: the primitives a Flow is written with.

A flow is plain async Python over one call::

    async def my_flow(call: Call) -> None:
        await call.say("Hello! I'm an automated assistant.")
        await call.connect(call.new_agent())

``say`` speaks text (clause by clause), ``listen`` returns the caller's next turn as an
explicit result (``Heard``, ``Pressed``, ``Timeout``, ``HungUp``: ``callport.call.results``),
``connect`` runs a conversation with an agent (with barge-in) until someone hangs up, ``play``
sends audio (raw PCM or any ``AudioSource``: a file, a bridged party), ``hold``/``unhold`` play
hold music until stopped, ``put_on_hold``/``take_off_hold`` also hold the line (the leg stops
delivering the caller; SIP: a re-INVITE ``a=sendonly``), ``transfer``/``hangup`` end the call's
time with us. A leg that cannot transfer answers ``Refused`` (``callport.call.controls``) and
the call goes on; in ``connect`` the caller then hears an apology and the agent gets
``ActionRefused``. IVR, queue and recording work adds primitives here rather than replacing the
session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import numpy as np

from callport.call import converse
from callport.call.agent import Agent, AgentFactory, AgentInput, AudioAgent
from callport.call.controls import Accepted, Capability, ControlResult, Refusal, Refused
from callport.call.dial import DialCause
from callport.call.early import EarlyStt
from callport.call.notes import (
    AgentState,
    AgentText,
    CallerPartial,
    CallerTranscript,
    ReplyHeard,
)
from callport.call.queueing import Enqueuer, QueueOutcome, QueueUnavailable
from callport.call.records import APOLOGIES as APOLOGIES
from callport.call.records import APOLOGY as APOLOGY
from callport.call.records import RecordingControl
from callport.call.records import SayResult as SayResult
from callport.call.records import TurnListener as TurnListener
from callport.call.records import TurnRecord as TurnRecord
from callport.call.results import Heard, HungUp, ListenResult, Pressed, Timeout
from callport.call.session import CallerDigit, CallSession, PauseReady, Utterance
from callport.call.sources import AudioSource, ClipSource, HoldMusic
from callport.call.transfers import TransferOutcome, Transferrer, TransferResult
from callport.speech.base import STT, TTS
from callport.types import PCM16, CallInfo

if TYPE_CHECKING:
    from callport.call.gather import GatherResult

log = logging.getLogger(__name__)


class Call:
    """What a flow sees of one call."""

    def __init__(
        self,
        *,
        session: CallSession,
        info: CallInfo,
        stt: STT,
        tts: TTS,
        agent_factory: AgentFactory,
        clock: Callable[[], float],
    ) -> None:
        self.session = session
        self.info = info
        self._stt = stt
        self._tts = tts
        self._agent_factory = agent_factory
        self._clock = clock
        self.turns: list[TurnRecord] = []
        self.turn_listeners: list[TurnListener] = []
        self.turns_handled = 0  # caller turns taken from the session, heard or not
        self.secret_turns = 0  # of those, answers to a secret prompt (a PIN): not in turns
        self.listening = asyncio.Event()  # set while waiting for the caller's next turn
        # Phrases the caller is likely to say next, handed to STT as hints. A flow may set
        # them (menu options); ``connect`` refreshes them from an agent with a vocabulary.
        self.hints: tuple[str, ...] = ()
        # When the caller's last turn was detected (wall clock) and how long its end took to
        # detect: the turn latency ``converse`` measures to the reply's first audio.
        self.turn_started_wall = 0.0
        self.endpoint_s = 0.0
        self._early = EarlyStt(stt=stt)
        self._secret = False  # listening for a secret answer (a PIN): no live captions
        self._sensitive = False  # in a sensitive gather: every turn is secret, unrecorded
        self.recording: RecordingControl | None = None  # set while callport.recording records
        self.queues: Enqueuer | None = None  # callport.queues' service, set by the runtime
        self.transfers: Transferrer | None = None  # callport.flows.transfer, set by the runtime

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @property
    def ended(self) -> bool:
        return self.session.ended

    def new_agent(self) -> Agent:
        return self._agent_factory(self.info)

    # ---- speaking --------------------------------------------------------------------

    async def say(self, text: str, *, interruptible: bool = True) -> SayResult:
        """Speak ``text``; returns when it has played or the caller barged in."""
        if self.session.holding:  # hold music never ends: speaking stops it
            await self.session.stop_audio()
        self.session.new_reply()
        self.session.set_barge_in(interruptible)
        try:
            await self.speak(text, record=None)
            played = await self.session.wait_played()
            if not played and not self.ended:
                await self.session.wait_heard()  # the far end's answers for the cut audio
        finally:
            self.session.set_barge_in(True)
        heard = self.session.heard_text()
        if not played and not self.ended:
            self.session.notify(ReplyHeard(self.session.reply_serial, heard, interrupted=True))
        return SayResult(heard=heard, interrupted=not played)

    async def speak(self, text: str, record: TurnRecord | None) -> None:
        """Synthesize ``text`` clause by clause into the playout (no wait for it to play);
        ``record`` gets the synthesis latency of the first clause."""
        self.session.notify(AgentText(text, reply=self.session.reply_serial))
        self.session.set_state(AgentState("speaking"))
        started = self._clock()
        first = True
        async for chunk in self._tts.synthesize(text):
            if record is not None and first:
                record.tts_ms = (self._clock() - started) * 1000.0
            first = False
            if self.session.interrupted or self.ended:
                return
            self.session.enqueue_clause(chunk.text, chunk.pcm, chunk.sample_rate)

    async def play(
        self, audio: AudioSource | PCM16, sample_rate: int = 0, *, interruptible: bool = True
    ) -> bool:
        """Play raw audio (``pcm`` at ``sample_rate``) or a source until it ends or the caller
        barges in; True if it played to the end. ``session.heard()`` says how much was heard."""
        source = (ClipSource(pcm=audio, sample_rate=sample_rate, label="audio")
                  if isinstance(audio, np.ndarray) else audio)
        if self.session.holding:  # hold music never ends: playing something else stops it
            await self.session.stop_audio()
        self.session.new_reply()
        self.session.play(source, interruptible=interruptible)
        return await self.session.wait_played()

    def hold(self, music: AudioSource | None = None) -> None:
        """Hold music (the built-in loop by default) until ``unhold``, ``say`` or ``play``;
        the caller speaking or pressing a key stops it (``listen`` returns that)."""
        self.session.new_reply()
        self.session.play(music if music is not None else HoldMusic())

    async def unhold(self) -> None:
        await self.session.stop_audio()

    async def put_on_hold(self, music: AudioSource | None = None) -> ControlResult:
        """Hold the caller's line: the music starts at once (never silence), then the leg is
        told (SIP: a re-INVITE ``a=sendonly``; other legs stop delivering the caller's audio),
        so the caller's voice neither reaches a turn nor stops the music. ``Refused`` when the
        leg cannot or the peer said no: the music plays on (a callport-side hold, which the
        caller speaking ends, as with ``hold``)."""
        self.hold(music)
        leg = self.session.leg
        if Capability.HOLD not in leg.capabilities:
            return Refused(Capability.HOLD, Refusal.UNSUPPORTED,
                           f"a {self.info.channel} leg has no hold")
        result = await leg.hold()
        if isinstance(result, Refused):
            log.info("call %s: hold refused (%s: %s)", self.info.call_id,
                     result.refusal.value, result.detail)
        return result

    async def take_off_hold(self) -> ControlResult:
        """The line back from ``put_on_hold``: the leg first (SIP: a re-INVITE ``a=sendrecv``),
        then the music stops, so the caller hears music right up to the moment the line is
        live again (seamless, no gap of silence)."""
        leg = self.session.leg
        result: ControlResult = Accepted()
        if Capability.HOLD in leg.capabilities:
            result = await leg.resume()
        await self.unhold()
        return result

    # ---- listening -------------------------------------------------------------------

    def _early_stt(self, utterance: Utterance) -> None:
        """The caller paused: start STT now; if the pause becomes the end of turn, use it."""
        self._early.start(utterance, self.hints, None if self._secret else self._show_partial)

    def _show_partial(self, text: str) -> None:  # the words so far: a live caption for the page
        if not (self._secret or self.ended):
            self.session.notify(CallerPartial(text))

    async def listen(
        self, *, timeout: float | None = None, secret: bool = False
    ) -> ListenResult:
        """The caller's next turn: ``Heard``, ``Pressed``, ``Timeout`` or ``HungUp``.

        Speech that transcribes to nothing is skipped (the wait goes on, the timeout starts
        again). A ``secret`` turn (a PIN) is neither logged, shown (``CallerTranscript``) nor
        kept in ``turns``; ``secret_turns`` counts them.
        """
        self._secret = secret = secret or self._sensitive
        while True:
            self.listening.set()
            try:
                turn = await self.session.next_turn(timeout)
                while isinstance(turn, PauseReady):
                    self._early_stt(turn.utterance)
                    turn = await self.session.next_turn(timeout)
            finally:
                self.listening.clear()
            if isinstance(turn, Timeout | HungUp):
                self._early.drop()
                return turn
            self.turns_handled += 1
            record = TurnRecord(index=len(self.turns) + 1)
            event = await self._understand(turn, record, secret=secret)
            if event is not None:
                if secret:
                    self.secret_turns += 1
                else:
                    self.turns.append(record)
                return event

    async def _understand(
        self, turn: Utterance | CallerDigit, record: TurnRecord, *, secret: bool = False
    ) -> Heard | Pressed | None:
        match turn:
            case CallerDigit(digit=digit):
                self.turn_started_wall = self._clock()
                self.endpoint_s = 0.0
                record.digits = digit
                return Pressed(digit)
            case Utterance():
                self.session.set_state(AgentState("thinking"))
                record.endpoint_ms = turn.endpoint_delay * 1000.0
                result, record.stt_early = await self._early.transcribe(turn, self.hints)
                record.stt_ms = result.seconds * 1000.0
                record.stt_confidence = result.confidence
                self.session.metrics.stt_seconds.observe(result.seconds)
                text = result.text.strip()
                self.turn_started_wall = turn.detected_wall
                self.endpoint_s = turn.endpoint_delay
                if not text:
                    self.session.set_state(AgentState("listening"))
                    return None
                record.transcript = text
                if secret:
                    log.info("call %s: caller answered a secret prompt", self.info.call_id)
                else:
                    self.session.notify(CallerTranscript(text))
                    log.debug("call %s: caller said %r", self.info.call_id, text)  # DEBUG: private
                return Heard(text, confidence=result.confidence, started_at=turn.started_at,
                             ended_at=turn.ended_at)
        return None

    async def gather(self, prompt: str | AudioSource, **options: Any) -> GatherResult:
        """One menu question with its reprompt ladder (``callport.call.gather.gather``)."""
        from callport.call.gather import gather

        if not options.pop("sensitive", False):  # sensitive: digits neither kept nor recorded
            return await gather(self, prompt, **options)
        self._sensitive, paused = True, self.pause_recording()
        try:
            return await gather(self, prompt, **options)
        finally:
            self._sensitive = False
            if paused:
                self.resume_recording()

    def pause_recording(self) -> bool:
        """Pause the call's recording (silence or skipped; its words are not kept); False
        when nothing is recording or it was already paused."""
        if self.recording is None or self.recording.paused:
            return False
        self.recording.pause()
        return True

    def resume_recording(self) -> bool:
        if self.recording is None or not self.recording.paused:
            return False
        self.recording.resume()
        return True

    # ---- conversation (callport.call.converse) --------------------------------------

    async def connect(self, agent: Agent) -> None:
        """Converse with ``agent`` until the caller or the agent ends the call (an
        ``AudioAgent``, a speech-to-speech bot, is handed the call and does the talking)."""
        if isinstance(agent, AudioAgent):
            await agent.converse(self)
            return
        await converse.connect(self, agent)

    async def reply(self, agent: Agent, event: AgentInput, record: TurnRecord) -> bool:
        """Run one agent turn with barge-in; True when the agent ended the call."""
        return await converse.reply(self, agent, event, record)

    # ---- call control ----------------------------------------------------------------

    async def hangup(self, reason: str = "normal") -> None:
        await self.session.hangup(reason)

    async def enqueue(self, queue: str, *, priority: int = 0) -> QueueOutcome:
        """Wait in ``queue`` for a person (hold music, announcements; ``callport.queues``):
        returns how the caller left it (``callport.call.queueing``). ``QueueUnavailable`` when
        this call has no queue service."""
        if self.queues is None:
            return QueueUnavailable(queue=queue, detail="no queue service on this call")
        return await self.queues.enqueue(self, queue, priority=priority)

    async def transfer(self, target: str) -> ControlResult:
        """Blind transfer; ``Refused`` (nothing happened, the call goes on) when the leg has no
        transfer, cannot reach ``target`` or the carrier said no. A flow decides what the caller
        hears then; in ``connect`` the caller hears an apology and the agent is told."""
        leg = self.session.leg
        if Capability.TRANSFER not in leg.capabilities:
            result: ControlResult = Refused(Capability.TRANSFER, Refusal.UNSUPPORTED,
                                            f"a {self.info.channel} leg has no transfer")
        else:
            result = await leg.transfer(target)
        if isinstance(result, Refused):
            log.info("call %s: transfer to %s refused (%s: %s)", self.info.call_id, target,
                     result.refusal.value, result.detail)
        return result

    async def transfer_blind(self, target: str) -> TransferResult:
        """Blind transfer with its outcome (``callport.call.transfers``): REFER or the
        provider's transfer where the leg has one, else callport dials ``target`` and bridges
        (``callport.flows.transfer``). Not ``ok``: the caller is still here."""
        return await self._transfer(target, warm=False, summary=None)

    async def transfer_warm(self, target: str, *, summary: str | None = None) -> TransferResult:
        """Warm transfer: hold music while ``target`` is dialled; the person hears ``summary``
        (default: who is calling and what they said) and takes the call (1 / yes: bridged,
        ``ANSWERED``) or not (``DECLINED``, ``NO_ANSWER``, ``BUSY``: the caller is back here)."""
        return await self._transfer(target, warm=True, summary=summary)

    async def _transfer(self, target: str, *, warm: bool, summary: str | None) -> TransferResult:
        if self.transfers is None:
            return TransferResult(target=target, outcome=TransferOutcome.FAILED, warm=warm,
                                  cause=DialCause.NOT_CONFIGURED,
                                  detail="no transfer service on this call")
        return await self.transfers.transfer(self, target, warm=warm, summary=summary)


Flow = Callable[[Call], Coroutine[Any, Any, None]]
