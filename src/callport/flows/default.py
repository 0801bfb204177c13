"""The default call flow: greet, say plainly it is an automated assistant, connect the agent.

The agent's own ``greeting`` (see ``HasGreeting``) is used when it has one.

``fall_back`` is what every call gets when its agent or flow fails mid-call (the runtime
calls it): a short apology, then ``server.fallback``: ``goodbye`` hangs up (reason
``agent-error``), ``transfer:<target>`` and ``operator`` put the caller through (goodbye when
refused), ``voicemail`` takes a message (``callport.flows.voicemail``).
The page is told with a ``CallFailed`` note (an ``error`` message).
"""

from __future__ import annotations

import logging

from callport.call.agent import AudioAgent, HasGreeting
from callport.call.call import Call
from callport.call.controls import Refused
from callport.call.notes import CallFailed
from callport.flows.voicemail import MAX_S, take_message
from callport.store.voicemail import VoicemailStore

log = logging.getLogger(__name__)

GREETING = "Hi, I'm an automated assistant. How can I help?"
SORRY = "Sorry, something went wrong on my side."
GOODBYE = "Please call again later. Goodbye."
PUTTING_THROUGH = "Let me put you through to someone who can help."
FAILED_REASON = "agent-error"


async def default_flow(call: Call) -> None:
    agent = call.new_agent()
    if isinstance(agent, AudioAgent):  # it greets the caller itself, in its own voice
        await call.connect(agent)
        return
    greeting = agent.greeting if isinstance(agent, HasGreeting) else GREETING
    await call.say(greeting)  # a barge-in during the greeting simply becomes the first turn
    if call.ended:
        return
    await call.connect(agent)


async def fall_back(call: Call, failure: BaseException, fallback: str = "goodbye", *,
                    operator: str = "", voicemail: VoicemailStore | None = None,
                    voicemail_for: str = "owner") -> None:  # fmt: skip
    """Apologise for ``failure`` and apply ``fallback``: ``goodbye``, ``transfer:<target>``,
    ``operator`` (a transfer to ``operator``) or ``voicemail`` (a message for
    ``voicemail_for`` into ``voicemail``). A refused transfer, an ``operator`` without a
    target or ``voicemail`` without a store end in the goodbye; the call then ends with reason
    ``agent-error`` (``callport talk`` exits 1 on it)."""
    log.error("call %s: agent failed (%s: %s); fallback %s", call.info.call_id,
              type(failure).__name__, failure, fallback)
    target = (operator if fallback == "operator"
              else fallback.removeprefix("transfer:") if fallback.startswith("transfer:") else "")
    message = voicemail is not None and fallback == "voicemail"
    call.session.notify(CallFailed(message="the agent failed; " + (
        "transferring" if target else "taking a message" if message else "the call ends")))
    if call.ended:
        return
    if message and voicemail is not None:
        await _say(call, SORRY)
        if not call.ended:
            await take_message(call, store=voicemail, for_user=voicemail_for, menu="fallback",
                               reason=FAILED_REASON)
        return
    if target:
        await _say(call, f"{SORRY} {PUTTING_THROUGH}")
        if call.ended:
            return
        result = await call.transfer(target)
        if not isinstance(result, Refused):
            return
    else:
        await _say(call, SORRY)
    if not call.ended:
        await _say(call, GOODBYE)
    if not call.ended:
        await call.hangup(FAILED_REASON)


def limit_s(fallback: str) -> float:
    """How long ``fall_back`` may take (a message may run to ``voicemail.MAX_S``)."""
    return 30.0 + (MAX_S if fallback == "voicemail" else 0.0)


async def _say(call: Call, text: str) -> None:
    """Say ``text``; it is the failed turn's reply in the call's record (talk shows it)."""
    if call.turns:
        record = call.turns[-1]
        record.reply = f"{record.reply} {text}".strip()
    await call.say(text, interruptible=False)
