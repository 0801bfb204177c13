"""The live event hub contract (``server.events``): every ``EventHub`` implementation runs
these (``MemoryHub`` now; a Redis hub joins the parameter list)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from callport.server.events import (
    CallEnded,
    CallStarted,
    EventHub,
    MemoryHub,
    TurnHeard,
    event_json,
)

HUBS: list[Callable[[], EventHub]] = [lambda: MemoryHub(queue_size=3)]


@pytest.fixture(params=HUBS)
def hub(request: pytest.FixtureRequest) -> EventHub:
    made: EventHub = request.param()
    return made


async def test_subscribers_get_events_from_subscription_on_in_order(hub: EventHub) -> None:
    hub.publish(CallStarted(call_id="early", channel="sip"))  # before anyone listened: gone
    a, b = hub.subscribe(), hub.subscribe()
    hub.publish(CallStarted(call_id="c1", channel="sip", caller="+15550100"))
    hub.publish(TurnHeard(call_id="c1", text="hello"))
    for sub in (a, b):
        first, second = await sub.next(1), await sub.next(1)
        assert isinstance(first, CallStarted) and first.call_id == "c1"
        assert isinstance(second, TurnHeard) and second.text == "hello"
        assert await sub.next(0.01) is None  # nothing more: a timeout, not a hang
    a.close()
    b.close()


async def test_a_filter_and_close(hub: EventHub) -> None:
    mine = hub.subscribe(lambda e: e.call_id == "mine")
    hub.publish(TurnHeard(call_id="other", text="not for you"))
    hub.publish(TurnHeard(call_id="mine", text="yours"))
    got = await mine.next(1)
    assert isinstance(got, TurnHeard) and got.text == "yours"
    mine.close()
    hub.publish(TurnHeard(call_id="mine", text="after close"))  # no error, nobody gets it
    assert await mine.next(0.01) is None


async def test_a_stalled_subscriber_loses_its_oldest_events_not_the_call(hub: EventHub) -> None:
    slow = hub.subscribe()
    for n in range(10):  # publish never blocks, whatever the subscriber does
        hub.publish(TurnHeard(call_id="c", text=str(n)))
    texts = []
    while (event := await slow.next(0.01)) is not None:
        assert isinstance(event, TurnHeard)
        texts.append(event.text)
    assert texts == ["7", "8", "9"] and slow.dropped == 7
    slow.close()


def test_the_wire_form_names_the_event_type() -> None:
    data = event_json(CallEnded(call_id="c9", cause="console", at=12.5))
    assert data == {"type": "CallEnded", "call_id": "c9", "at": 12.5, "node": "",
                    "cause": "console"}
