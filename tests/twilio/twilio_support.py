"""Fixtures: a Twilio channel on a real uvicorn server (127.0.0.1, random port) and flows."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from providers_support import serve
from twilio_sim import AUTH_TOKEN, StreamSim, call_params, parse_twiml, signed_form

from callport.agents.base import CallInfo
from callport.call.leg import Leg
from callport.channels.twilio.channel import TwilioChannel
from callport.config import Settings, TwilioSettings

Flow = Callable[[Leg, CallInfo], Awaitable[None]]
_sids = itertools.count(1)


@dataclass
class FakeRuntime:
    """Stands in for ``callport.server.runtime.Runtime``: settings, ``run_call``, ``tokens``."""

    settings: Settings
    flow: Flow | None = None
    tokens: Any = None  # a TokenStore for the calls API, when a test gives one
    started: list[tuple[Leg, CallInfo]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        self.started.append((leg, info))
        try:
            if self.flow is not None:
                await self.flow(leg, info)
        finally:
            self.finished.append(info.call_id)


def twilio_settings(**overrides: Any) -> Settings:
    twilio = TwilioSettings(**{"auth_token": AUTH_TOKEN, **overrides})
    return dataclasses.replace(Settings(), twilio=twilio)


@dataclass
class Server:
    base: str  # http://127.0.0.1:PORT
    channel: TwilioChannel
    runtime: FakeRuntime
    http: httpx.AsyncClient

    @property
    def ws_base(self) -> str:
        return "ws://" + self.base.removeprefix("http://")

    async def post_signed(self, path: str, params: dict[str, str], **kw: Any) -> httpx.Response:
        url = self.base + path
        body, headers = signed_form(url, params, **kw)
        return await self.http.post(url, content=body, headers=headers)

    async def dial_in(self, call_sid: str | None = None) -> tuple[str, dict[str, str]]:
        """Ring the voice webhook; returns (CallSid, stream parameters)."""
        sid = call_sid or f"CA{next(_sids):032x}"
        response = await self.post_signed("/twilio/voice", call_params(sid))
        assert response.status_code == 200, response.text
        twiml = parse_twiml(response.text)
        assert twiml.url == self.ws_base + "/twilio/media"
        return sid, twiml.parameters

    async def open_stream(
        self, call_sid: str, parameters: dict[str, str], *, realtime: bool = True
    ) -> StreamSim:
        ws = await websockets.connect(self.ws_base + "/twilio/media")
        sim = StreamSim(
            ws,
            call_sid=call_sid,
            stream_sid="MZ" + call_sid[2:],
            parameters=parameters,
            realtime=realtime,
        )
        await sim.start()
        return sim

    async def call(self, *, realtime: bool = True) -> StreamSim:
        sid, params = await self.dial_in()
        return await self.open_stream(sid, params, realtime=realtime)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    runtime = FakeRuntime(settings=twilio_settings())
    channel = TwilioChannel(runtime=runtime)
    uv, task, base = await serve(channel)
    async with httpx.AsyncClient() as http:
        yield Server(base=base, channel=channel, runtime=runtime, http=http)
    uv.should_exit = True
    await task
