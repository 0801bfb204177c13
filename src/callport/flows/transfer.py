"""Transfers: blind and warm, from flows (``call.transfer_blind`` / ``call.transfer_warm``)
and agents (``TransferCall(target, warm=...)``), each ending in a ``TransferResult``
(``callport.call.transfers``).

Blind (``warm=False``), in order of preference:

1. the leg's own transfer (``Leg.transfer``): a SIP REFER (RFC 3515; the SIP leg waits for the
   NOTIFY's final sipfrag, so ``486`` comes back as ``BUSY``), or the provider's call update
   (Twilio ``<Dial>`` TwiML, Telnyx ``transfer``): ``ANSWERED`` / ``HANDED_OFF``;
2. when the leg cannot (a browser call, a peer that refuses REFER with 405/501, a carrier API
   error) and a ``LegDialer`` is configured: callport dials the person itself, the caller hears
   hold music while it rings, and on the answer both are bridged (``callport.call.bridge``);
   the result (``ANSWERED``) comes back when the bridge has ended;
3. otherwise ``FAILED`` with the cause.

Warm (``warm=True``) always dials through callport: the caller waits on hold music (never
silence; their speech does not stop it), the person answers and first hears a short summary
(``summary_of``: who is calling, the identified user or the caller id, and what they said, from
the call's transcript), then presses 1 or says yes to take the call, 2 or no to decline.
Accepted: caller and person are bridged. Declined, no answer, a hang-up, busy: the person's
call is ended, the music stops and the result says why; ``converse`` then says
``result.apology`` ("They couldn't take the call right now. I'm still here.") and tells the
agent (``ActionRefused(transfer=result)``). The caller hanging up while waiting ends the
attempt: ``FAILED`` with cause ``CANCELED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from callport.call.bridge import Bridge, Side, bridge_of, follow_handovers, moved
from callport.call.call import Call
from callport.call.controls import Capability, Refusal, Refused
from callport.call.dial import DialCause, DialFailed, cause_of_http, cause_of_sip
from callport.call.leg import Leg
from callport.call.results import Heard, Pressed
from callport.call.sources import AudioSource, HoldMusic
from callport.call.transfers import How, TransferOutcome, TransferResult
from callport.types import CallInfo

__all__ = ["LegDialer", "Transfers", "answer_of", "join_attended", "summary_of"]

log = logging.getLogger(__name__)

T = TypeVar("T")

ACCEPT_PROMPT = "Press 1 or say yes to take the call. Press 2 or say no to decline."
ACCEPT_REPROMPT = "Press 1 to take the call, or 2 to decline."
DECLINED_BYE = "Okay, I'll tell them. Goodbye."
CALLER_GONE = "Sorry, the caller has hung up. Goodbye."
SUMMARY_WORDS = 40  # what the person hears of the caller's words, at most


class LegDialer(Protocol):
    """Places a call to a person and hands back its answered leg (no flow runs on it)."""

    @property
    def name(self) -> str: ...

    async def dial_leg(self, target: str, *, timeout_s: float) -> Leg | DialFailed:
        """The answered leg, or why not (busy, no answer, ...). Never raises for the callee."""
        ...


NewCall = Callable[[Leg, CallInfo], Call]  # Runtime.new_call: a session on the person's leg
# CallStore.add_event(call_id, kind, detail): a transfer's steps on the call's record
CallEvents = Callable[[str, str, str], Awaitable[object]]

_YES = re.compile(r"\b(yes|yeah|yep|sure|ok|okay|accept|put (them|him|her) through|go ahead"
                  r"|connect)\b")
_NO = re.compile(r"\b(no|nope|decline|not now|can't|cannot|busy|later)\b")


def answer_of(text: str) -> bool | None:
    """The person's spoken answer: True (take it), False (decline), None (unclear)."""
    words = text.lower().replace("’", "'")
    no, yes = bool(_NO.search(words)), bool(_YES.search(words))
    if no == yes:
        return None
    return yes


def summary_of(call: Call) -> str:
    """Who is calling and what they asked, from the call's identity and transcript."""
    info = call.info
    user = info.user
    who = ""
    if user is not None and not user.guest:
        who = user.display_name or user.name
    number = info.caller if info.caller and info.caller != who else ""
    if who and number:
        head = f"You have a call from {who}, at {number}."
    elif who or number:
        head = f"You have a call from {who or number}."
    else:
        head = "You have a call."
    said = " ".join(t.transcript for t in call.turns if t.transcript).split()
    if not said:
        return head
    if len(said) > SUMMARY_WORDS:  # the latest words: what they asked for just now
        said = ["...", *said[-SUMMARY_WORDS:]]
    return f"{head} They said: {' '.join(said)}."


