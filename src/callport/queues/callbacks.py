"""A booked call-back, once it is the caller's turn: dial them, then they wait again.

The caller pressed the call-back key (``queues.waiting``) and hung up; the engine kept their
place and, when it reached the front with an agent free, said ``DialBack`` (holding that agent
back). ``call_back`` places the call through the server's ``DialBackFn``: not answered (or no
way to dial) and the place is given up (``dialled(answered=False)``, a ``queue`` event on the
record); answered and the caller waits again, first in line, as a ``Waiter`` with
``callback=True`` under the original call id, until an agent takes them or they leave; then
the call-back call is hung up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from callport.call.call import Call
from callport.config_queues import QueuesSettings
from callport.queues.engine import QueueEngine
from callport.queues.waiting import Waiter, WaitHost

log = logging.getLogger(__name__)

DialBackFn = Callable[[str, str], Awaitable[Call | None]]
"""Call ``number`` back for queue ``queue``: the answered, started ``Call``, or None."""


class CallBackHost(WaitHost, Protocol):
    """What a call-back needs of the queue service (which is also the waiter's host)."""

    engine: QueueEngine
    settings: QueuesSettings

    def step(self) -> None: ...


async def call_back(host: CallBackHost, dial_back: DialBackFn | None,
                    waiters: dict[str, Waiter], call_id: str, number: str) -> None:
    """Dial ``number`` for the booked call-back ``call_id``; ``waiters`` is the service's
    table of callers waiting on this node (the call-back's waiter is in it while it waits)."""
    engine = host.engine
    queue = engine.queue_of(call_id)
    call = None
    if dial_back is not None:
        try:
            call = await dial_back(number, queue)
        except Exception:
            log.exception("queue: calling %s back failed", number)
    if call is None or call.ended:
        engine.dialled(call_id, answered=False, now=host.now())
        await host.event(call_id, "queue", f"callback to {number} not answered")
        host.step()
        return
    engine.dialled(call_id, answered=True, now=host.now())
    rules = host.settings.get(queue)
    assert rules is not None
    waiter = Waiter(call=call, queue=rules, joined=host.now(), key=call_id, callback=True)
    waiters[call_id] = waiter
    try:
        outcome = await waiter.run(host)
        log.info("queue: call back %s: %r", call_id, outcome)
    finally:
        waiters.pop(call_id, None)
        if engine.waiting(call_id):
            host.leave(call_id)
        if not call.ended:
            await call.hangup("queue")
        host.step()
