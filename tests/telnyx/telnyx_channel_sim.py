"""A Telnyx channel on a Starlette test client against a simulated Telnyx: signed webhooks
(``telnyx_sim.Signer``), a Call Control stand-in (``httpx.MockTransport`` recording every
command), an echo call flow, and a clock the test moves."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from providers_support import echo
from starlette.applications import Starlette
from starlette.testclient import TestClient
from telnyx_sim import Signer, event_body

from callport.agents.base import CallInfo
from callport.call.leg import Leg
from callport.channels.telnyx.channel import TelnyxChannel
from callport.channels.telnyx.rest import TelnyxCallControl
from callport.config import Settings, TelnyxSettings

__all__ = ["CCID", "NOW", "Clock", "EchoRunner", "FakeTelnyxApi", "Sim", "make_sim"]

NOW = 1_760_000_000
CCID = "v3:inbound-1"


@dataclass
class Clock:
    now: float = float(NOW)

    def __call__(self) -> float:
        return self.now


@dataclass
class EchoRunner:
    """A call flow that echoes caller audio, marks every 5 frames, hangs up on '#'."""

    settings: Settings
    infos: list[CallInfo] = field(default_factory=list)
    events: list[object] = field(default_factory=list)

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        self.infos.append(info)
        await echo(leg, self.events.append, mark_every=5, hangup_reason="agent")


class FakeTelnyxApi:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, object]]] = []
        self.hangup_status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.headers["authorization"] == "Bearer KEY"
        self.requests.append((request.url.path, body))
        if request.url.path.endswith("/hangup") and self.hangup_status == 422:
            return httpx.Response(422, json={"errors": [{"code": "90018",
                                                         "title": "Call has already ended"}]})
        return httpx.Response(200, json={"data": {"result": "ok"}})

    @property
    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


@dataclass
class Sim:
    client: TestClient
    api: FakeTelnyxApi
    runner: EchoRunner
    signer: Signer
    channel: TelnyxChannel
    clock: Clock

    def post(self, body: bytes, *, timestamp: int | None = None, signer: Signer | None = None,
             path: str = "/telnyx/webhook") -> httpx.Response:
        when = int(self.clock.now) if timestamp is None else timestamp
        headers = (signer or self.signer).headers(body, timestamp=when)
        return self.client.post(path, content=body, headers=headers)

    def ring(self) -> dict[str, object]:
        """An inbound call.initiated; returns the body of the answer command it caused."""
        r = self.post(event_body("call.initiated", CCID, direction="incoming",
                                 **{"from": "+15550001111", "to": "+15550002222"}))
        assert r.status_code == 200
        path, answer = self.api.requests[-1]
        assert path == f"/v2/calls/{CCID}/actions/answer"
        return answer


def make_sim(codec: str = "PCMU", *, public_key: bool = True, **settings_kw: Any) -> Sim:
    """A channel configured as in production (API key, webhook public key) on a test client;
    ``public_key=False`` leaves the key unset (the default configuration)."""
    signer = Signer()
    settings = Settings(telnyx=TelnyxSettings(
        api_key="KEY", public_key=signer.public_b64 if public_key else "",
        public_base_url="https://gw.example", api_base_url="http://telnyx.local", codec=codec,
        **settings_kw))
    api = FakeTelnyxApi()
    control = TelnyxCallControl(api_key="KEY", base_url="http://telnyx.local", codec=codec,
                                http=httpx.AsyncClient(transport=httpx.MockTransport(api)))
    runner = EchoRunner(settings)
    clock = Clock()
    channel = TelnyxChannel(runner=runner, control=control, clock=clock)
    client = TestClient(Starlette(routes=list(channel.routes())))
    return Sim(client=client, api=api, runner=runner, signer=signer, channel=channel,
               clock=clock)
