"""``routing.failed.Unrouted``: one carrier's Dialer whose failed dials leave one closed record
like a routed call's single attempt; an answered call gets none from it (its channel or the
runtime makes that one under the same call id)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from callport.call.dial import Answered, DialCause, DialFailed, DialOptions, DialResult
from callport.routing.failed import Unrouted
from callport.store.calls import CallRecord, MemoryCallStore

T0 = datetime(2026, 12, 2, 8, 0, 0)


class Scripted:
    """A dialer that answers what it is given (or raises it)."""

    name = "sip"

    def __init__(self, result: DialResult | Exception) -> None:
        self.result = result

    async def dial(self, target: str, caller_id: str = "",
                   options: DialOptions | None = None) -> DialResult:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def clock() -> Callable[[], datetime]:
    ticks = iter(range(100))
    return lambda: T0 + timedelta(seconds=next(ticks))


async def test_a_busy_dial_leaves_one_closed_record() -> None:
    calls = MemoryCallStore()
    busy = DialFailed(carrier="sip", cause=DialCause.BUSY, detail="Busy Here", sip_status=486)
    dialer = Unrouted(Scripted(busy), carrier="sip", calls=lambda: calls,
                      now=clock())
    result = await dialer.dial("sip:bob@192.0.2.1", "+15550001")
    assert isinstance(result, DialFailed) and result.cause is DialCause.BUSY and result.call_id
    [r] = await calls.list_calls()
    assert r.call_id == result.call_id and r.direction == "outbound"
    assert (r.caller, r.callee, r.channel, r.carrier) == ("+15550001", "sip:bob@192.0.2.1",
                                                          "sip", "sip")
    assert r.status == "busy" and r.disposition == "busy"
    assert r.started_at == T0 and r.ended_at is not None and r.ended_at > T0
    assert r.hangup_cause == busy.describe()
    [a] = r.attempts
    assert (a.carrier, a.outcome, a.cause) == ("sip", "failed", "sip 486 Busy Here")


async def test_the_dialers_own_record_is_ended_not_doubled() -> None:
    calls = MemoryCallStore()
    await calls.create(CallRecord(call_id="c1", channel="twilio", direction="outbound",
                                  callee="+15550002", status="ringing", started_at=T0))
    failed = DialFailed(carrier="twilio", cause=DialCause.CARRIER_ERROR, http_status=500,
                        call_id="c1")
    result = await Unrouted(Scripted(failed), carrier="twilio",
                            calls=lambda: calls).dial("+15550002")
    assert isinstance(result, DialFailed) and result.call_id == "c1"
    [r] = await calls.list_calls()
    assert r.call_id == "c1" and r.status == "failed" and r.disposition == "failed"
    assert [a.cause for a in r.attempts] == ["http 500"]


async def test_an_answered_call_gets_no_record_from_it() -> None:
    calls = MemoryCallStore()
    answered = Answered(carrier="sip", call_id="a1", provider_call_id="a1")
    assert await Unrouted(Scripted(answered), carrier="sip",
                          calls=lambda: calls).dial("sip:bob@192.0.2.1") is answered
    assert await calls.list_calls() == []


async def test_a_raising_dialer_is_a_recorded_carrier_error() -> None:
    calls = MemoryCallStore()
    result = await Unrouted(Scripted(RuntimeError("boom")), carrier="telnyx",
                            calls=lambda: calls).dial("+15550003")
    assert isinstance(result, DialFailed) and result.cause is DialCause.CARRIER_ERROR
    [r] = await calls.list_calls()
    assert r.carrier == "telnyx" and r.status == "failed" and "boom" in r.hangup_cause


async def test_no_store_or_a_broken_one_still_says_why_the_call_failed() -> None:
    busy = DialFailed(carrier="sip", cause=DialCause.BUSY, sip_status=486)
    assert await Unrouted(Scripted(busy), carrier="sip",
                          calls=lambda: None).dial("sip:bob@192.0.2.1") == busy

    class Broken(MemoryCallStore):
        async def create(self, record: CallRecord) -> CallRecord:
            raise OSError("disk full")

    result = await Unrouted(Scripted(busy), carrier="sip",
                            calls=lambda: Broken()).dial("sip:bob@192.0.2.1")
    assert result == busy
