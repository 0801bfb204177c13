"""What the SIP channel driver keeps per call, what it needs from the runtime, and how an
outbound call reports failure (``CallFailed``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from callport.agents.base import CallInfo
from callport.call.leg import Leg
from callport.channels.sip.leg import SipLeg


class CallRunner(Protocol):
    """The part of ``Runtime`` the channel uses."""

    @property
    def settings(self) -> Any: ...

    def run_call(self, leg: Leg, info: CallInfo) -> Awaitable[Any]: ...


class CallFailed(RuntimeError):
    """An outbound call was not answered (``status``: the SIP final response, 408 timeout,
    503 unreachable, 0 unroutable), after every RFC 3263 target was tried."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"call failed: {status} {reason}")
        self.status = status


@dataclass(slots=True)
class SipCall:
    key: str
    call_id: str
    leg: SipLeg
    info: CallInfo
    task: asyncio.Task[None] | None = None
    answered: asyncio.Future[None] | None = None  # outbound: set on 2xx, error on failure

    @property
    def ringing(self) -> bool:
        return self.answered is not None and not self.answered.done()
