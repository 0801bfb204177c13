"""Two users calling through the Twilio simulator at once: the From number identifies each
(alice with a keypad PIN), and each hears and changes only their own tasks; an unknown
number is turned away politely. Real channel, real Runtime, real Task Manager; tone speech."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import websockets
from identity_support import (
    ALICE,
    ALICE_PIN,
    BOB,
    BUY_MILK,
    LIMIT_S,
    LIST,
    STRANGER,
    WALK_DOG,
    Caller,
    identity_runtime,
)
from providers_support import serve
from twilio_sim import (
    AUTH_TOKEN,
    StreamSim,
    call_completed,
    call_params,
    parse_twiml,
    signed_form,
)

from callport.channels.twilio.channel import TwilioChannel
from callport.config import Settings, TwilioSettings
from callport.server.runtime import Runtime

_sids = itertools.count(0xA11CE)


@asynccontextmanager
async def twilio(runtime: Runtime) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    uv, task, base = await serve(TwilioChannel(runtime=runtime))
    try:
        async with httpx.AsyncClient() as http:
            yield base, http
    finally:
        uv.should_exit = True
        await task


async def dial(base: str, http: httpx.AsyncClient, runtime: Runtime, number: str
               ) -> tuple[Caller, StreamSim]:  # fmt: skip
    """Twilio rings our voice webhook from ``number`` and opens the stream it was told to."""
    sid = f"CA{next(_sids):032x}"
    url = base + "/twilio/voice"
    body, headers = signed_form(url, call_params(sid, From=number))
    response = await http.post(url, content=body, headers=headers)
    assert response.status_code == 200, response.text
    twiml = parse_twiml(response.text)
    ws = await websockets.connect(twiml.url)
    sim = StreamSim(ws, call_sid=sid, stream_sid="MZ" + sid[2:], parameters=twiml.parameters)
    await sim.start()
    return Caller(runtime=runtime, number=number, send=sim.say, press_digit=sim.dtmf), sim


def settings() -> Settings:
    return dataclasses.replace(Settings(), twilio=TwilioSettings(auth_token=AUTH_TOKEN))


async def test_two_callers_each_see_only_their_own_tasks() -> None:
    runtime = await identity_runtime(settings())
    async with twilio(runtime) as (base, http), asyncio.timeout(4 * LIMIT_S):
        alice, alice_sim = await dial(base, http, runtime, ALICE)
        bob, bob_sim = await dial(base, http, runtime, BOB)

        async def alice_call() -> list[str]:
            await alice.answered()  # the PIN prompt
            assert alice.call is not None and alice.call.info.user is None
            await alice.press(ALICE_PIN + "#")
            return [await alice.say(BUY_MILK), await alice.say(LIST)]

        async def bob_call() -> list[str]:
            call = await bob.answered()  # no PIN: straight to the greeting
            assert call.info.user is not None and call.info.user.name == "bob"
            return [await bob.say(WALK_DOG), await bob.say(LIST)]

        alice_said, bob_said = await asyncio.gather(alice_call(), bob_call())
        for sim in (alice_sim, bob_sim):  # both hang up: Twilio reports each call over
            await sim.stop()
            await call_completed(http, base + "/twilio/status", sim.call_sid)
    assert alice.call is not None and alice.call.info.user is not None
    assert alice.call.info.user.name == "alice"
    assert alice_said[0] == "Added: buy milk." and bob_said[0] == "Added: walk the dog."
    assert "buy milk" in alice_said[1].lower() and "dog" not in alice_said[1].lower()
    assert "walk the dog" in bob_said[1].lower() and "milk" not in bob_said[1].lower()
    assert [t.title for t in await runtime.tasks.of("alice").list()] == ["buy milk"]
    assert [t.title for t in await runtime.tasks.of("bob").list()] == ["walk the dog"]
    assert await runtime.tasks.owners() == ["alice", "bob"]


async def test_unknown_number_is_turned_away_and_wrong_pins_end_the_call() -> None:
    runtime = await identity_runtime(settings())
    async with twilio(runtime) as (base, http), asyncio.timeout(3 * LIMIT_S):
        stranger, stranger_sim = await dial(base, http, runtime, STRANGER)
        call = await stranger.answered()
        assert call.ended and call.session.hangup_reason in {"unknown-caller", "stream-stopped"}
        assert call.info.user is None and call.turns == []
        alice, alice_sim = await dial(base, http, runtime, ALICE)
        await alice.answered()
        for pin in ("0000#", "1111#", "2222#"):
            await alice.press(pin)
        assert alice.call is not None and alice.call.ended and alice.call.info.user is None
        for sim in (stranger_sim, alice_sim):  # we ended both: Twilio reports them over
            await sim.close()
            await call_completed(http, base + "/twilio/status", sim.call_sid)
    assert await runtime.tasks.owners() == []
    records = {r.caller: r for r in await runtime.calls.list_recent()}
    assert {n: r.status for n, r in records.items()} == {STRANGER: "completed",
                                                          ALICE: "completed"}
    assert records[STRANGER].hangup_cause in {"unknown-caller", "stream-stopped"}
    assert records[ALICE].hangup_cause == "pin-failed"
