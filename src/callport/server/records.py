"""The details ``Runtime.run_call`` adds to every call's record, whichever channel made it:
the answer time when the call starts running (a leg reaches the runtime answered), and at the
end the identified user, the hang-up cause, and for a routed outbound call its carrier,
attempts, disposition and price (``callport.routing.service.RoutingService.finished``).

Store trouble is logged, never raised: a failing database must not drop a live call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from callport.store.tasks import local_now

if TYPE_CHECKING:
    from callport.routing.service import RoutingService
    from callport.store.calls import CallStore
    from callport.types import User

log = logging.getLogger(__name__)


async def record_answered(calls: CallStore, call_id: str) -> None:
    """The call is running: its answer time, unless a channel already set one."""
    try:
        record = await calls.get(call_id)
        if record is not None and record.answered_at is None:
            await calls.amend(call_id, answered_at=local_now())
    except Exception:
        log.exception("call %s: could not record its answer", call_id)


async def record_finished(calls: CallStore, call_id: str, *, user: User | None, cause: str,
                          routing: RoutingService | None) -> None:
    """The call ended: who it was (the identified user), why it ended, what it cost."""
    try:
        record = await calls.get(call_id)
        if record is not None:
            name = user.name if user is not None and not user.guest else None
            await calls.amend(call_id, user=name if not record.user else None,
                              hangup_cause=cause if not record.hangup_cause else None)
        if routing is not None:
            await routing.finished(call_id)
    except Exception:
        log.exception("call %s: could not record its details", call_id)