class Transfers:
    """The ``Transferrer`` a runtime hands every call (``call.transfers``)."""

    def __init__(self, *, new_call: NewCall, dialer: LegDialer | None = None,
                 ring_timeout_s: float = 30.0, answer_timeout_s: float = 8.0,
                 music: Callable[[], AudioSource] = HoldMusic,
                 events: CallEvents | None = None) -> None:
        self.new_call = new_call
        self.events = events
        self.dialer = dialer
        self.ring_timeout_s = ring_timeout_s
        self.answer_timeout_s = answer_timeout_s
        self.music = music

    async def transfer(self, call: Call, target: str, *, warm: bool = False,
                       summary: str | None = None) -> TransferResult:
        await self._event(call, f"to {target}" + (" (warm)" if warm else " (blind)"))
        result = await (self._warm(call, target, summary) if warm else self._blind(call, target))
        log.info("call %s: %s", call.info.call_id, result.describe())
        await self._event(call, result.describe())
        return result

    async def _event(self, call: Call, detail: str) -> None:
        if self.events is None:
            return
        try:
            await self.events(call.info.call_id, "transfer", detail)
        except Exception:  # the history is worth less than the call
            log.warning("call %s: transfer event not recorded", call.info.call_id,
                        exc_info=True)

    # ---- blind ------------------------------------------------------------------------
    async def _blind(self, call: Call, target: str) -> TransferResult:
        how: How = "refer" if call.info.channel == "sip" else "provider"
        if Capability.TRANSFER in call.session.leg.capabilities:
            async with _on_hold(call, self.music):  # the caller hears music while the peer dials
                refused = await call.transfer(target)
            if not isinstance(refused, Refused):
                outcome = TransferOutcome.ANSWERED if how == "refer" else TransferOutcome.HANDED_OFF
                return TransferResult(target=target, outcome=outcome, how=how)
            result = _of_refusal(target, refused, how=how, sip=how == "refer")
            if result.outcome is not TransferOutcome.FAILED or refused.refusal is Refusal.ENDED:
                return result  # the person said no (busy, ...): dialling again rings them again
        else:
            result = TransferResult(target=target, outcome=TransferOutcome.FAILED,
                                    cause=DialCause.NOT_CONFIGURED,
                                    detail=f"a {call.info.channel} leg has no transfer")
        if self.dialer is None:
            return result
        log.info("call %s: %s; dialling %s and bridging", call.info.call_id, result.describe(),
                 target)
        return await self._dial_and_bridge(call, target, warm=False, summary=None)

    # ---- dial and bridge (blind fallback, warm) ---------------------------------------
    async def _warm(self, call: Call, target: str, summary: str | None) -> TransferResult:
        if self.dialer is None:
            return TransferResult(target=target, outcome=TransferOutcome.FAILED, warm=True,
                                  cause=DialCause.NOT_CONFIGURED,
                                  detail="no dialer for transfers (sip channel not running)")
        return await self._dial_and_bridge(call, target, warm=True,
                                           summary=summary or summary_of(call))

    async def _dial_and_bridge(self, call: Call, target: str, *, warm: bool,
                               summary: str | None) -> TransferResult:
        assert self.dialer is not None
        dialer = self.dialer
        gone = TransferResult(target=target, outcome=TransferOutcome.FAILED, how="bridge",
                              warm=warm, cause=DialCause.CANCELED, detail="the caller hung up")
        async with _on_hold(call, self.music):
            dialed = await _unless_gone(call, dialer.dial_leg(target,
                                                              timeout_s=self.ring_timeout_s))
            if dialed is None:
                return gone
            if isinstance(dialed, DialFailed):
                return TransferResult.of_failure(target, dialed, how="bridge", warm=warm)
            human = self.new_call(dialed, CallInfo(
                call_id=dialed.call_id, channel=dialer.name, caller=call.info.callee,
                callee=target, direction="outbound"))
            human.session.start()
            try:
                if summary is not None:
                    decided = await _unless_gone(call, self._ask(human, summary))
                    if decided is None:
                        await _bye(human, CALLER_GONE)
                        return gone
                    if decided is not TransferOutcome.ANSWERED:
                        await _bye(human, DECLINED_BYE if decided is
                                   TransferOutcome.DECLINED else "")
                        return TransferResult(target=target, outcome=decided, how="bridge",
                                              warm=True, detail="the person did not take it")
                if call.ended:
                    await _bye(human, CALLER_GONE)
                    return gone
                await self._event(call, f"bridged to {target}")
                ended = await Bridge(a=call.session, b=human.session).run()
                ended = await follow_handovers(ended)  # the person's phone joined us elsewhere
            finally:  # also when the caller's end cancels the flow: the person's call ends
                if not moved(human.session):  # (unless an attended transfer took them on)
                    if not human.ended:
                        await human.hangup("caller-left" if call.ended else "transfer-ended")
                    await human.session.close()
        log.info("call %s: bridge to %s ended: %r", call.info.call_id, target, ended)
        return TransferResult(target=target, outcome=TransferOutcome.ANSWERED, how="bridge",
                              warm=warm, detail=f"bridge ended: {ended!r}")

    async def _ask(self, human: Call, summary: str) -> TransferOutcome:
        """The summary, then the person's answer: ANSWERED (1 / yes), DECLINED (2 / no / a
        hang-up) or NO_ANSWER (silence)."""
        await human.say(f"{summary} {ACCEPT_PROMPT}")
        for attempt in range(2):
            if human.ended:
                return TransferOutcome.DECLINED
            match await human.listen(timeout=self.answer_timeout_s):
                case Pressed(digits="1"):
                    return TransferOutcome.ANSWERED
                case Pressed(digits="2"):
                    return TransferOutcome.DECLINED
                case Heard(text=text) if answer_of(text) is not None:
                    return (TransferOutcome.ANSWERED if answer_of(text)
                            else TransferOutcome.DECLINED)
                case Heard() | Pressed():
                    pass
                case _:  # Timeout or the person hung up
                    return (TransferOutcome.DECLINED if human.ended
                            else TransferOutcome.NO_ANSWER)
            if attempt == 0:
                await human.say(ACCEPT_REPROMPT)
        return TransferOutcome.NO_ANSWER


