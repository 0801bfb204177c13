"""The default call flow: greet, say plainly it is an automated assistant, connect the agent.

The agent's own ``greeting`` (see ``HasGreeting``) is used when it has one.

``fall_back`` is what every call gets when its agent or flow fails mid-call (the runtime
calls it): a short apology, then ``server.fallback``: ``goodbye`` hangs up (reason
``agent-error``), ``transfer:<target>`` puts the caller through (goodbye when refused).
The page is told with a ``CallFailed`` note (an ``error`` message).
"""

from __future__ import annotations

import logging

from callport.call.agent import HasGreeting
from callport.call.call import Call
from callport.call.controls import Refused
from callport.call.notes import CallFailed

log = logging.getLogger(__name__)

GREETING = "Hi, I'm an automated assistant. How can I help?"
SORRY = "Sorry, something went wrong on my side."
GOODBYE = "Please call again later. Goodbye."
PUTTING_THROUGH = "Let me put you through to someone who can help."
FAILED_REASON = "agent-error"


async def default_flow(call: Call) -> None:
    agent = call.new_agent()
    greeting = agent.greeting if isinstance(agent, HasGreeting) else GREETING
    await call.say(greeting)  # a barge-in during the greeting simply becomes the first turn
    if call.ended:
        return
    await call.connect(agent)


async def fall_back(call: Call, failure: BaseException, fallback: str = "goodbye") -> None:
    """Apologise for ``failure`` and apply ``fallback`` (``goodbye`` | ``transfer:<target>``)."""
    log.error("call %s: agent failed (%s: %s); fallback %s", call.info.call_id,
              type(failure).__name__, failure, fallback)
    call.session.notify(CallFailed(message="the agent failed; " + (
        "transferring" if fallback.startswith("transfer:") else "the call ends")))
    if call.ended:
        return
    target = fallback.removeprefix("transfer:") if fallback.startswith("transfer:") else ""
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


async def _say(call: Call, text: str) -> None:
    """Say ``text``; it is the failed turn's reply in the call's record (talk shows it)."""
    if call.turns:
        record = call.turns[-1]
        record.reply = f"{record.reply} {text}".strip()
    await call.say(text, interruptible=False)
