"""One call's run, from answer to record: the identification gate, consent and recording,
the flow, the fallback when it fails, and the call record and metrics around it.

``Runtime.run_call`` is the entry point channels use; it hands the call here with the shared
services it holds (``callport.server.runtime``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from callport.agents.base import CallInfo
from callport.call.call import Call, Flow
from callport.call.leg import Leg
from callport.logs import current_call_id
from callport.server.capacity import BUSY_CAUSE, BUSY_PHRASE, refusal
from callport.server.lifecycle import record_end, record_start
from callport.server.records import record_answered, record_finished
from callport.speech.jobs import CancelToken, call_token

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

log = logging.getLogger(__name__)
MAX_DURATION = "max-duration"  # the hang-up cause when server.max_call_s cut a call off


async def identified(call: Call, flow: Flow, *, runtime: Runtime) -> None:
    """The identification gate (``flows.gate``), then ``flow`` as the identified user:
    ``call.info.user`` is set before the flow's first ``call.new_agent()``. With
    ``recording.mode`` on, consent is asked and the flow runs recorded."""
    from callport.flows.gate import identify_caller
    from callport.recording.consent import outbound_notice

    settings = runtime.settings
    if call.info.direction == "outbound" and settings.routing.amd != "off":  # a machine?
        from callport.flows.amd import routed_screen

        if not await routed_screen(call, settings.routing, calls=runtime.calls):
            return
    if call.info.direction == "outbound":  # always, first: an automated call, from whom
        behalf = settings.recording.behalf or settings.page.name
        await call.say(outbound_notice(behalf), interruptible=False)
        if call.ended:
            return
    user = await identify_caller(call, users=runtime.users, settings=settings.identity)
    if user is None or call.ended:
        return
    call.info = replace(call.info, user=user)
    from callport.flows.default import default_flow

    if flow is default_flow and not user.guest:  # "You have 2 new voicemails", then the agent
        from callport.flows.voicemail import new_messages_notice

        notice = await new_messages_notice(runtime.voicemail, user.name)
        if notice:
            await call.say(notice)
            if call.ended:
                return
    rec = settings.recording
    if rec.mode == "off":
        await flow(call)
        return
    from callport.recording.crypt import load_key
    from callport.recording.run import recorded, recordings_dir, shared_store

    await recorded(call, flow, settings=rec, calls=runtime.calls, clock=runtime.clock,
                   directory=recordings_dir(settings), key=load_key(settings),
                   store=shared_store(settings))


async def fall_back(call: Call, exc: BaseException, runtime: Runtime) -> None:
    """The apology and ``server.fallback`` (goodbye, voicemail, operator or a transfer) after
    a failed flow; the operator and whose voicemail come from ``server.operator`` and
    ``identity.owner``, else from the menu file (``[ivr] operator`` / ``voicemail_for``)."""
    from callport.errors import AgentFailed
    from callport.flows.default import fall_back as say_fallback
    from callport.flows.default import limit_s

    cause = exc.cause if isinstance(exc, AgentFailed) else exc
    server = runtime.settings.server
    ivr = getattr(runtime.flow, "ivr", None)  # an IvrFlow's menus
    operator = server.operator or str(getattr(ivr, "operator", "") or "")
    voicemail_for = str(getattr(ivr, "voicemail_for", "") or runtime.settings.identity.owner)
    try:
        await asyncio.wait_for(say_fallback(
            call, cause, server.fallback, operator=operator, voicemail=runtime.voicemail,
            voicemail_for=voicemail_for), limit_s(server.fallback))  # fmt: skip
    except Exception:
        log.exception("call %s: the fallback failed too", call.info.call_id)


async def run_call(
    runtime: Runtime,
    leg: Leg,
    info: CallInfo,
    *,
    flow: Flow | None = None,
    on_call: Callable[[Call], None] | None = None,
    inband_dtmf: bool = False,
) -> Call:
    """Run ``flow`` (default: the runtime's) on ``leg`` until the call ends; see
    ``Runtime.run_call``."""
    current_call_id.set(info.call_id)  # tasks made below inherit it: logs carry the id
    token = CancelToken()  # cancelled at the end: this call's queued STT/TTS jobs are dropped
    call_token.set(token)
    call = runtime.new_call(leg, info, inband_dtmf=inband_dtmf)
    if on_call is not None:
        on_call(call)
    session = call.session
    calls, metrics = runtime.calls, runtime.metrics
    # This node owns the call (server.ownership: with Redis, others close it if we are lost).
    await runtime.ownership.claim(info.call_id)
    # Every call leaves a record; Twilio/Telnyx calls already have their channel's one.
    recorded = await record_start(calls, info)
    await record_answered(calls, info.call_id)
    # Past capacity, a caller hears "all lines are busy" and is hung up (not our own calls).
    busy = refusal(runtime) if info.direction != "outbound" else None
    runtime.active[info.call_id] = call
    from callport.server.console_live import watch_call

    publish_end = watch_call(runtime, call)  # the console's live view (server.events)
    metrics.active_calls.value = len(runtime.active)  # /healthz counts runtime.active too
    metrics.calls_total.inc()
    log.info("call %s: started on %s", info.call_id, info.channel)
    session.start()
    if busy is not None:
        log.warning("call %s: turned away at capacity (%s)", info.call_id, busy.reason)
    flow_task = asyncio.create_task(
        turned_away(call) if busy is not None
        else identified(call, flow or runtime.flow, runtime=runtime), name=f"flow:{info.call_id}"
    )
    ended = asyncio.create_task(session.wait_ended())
    # server.max_call_s: no call on any channel outlives it (a peer that never hangs up).
    limit = runtime.settings.server.max_call_s
    cap = (asyncio.get_running_loop().call_later(limit, _cut_off, leg, info.call_id, limit)
           if limit > 0 else None)
    try:
        await asyncio.wait({flow_task, ended}, return_when=asyncio.FIRST_COMPLETED)
        if flow_task.done():
            exc = flow_task.exception()
            if exc is not None:  # an apology and server.fallback, then the call ends
                log.error("call %s: flow failed", info.call_id, exc_info=exc)
                await fall_back(call, exc, runtime)
            if not session.ended:
                await leg.hangup("flow-ended")
        else:
            flow_task.cancel()
            try:
                await flow_task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("call %s: flow failed while ending", info.call_id)
    finally:
        token.cancel()
        if cap is not None:
            cap.cancel()
        ended.cancel()
        if not flow_task.done():
            flow_task.cancel()
        await session.close()
        if runtime.active.get(info.call_id) is call:
            runtime.active.pop(info.call_id, None)
        publish_end(session.hangup_reason or "flow-ended")
        metrics.active_calls.value = len(runtime.active)  # the same books as /healthz
        if recorded:
            await record_end(calls, info.call_id, session.hangup_reason or "flow-ended")
        await record_finished(calls, info.call_id, user=call.info.user,
                              cause=session.hangup_reason or "flow-ended",
                              routing=runtime.routing)
        await runtime.ownership.release(info.call_id)
        log.info(
            "call %s: ended (%s), %d turns, %d frames in, %d out",
            info.call_id,
            session.hangup_reason or "flow-ended",
            len(call.turns),
            session.stats.frames_in,
            session.frames_out,
        )
    return call


async def turned_away(call: Call) -> None:
    """Past capacity: the (cached) busy phrase, then hang up with cause ``busy``."""
    await call.say(BUSY_PHRASE, interruptible=False)
    if not call.ended:
        await call.session.leg.hangup(BUSY_CAUSE)


_CUT_OFF: set[asyncio.Task[None]] = set()


def _cut_off(leg: Leg, call_id: str, limit: float) -> None:
    """server.max_call_s reached: hang the call up (cause ``max-duration``)."""
    log.info("call %s: reached server.max_call_s (%.0f s), hanging up", call_id, limit)
    task = asyncio.ensure_future(leg.hangup(MAX_DURATION))
    _CUT_OFF.add(task)
    task.add_done_callback(_CUT_OFF.discard)
