"""A PSTN channel's calls as recorded: its ``CallBook`` and their mirror in the ``CallStore``.

The driver-side companion of ``callport.channels.callbook`` (which stays pure): every change
goes to the book first, then to the runtime's ``CallStore`` when it has one, so Twilio,
Telnyx and any next provider record their calls the same way:

- a call is created in the store when the book enters it (the provider's id is added once
  known), with the channel name as ``channel``;
- each provider callback moves the stored status (an ending the store does not know as
  terminal, such as ``stream-stopped``, is stored as ``ended``) and adds an event whose detail
  is the book's log line;
- a transfer and our own decision that a call ended are events too;
- a call that ends before a stream ran it (refused at capacity, hung up while ringing, an
  outbound call the callee did not answer) gets the provider's cause (or ours) as its
  ``hangup_cause``; a call that ran gets the session's reason from ``Runtime.run_call``.

Store trouble is logged, never raised: a failing database must not drop a live call. Stream
admission is synchronous (``run_media_stream``'s ``admit``), so what it records is written by
a background task (``settle`` waits for those).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from callport.agents.base import CallInfo
from callport.call.leg import Leg
from callport.channels.callbook import CallBook, ProviderCall, StreamGrant
from callport.channels.media_stream import Admission
from callport.channels.provider import CallControl, CallEnded, CallEvent, MachineDetected
from callport.config import Settings
from callport.store.calls import TERMINAL, CallRecord, CallStore
from callport.store.tasks import local_now

__all__ = ["CallRecords", "CallRunner"]

log = logging.getLogger(__name__)


class CallRunner(Protocol):
    """What a PSTN channel needs of ``callport.server.runtime.Runtime``; its ``calls``
    (a ``CallStore``) is used when present."""

    @property
    def settings(self) -> Settings: ...

    async def run_call(self, leg: Leg, info: CallInfo) -> object: ...


class CallRecords:
    """One channel's calls: the book (``self.book``) and the store behind it."""

    def __init__(
        self, *, book: CallBook, store: CallStore | None, clock: Callable[[], float]
    ) -> None:
        self.book = book
        self._store = store
        self._clock = clock
        self._background: set[asyncio.Task[None]] = set()

    # ---------------------------------------------------------------- book + store

    async def enter(self, call: ProviderCall) -> ProviderCall:
        """Enter ``call`` in the book (a known one is kept) and create its stored record."""
        call = self.book.enter(call, now=self._clock())
        await self._opened(call)
        return call

    async def apply(self, event: CallEvent) -> ProviderCall | None:
        """Record one provider callback; None when the call is unknown to this process."""
        call = self.book.apply(event, now=self._clock())
        if call is None:
            log.info("%s: callback for unknown call %s", self.book.provider,
                     event.provider_call_id or event.call_id)
            return None
        await self._logged(call, type(event).__name__)
        if isinstance(event, CallEnded):
            await self._unrun_cause(call, event.cause or event.reason)
        if isinstance(event, MachineDetected) and self._store is not None:  # provider AMD
            from callport.audio.amd import provider_result

            try:
                await self._store.amend(call.call_id, amd=provider_result(event.answered_by))
            except Exception:
                log.exception("call %s: could not record the AMD result", call.call_id)
        return call

    async def ended(self, call: ProviderCall, *, reason: str) -> None:
        """The call is over although the provider has not said so (answer failed, ...)."""
        if call.ended:
            return
        self.book.ended(call, reason=reason, now=self._clock())
        await self._logged(call, "ended")
        await self._unrun_cause(call, reason)

    def admit(
        self,
        grant: StreamGrant,
        *,
        provider_call_id: str,
        control: CallControl | None,
        caller: str = "",
        callee: str = "",
    ) -> Admission | None:
        """Admit a stream whose token the provider module checked (see ``CallBook.admit``).

        ``CallInfo.caller``/``callee`` are the provider's From/To as its signed webhook (or our
        own dial, or the signed token) recorded them; ``caller``/``callee`` (what the stream's
        start says) only fill in what the record lacks. Inbound: caller = the party that
        called, callee = our number; outbound: caller = our number, callee = who we dialled.
        """
        call = self.book.admit(grant, provider_call_id=provider_call_id, now=self._clock())
        if call is None:
            return None
        self._soon(self._streaming(call))

        def on_transfer(target: str | None) -> None:
            if target is None:  # the carrier refused: the call stays ours, no handoff
                call.handoff = None
                return
            self.book.handed_off(call, target, now=self._clock())
            self._soon(self._logged(call, "transfer"))

        info = CallInfo(call_id=call.call_id, channel=self.book.provider,
                        caller=call.caller or caller, callee=call.callee or callee,
                        direction=call.direction)
        return Admission(info=info, control=control, on_transfer=on_transfer)

    async def settle(self) -> None:
        """Wait for the store writes admission and transfers started."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # ---------------------------------------------------------------- store

    async def _opened(self, call: ProviderCall) -> None:
        if self._store is None:
            return
        try:
            known = await self._store.get(call.call_id)
            if known is None:
                await self._store.create(
                    CallRecord(
                        call_id=call.call_id,
                        channel=call.provider,
                        direction=call.direction,
                        caller=call.caller,
                        callee=call.callee,
                        provider_call_id=call.provider_call_id,
                        status=_stored_status(call),
                        started_at=local_now(),
                    )
                )
            elif call.provider_call_id and known.provider_call_id != call.provider_call_id:
                await self._store.set_provider_id(call.call_id, call.provider_call_id)
        except Exception:
            log.exception("call %s: could not record the call", call.call_id)

    async def _streaming(self, call: ProviderCall) -> None:
        """The admitted call's record: made if missing, and in progress (media flows)."""
        await self._opened(call)
        await self._logged(call, "stream")

    async def _logged(self, call: ProviderCall, kind: str) -> None:
        """Store the call's status and its latest log line as a ``kind`` event."""
        if self._store is None:
            return
        try:
            at = local_now()
            await self._store.update_status(call.call_id, _stored_status(call), at=at)
            await self._store.add_event(call.call_id, kind, call.log[-1][1] if call.log else "",
                                        at=at)
        except Exception:
            log.exception("call %s: could not record %s", call.call_id, kind)

    async def _unrun_cause(self, call: ProviderCall, cause: str) -> None:
        """The hang-up cause of a call that ended before any stream ran it (refused busy,
        hung up while ringing, an outbound call that failed); a call that ran gets the
        session's reason from ``Runtime.run_call``."""
        if self._store is None or call.streamed or not cause:
            return
        try:
            record = await self._store.get(call.call_id)
            if record is not None and not record.hangup_cause:
                await self._store.amend(call.call_id, hangup_cause=cause[:80])
        except Exception:
            log.exception("call %s: could not record its hang-up cause", call.call_id)

    def _soon(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _stored_status(call: ProviderCall) -> str:
    if call.ended and call.status not in TERMINAL:
        return "ended"
    return call.status
