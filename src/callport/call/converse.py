"""A conversation with an agent on one call: ``connect`` (turn after turn until someone ends
the call) and ``reply`` (one agent turn spoken with barge-in), the agent's actions (hang up,
transfer, enqueue, pause recording) and what happens when a leg refuses one.

``Call.connect`` and ``Call.reply`` are the faces flows use; this module is their body. A
refusal is apologised for (``callport.call.records.APOLOGIES``) and told to the agent once as
``ActionRefused``; the call goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from callport.call.agent import (
    ActionRefused,
    Agent,
    AgentInput,
    AgentOutput,
    Enqueue,
    HangUpCall,
    HasVocabulary,
    PauseRecording,
    Say,
    TransferCall,
    TurnInfo,
    UserPressed,
    UserSaid,
)
from callport.call.controls import Capability, Refusal, Refused
from callport.call.notes import AgentState, ReplyHeard, TurnLatency
from callport.call.records import APOLOGIES, APOLOGY, TurnRecord
from callport.call.results import Heard, Pressed
from callport.errors import AgentFailed

if TYPE_CHECKING:
    from callport.call.call import Call
    from callport.call.transfers import TransferResult

log = logging.getLogger(__name__)


async def connect(call: Call, agent: Agent) -> None:
    """Converse with ``agent`` until the caller or the agent ends the call."""
    call.session.set_state(AgentState("listening"))
    while not call.ended:
        await _refresh_hints(call, agent)
        match await call.listen():
            case Heard(text=text):
                event: AgentInput = UserSaid(text)
            case Pressed(digits=digits):
                event = UserPressed(digits)
            case _:
                return
        record = call.turns[-1]
        done = await reply(call, agent, event, record)
        for listener in call.turn_listeners:
            listener(record)
        if done:
            return


async def _refresh_hints(call: Call, agent: Agent) -> None:
    if not isinstance(agent, HasVocabulary):
        return
    try:
        call.hints = tuple(await agent.vocabulary())
    except Exception:  # hints are an optimisation: a failing store must not end the call
        log.warning("call %s: agent vocabulary failed", call.info.call_id, exc_info=True)


async def reply(call: Call, agent: Agent, event: AgentInput, record: TurnRecord) -> bool:
    """Run one agent turn with barge-in; True when the agent ended the call."""
    session = call.session
    outcome = await _run_turn(call, agent, event, record)
    first = session.first_audio_wall
    if first is not None:
        latency = call.endpoint_s + (first - call.turn_started_wall)
        record.first_audio_ms = latency * 1000.0
        session.metrics.turn_latency_seconds.observe(latency)
        session.notify(TurnLatency(record.first_audio_ms))
    session.set_state(AgentState("listening"))
    if record.interrupted or call.ended:
        return call.ended
    return await _act(call, agent, outcome, record, tell=True)


async def _run_turn(
    call: Call, agent: Agent, event: AgentInput, record: TurnRecord
) -> list[AgentOutput]:
    """``agent.respond(event)`` spoken with barge-in; the actions it asked for."""
    session = call.session
    session.new_reply()
    outcome: list[AgentOutput] = []
    task = asyncio.create_task(_agent_turn(call, agent, event, record, outcome))
    barge = asyncio.create_task(session.wait_barge_in())
    try:
        await asyncio.wait({task, barge}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        barge.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    elif (failure := task.exception()) is not None:
        # The runtime apologises and applies server.fallback (Runtime.run_call).
        raise AgentFailed(failure) from failure
    if session.interrupted and not call.ended:
        await session.wait_heard()  # the marks of the cut audio, answered by the far end
    record.heard = session.heard_text()
    record.interrupted = session.interrupted and not call.ended
    if record.interrupted:
        session.notify(ReplyHeard(session.reply_serial, record.heard, interrupted=True))
        agent.interrupted(record.heard)
    return outcome


async def _act(
    call: Call, agent: Agent, outcome: list[AgentOutput], record: TurnRecord, *, tell: bool,
) -> bool:
    """Carry out the agent's actions; True when the call is over for us."""
    for action in outcome:
        match action:
            case HangUpCall(reason=reason):
                await call.hangup(reason)
                return True
            case TransferCall(target=target, warm=warm) if call.transfers is not None:
                done = await call.transfers.transfer(call, target, warm=warm)
                if done.ok or call.ended:
                    return True
                return await _refused(call, agent, action, done.refused(), record, tell=tell,
                                      transfer=done)
            case TransferCall(target=target):
                result = await call.transfer(target)
                if isinstance(result, Refused):
                    return await _refused(call, agent, action, result, record, tell=tell)
                return True
            case Enqueue(queue=queue, priority=priority):
                left = await call.enqueue(queue, priority=priority)
                if left.over or call.ended:
                    return True
                refused = Refused(Capability.TRANSFER, Refusal.FAILED,
                                  f"queue {queue}: {type(left).__name__}")
                return await _refused(call, agent, action, refused, record, tell=tell)
    return False


async def _refused(
    call: Call, agent: Agent, action: AgentOutput, refused: Refused, record: TurnRecord,
    *, tell: bool, transfer: TransferResult | None = None,
) -> bool:
    """The leg refused ``action``: the caller hears an apology, the agent gets
    ``ActionRefused`` (once: a refusal while answering a refusal is only apologised for)
    and may answer; the call goes on. True only if the call ended meanwhile. A transfer
    that did not go through (busy, declined) is apologised for by its outcome."""
    if call.ended:
        return True
    apology = (transfer.apology if transfer is not None else ""
               ) or APOLOGIES.get((refused.control, refused.refusal), APOLOGY)
    await call.say(apology)
    record.reply = f"{record.reply} {apology}".strip()
    if not tell or call.ended:
        return call.ended
    follow = TurnRecord(index=record.index)
    outcome = await _run_turn(call, agent, ActionRefused(action=action, refused=refused,
                                                    transfer=transfer), follow)
    call.session.set_state(AgentState("listening"))
    record.reply = f"{record.reply} {follow.reply}".strip()
    if follow.interrupted or call.ended:
        return call.ended
    return await _act(call, agent, outcome, record, tell=False)


async def _agent_turn(
    call: Call, agent: Agent, event: AgentInput, record: TurnRecord,
    outcome: list[AgentOutput],
) -> None:
    clock = call.clock
    started = clock()
    replies: list[str] = []
    async for output in agent.respond(event):
        match output:
            case TurnInfo(intent=intent, score=score, slots=slots):
                record.intent, record.score, record.slots = intent, score, slots
            case Say(text=text):
                if not replies:
                    record.agent_ms = (clock() - started) * 1000.0
                replies.append(text)
                record.reply = " ".join(replies)
                await call.speak(text, record if len(replies) == 1 else None)
            case HangUpCall() | TransferCall() | Enqueue():
                outcome.append(output)
            case PauseRecording(paused=paused):  # in order with the replies around it
                _ = call.pause_recording() if paused else call.resume_recording()
            case _:
                log.warning("call %s: unknown agent output %r", call.info.call_id, output)
    await call.session.wait_played()
    if replies:
        log.info("call %s: agent replied %r", call.info.call_id, " ".join(replies))
