"""Mirror of the Twilio call book into the runtime's ``CallStore`` (when it has one).

Store trouble is logged, never raised: a failing database must not drop a live call.
"""

from __future__ import annotations

import logging
from datetime import datetime

from callport.channels.twilio.book import TwilioCall
from callport.store.calls import CallRecord, CallStore
from callport.store.tasks import local_now

log = logging.getLogger(__name__)


class CallRecords:
    def __init__(self, store: CallStore | None, *, channel: str = "twilio") -> None:
        self._store = store
        self._channel = channel

    async def opened(self, call: TwilioCall) -> None:
        if self._store is None:
            return
        try:
            if await self._store.get(call.call_id) is None:
                await self._store.create(
                    CallRecord(
                        call_id=call.call_id,
                        channel=self._channel,
                        direction=call.direction,
                        caller=call.caller,
                        callee=call.callee,
                        provider_call_id=call.provider_call_id,
                        status=call.status,
                        started_at=local_now(),
                    )
                )
            elif call.provider_call_id:
                await self._store.set_provider_id(call.call_id, call.provider_call_id)
        except Exception:
            log.exception("call %s: could not record the call", call.call_id)

    async def status(self, call: TwilioCall, kind: str, detail: str = "") -> None:
        if self._store is None:
            return
        try:
            at: datetime = local_now()
            await self._store.update_status(call.call_id, call.status, at=at)
            await self._store.add_event(call.call_id, kind, detail, at=at)
        except Exception:
            log.exception("call %s: could not record %s", call.call_id, kind)

    async def event(self, call_id: str, kind: str, detail: str = "") -> None:
        if self._store is None:
            return
        try:
            await self._store.add_event(call_id, kind, detail)
        except Exception:
            log.exception("call %s: could not record %s", call_id, kind)