@contextlib.asynccontextmanager
async def _on_hold(call: Call, music: Callable[[], AudioSource]) -> AsyncIterator[None]:
    """Hold music for the caller until the block ends (their speech neither stops it nor
    becomes a turn); a bridge taking over stops it too."""
    session = call.session
    session.set_turns(False)
    call.hold(music())
    try:
        yield
    finally:
        session.set_turns(True)
        if session.holding and not session.ended:
            await session.stop_audio()


async def _unless_gone(call: Call, work: Awaitable[T]) -> T | None:
    """``work``'s result, or None (``work`` cancelled) once the caller has hung up."""
    task = asyncio.ensure_future(work)
    ended = asyncio.ensure_future(call.session.wait_ended())
    try:
        await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ended.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


async def _bye(human: Call, text: str) -> None:
    if not human.ended and text:
        await human.say(text, interruptible=False)
    if not human.ended:
        await human.hangup("transfer-declined")


def _of_refusal(target: str, refused: Refused, *, how: How, sip: bool) -> TransferResult:
    """A leg's refused transfer as a result: the peer's status says whether the person said no
    (SIP 486 in the NOTIFY: busy) or the transfer itself could not be done."""
    cause = {Refusal.BAD_TARGET: DialCause.BAD_TARGET, Refusal.ENDED: DialCause.CANCELED,
             Refusal.UNSUPPORTED: DialCause.NOT_CONFIGURED}.get(refused.refusal,
                                                                DialCause.CARRIER_ERROR)
    if refused.code:
        cause = cause_of_sip(refused.code) if sip else cause_of_http(refused.code)
    failed = DialFailed(carrier=how, cause=cause, detail=refused.detail,
                        sip_status=refused.code if sip else 0,
                        http_status=0 if sip else refused.code)
    return TransferResult.of_failure(target, failed, how=how)


def join_attended(phone_a: str, phone_b: str) -> bool:
    """An attended transfer from a phone (REFER with Replaces, ``channels.sip.replaces``): its
    legs ``phone_a`` (the dialog the REFER came in) and ``phone_b`` (the one it replaces) are
    each bridged to someone; those two are joined and the phone's legs are left for the
    caller to end. False (nothing changed) when either leg is in no bridge, or both in one."""
    first, second = bridge_of(phone_a), bridge_of(phone_b)
    if first is None or second is None or first is second:
        return False
    side_a, side_b = first.side_of(phone_a), second.side_of(phone_b)
    assert side_a is not None and side_b is not None
    keep_x: Side = "b" if side_a == "a" else "a"
    keep_y: Side = "b" if side_b == "a" else "a"
    second.handover(keep_y)  # y's owner waits; y is bridged by x's owner from now on
    first.handover(keep_x, to=second.session(keep_y), after=second)
    log.info("attended transfer: %s and %s leave, their parties are joined", phone_a, phone_b)
    return True
