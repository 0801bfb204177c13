"""Two users calling through the Telnyx simulator at once: the signed webhook's ``from``
identifies each (alice with a keypad PIN, sent as stream ``dtmf`` events), and each hears and
changes only their own tasks, even though every stream's ``start`` frame claims the same
number; an unknown number is turned away. Real channel, Runtime and Task Manager."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
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
from telnyx_sim import Signer, event_body
from telnyx_support import TelnyxApi, TelnyxStream, serve

from callport.channels.telnyx.channel import TelnyxChannel
from callport.channels.telnyx.rest import TelnyxCallControl
from callport.config import Settings, TelnyxSettings
from callport.server.runtime import Runtime

_ccids = itertools.count(1)


@dataclass
class Telnyx:
    base: str
    http: httpx.AsyncClient
    api: TelnyxApi
    signer: Signer
    runtime: Runtime

    async def webhook(self, body: bytes) -> None:
        headers = self.signer.headers(body, timestamp=int(time.time()))
        r = await self.http.post(self.base + "/telnyx/webhook", content=body, headers=headers)
        assert r.status_code == 200, r.text

    async def dial(self, number: str) -> tuple[Caller, TelnyxStream]:
        """An incoming call from ``number``: webhook, our answer, the media stream."""
        ccid = f"v3:identity-{next(_ccids)}"
        await self.webhook(event_body("call.initiated", ccid, direction="incoming",
                                      **{"from": number, "to": "+15550000000"}))  # fmt: skip
        answer = self.api.answer_for(ccid)
        call_id = base64.b64decode(str(answer["client_state"])).decode()
        stream = await TelnyxStream.open(
            str(answer["stream_url"]), token=str(answer["stream_auth_token"]), ccid=ccid,
            call_id=call_id, codec="PCMU", rate=8000,
        )  # the start frame says from=+15550001111 whoever called: the webhook is the truth

        async def press(digit: str) -> None:
            await stream._send({"event": "dtmf", "dtmf": {"digit": digit}})

        caller = Caller(runtime=self.runtime, number=number, send=stream.say, press_digit=press)
        return caller, stream

    async def hung_up(self, stream: TelnyxStream, *, source: str) -> None:
        """Telnyx reports the call over (``call.hangup``), whoever hung up (``source``)."""
        await self.webhook(event_body("call.hangup", stream.ccid, client_state=stream.call_id,
                                      hangup_cause="normal_clearing", hangup_source=source))


@asynccontextmanager
async def telnyx() -> AsyncIterator[Telnyx]:
    signer = Signer()
    settings = dataclasses.replace(Settings(), telnyx=TelnyxSettings(
        api_key="KEY", public_key=signer.public_b64, api_base_url="http://telnyx.local"))
    runtime = await identity_runtime(settings)
    api = TelnyxApi("KEY")
    control = TelnyxCallControl(api_key="KEY", base_url="http://telnyx.local", codec="PCMU",
                                http=httpx.AsyncClient(transport=httpx.MockTransport(api)))
    uv, task, base = await serve(TelnyxChannel(runner=runtime, control=control))
    try:
        async with httpx.AsyncClient() as http:
            yield Telnyx(base=base, http=http, api=api, signer=signer, runtime=runtime)
    finally:
        uv.should_exit = True
        await task


async def test_two_callers_each_see_only_their_own_tasks() -> None:
    async with telnyx() as tx, asyncio.timeout(4 * LIMIT_S):
        alice, alice_stream = await tx.dial(ALICE)
        bob, bob_stream = await tx.dial(BOB)

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
        for stream in (alice_stream, bob_stream):  # both hang up
            await stream.stop()
            await tx.hung_up(stream, source="caller")
        tasks = tx.runtime.tasks
    assert alice.call is not None and alice.call.info.user is not None
    assert alice.call.info.user.name == "alice"
    assert alice_said[0] == "Added: buy milk." and bob_said[0] == "Added: walk the dog."
    assert "buy milk" in alice_said[1].lower() and "dog" not in alice_said[1].lower()
    assert "walk the dog" in bob_said[1].lower() and "milk" not in bob_said[1].lower()
    assert [t.title for t in await tasks.of("alice").list()] == ["buy milk"]
    assert [t.title for t in await tasks.of("bob").list()] == ["walk the dog"]


async def test_unknown_number_is_turned_away() -> None:
    async with telnyx() as tx, asyncio.timeout(2 * LIMIT_S):
        stranger, stream = await tx.dial(STRANGER)
        call = await stranger.answered()
        assert call.ended and call.info.user is None and call.turns == []
        await stream.close()
        await tx.hung_up(stream, source="callee")  # after our REST hang-up
        assert await tx.runtime.tasks.owners() == []
        (record,) = await tx.runtime.calls.list_recent()
        assert (record.status, record.caller) == ("completed", STRANGER)
        assert record.hangup_cause
