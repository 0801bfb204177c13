"""A failed outbound dial's call record, routed or not.

``record_failure(calls, outcome, ...)`` writes the one closed record of a call whose dial
failed: the dialer's own record when it made one (``DialFailed.call_id``), else a new one
(direction outbound, from/to, started when the dial began); then the terminal status, the
carrier, every attempt with its cause, the disposition and the hang-up cause.
``RoutingService`` calls it for a failed route; ``Unrouted`` for a call without ``[routing]``.

``Unrouted(dialer, carrier=..., calls=...)`` is one carrier's Dialer (``callport call`` and
``POST /api/calls`` when no routing is configured, see ``callport.channels.carriers``) whose
failures are judged like a routed call's single attempt (``causes.judge``) and recorded by
``record_failure``. An answered or placed call is left to the record its channel or
``Runtime.run_call`` makes under the same call id, so it never gets a second one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from callport.call.dial import DialCause, Dialer, DialFailed, DialOptions, DialResult
from callport.routing.causes import judge
from callport.routing.router import Attempt, RouteOutcome, failure_of
from callport.store.calls import CallAttempt, CallRecord, CallStore
from callport.store.tasks import local_now

__all__ = ["Unrouted", "attempts_of", "record_failure"]

log = logging.getLogger(__name__)

_STATUS = {"busy": "busy", "no-answer": "no-answer", "canceled": "canceled"}


def attempts_of(outcome: RouteOutcome) -> tuple[CallAttempt, ...]:
    """The route's attempts as the record keeps them."""
    return tuple(CallAttempt(carrier=a.carrier, outcome=a.outcome, cause=a.cause)
                 for a in outcome.attempts)


async def record_failure(calls: CallStore, outcome: RouteOutcome, *, channel: str,
                         caller: str = "", started_at: datetime | None = None,
                         now: Callable[[], datetime] = local_now) -> str:
    """End the failed call's record (module docstring); its call id."""
    result = outcome.result
    assert isinstance(result, DialFailed)
    call_id = result.call_id
    record = await calls.get(call_id) if call_id else None
    if record is None:
        call_id = call_id or uuid.uuid4().hex
        await calls.create(CallRecord(
            call_id=call_id, channel=channel, direction="outbound", caller=caller,
            callee=outcome.target, status="in-progress", started_at=started_at or now()))
    await calls.update_status(call_id, _STATUS.get(outcome.disposition, "failed"), at=now())
    await calls.amend(call_id, carrier=outcome.carrier, attempts=attempts_of(outcome),
                      disposition=outcome.disposition or None, hangup_cause=result.describe())
    return call_id


class Unrouted:
    """One carrier's Dialer whose failed dials leave a record (module docstring)."""

    def __init__(self, dialer: Dialer, *, carrier: str,
                 calls: Callable[[], CallStore | None],
                 now: Callable[[], datetime] = local_now) -> None:
        self.dialer, self.carrier = dialer, carrier
        self._calls, self._now = calls, now

    @property
    def name(self) -> str:
        return self.carrier

    async def dial(self, target: str, caller_id: str = "",
                   options: DialOptions | None = None) -> DialResult:
        started = self._now()
        try:
            result = await self.dialer.dial(target, caller_id, options)
        except Exception as exc:  # a dialer must not raise; say it like the router does
            log.exception("%s raised while dialling %s", self.carrier, target)
            result = DialFailed(carrier=self.carrier, cause=DialCause.CARRIER_ERROR,
                                detail=repr(exc))
        if not isinstance(result, DialFailed):
            return result
        verdict = judge(failure_of(result))
        outcome = RouteOutcome(target=target, result=result, disposition=verdict.disposition,
                               attempts=[Attempt(carrier=self.carrier, outcome="failed",
                                                 cause=verdict.cause)])
        try:
            calls = self._calls()
            if calls is not None:
                call_id = await record_failure(calls, outcome, channel=self.carrier,
                                               caller=caller_id, started_at=started,
                                               now=self._now)
                if not result.call_id:
                    result = replace(result, call_id=call_id)
        except Exception:  # a failing store must not hide why the call failed
            log.exception("%s: recording the failed call to %s failed", self.carrier, target)
        return result
