"""Listen in and whisper from the console: admins only (anonymous 401, agents and users 403),
and end to end over the browser channel's WebSocket transport: the supervisor hears both
parties of a bridged call, and its whisper reaches the agent's leg but not the caller's."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
from test_console_api import BASE, auth, live_call, setup

from callport.call.bridge import Bridge
from callport.call.memory import MemoryLeg
from callport.call.taps import Direction
from callport.queues.reach import answered_session
from callport.server.app import create_app
from callport.server.csrf import SESSION_COOKIE
from callport.store.calls import CallRecord

ORIGIN = {"origin": BASE}


def chirp(f0: float, f1: float, seconds: float, rate: int) -> np.ndarray:
    n = int(seconds * rate)
    return (6000 * np.sin(2 * np.pi * np.cumsum(np.linspace(f0, f1, n)) / rate)).astype(np.int16)


def corr(short: np.ndarray, long_: np.ndarray) -> float:
    a = short.astype(np.float64) - short.mean()
    b = long_.astype(np.float64)
    if len(b) < len(a):
        return 0.0
    full = np.correlate(b, a, mode="valid")
    win = np.sqrt(np.convolve(b**2, np.ones(len(a)), "valid") * np.sum(a**2))
    return float(np.max(full / np.maximum(win, 1e-9)))


async def test_listen_and_whisper_doors(tmp_path: Path) -> None:
    runtime, tokens = await setup(tmp_path)
    app = create_app(runtime, channels=[])
    call, _leg = live_call(runtime, "solo", caller="+15550100", user=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        for path in ("/api/console/calls/solo/listen", "/api/console/calls/solo/whisper"):
            assert (await c.post(path, json={}, headers=ORIGIN)).status_code == 401, path
            for who in ("plain", "alice"):
                r = await c.post(path, json={}, headers={**ORIGIN, **auth(tokens[who])})
                assert r.status_code == 403, (path, who)
        root = {**ORIGIN, **auth(tokens["root"])}
        r = await c.post("/api/console/calls/gone/listen", json={}, headers=root)
        assert r.status_code == 404
        r = await c.post("/api/console/calls/solo/listen", json={}, headers=root)
        assert r.status_code == 409 and "bridged" in r.json()["error"]  # with the bot, no one
        r = await c.post("/api/console/calls/solo/whisper", json={"on": True}, headers=root)
        assert r.status_code == 409  # not listening
        r = await c.post("/api/console/calls/solo/whisper", json={"on": "yes"}, headers=root)
        assert r.status_code == 400
    await call.session.hangup("test")
    await call.session.close()
    runtime.active.pop("solo", None)
    await runtime.calls.update_status("solo", "completed")


def _frames(ws: Any, count: int) -> np.ndarray:
    got: list[bytes] = []
    while len(got) < count:
        message = ws.receive()
        assert message["type"] != "websocket.close", message
        if message.get("bytes"):
            got.append(message["bytes"])
    return np.frombuffer(b"".join(got), dtype="<i2")


@pytest.mark.timeout(60)
def test_supervisor_hears_both_and_whispers_to_the_agent_over_the_websocket(
        tmp_path: Path) -> None:
    runtime, _tokens = asyncio.run(setup(tmp_path))
    app = create_app(runtime, channels=[])
    root = ORIGIN  # the console page's own origin and its signed-in session cookie
    signed_in = asyncio.run(runtime.tokens.create("root", kind="session", ttl_s=600,
                                                  now=time.time()))
    with TestClient(app, base_url=BASE) as client:
        client.cookies.set(SESSION_COOKIE, signed_in.secret)
        portal = client.portal
        assert portal is not None
        made: dict[str, Any] = {}

        async def bridge_up() -> None:
            await runtime.calls.create(CallRecord(call_id="q1", channel="sip",
                                                  caller="+15550100",
                                                  started_at=datetime.now().astimezone()))
            call, leg_a = live_call(runtime, "q1", caller="+15550100", user=None)
            leg_b = MemoryLeg(call_id="agent-leg", sample_rate=16000)
            agent = answered_session(leg_b, metrics=runtime.metrics)
            bridge = Bridge(a=call.session, b=agent)
            made.update(call=call, a=leg_a, b=leg_b, bridge=bridge,
                        run=asyncio.ensure_future(bridge.run()))
            await asyncio.sleep(0.05)

        portal.call(bridge_up)
        bridge_taps = made["call"].session.tap_count(Direction.IN)  # the bridge's own
        leg_a, leg_b = made["a"], made["b"]
        r = client.post("/api/console/calls/q1/listen", json={}, headers=root)
        assert r.status_code == 200, r.text
        url = f"ws://localhost:8080/api/console/calls/q1/listen/media?token={r.json()['token']}"
        with client.websocket_connect(url, headers=root) as ws:
            ws.send_text(json.dumps({"type": "start", "sample_rate": 16000, "gated": False}))
            assert ws.receive_json()["type"] == "ready"

            async def listening() -> None:  # "ready" comes before the mix taps the parties
                async with asyncio.timeout(10):
                    while made["call"].session.tap_count(Direction.IN) <= bridge_taps:
                        await asyncio.sleep(0.01)

            portal.call(listening)
            caller_says = chirp(300, 3000, 0.5, 16000)
            portal.call(leg_a.speak, caller_says, 16000)
            heard = _frames(ws, 20)
            assert corr(caller_says[:6000], heard) > 0.9  # the caller, through the bridge
            agent_says = chirp(3200, 250, 0.5, 16000)
            portal.call(leg_b.speak, agent_says, 16000)
            heard = _frames(ws, 25)  # the caller's last frames, then the agent
            assert corr(agent_says[:6000], heard) > 0.9  # and the agent
            # a replayed token is refused
            with pytest.raises(WebSocketDisconnect), client.websocket_connect(url, headers=root):
                pass
            to_a, to_b = len(leg_a.sent), len(leg_b.sent)
            r = client.post("/api/console/calls/q1/whisper", json={"on": True}, headers=root)
            assert r.status_code == 200 and r.json()["whisper"] is True
            coach = chirp(500, 2500, 0.4, 16000)
            for i in range(0, len(coach), 320):
                ws.send_bytes(coach[i:i + 320].astype("<i2").tobytes())

            async def agent_heard() -> None:
                async with asyncio.timeout(10):
                    while len(leg_b.sent) < to_b + 18:
                        await asyncio.sleep(0.01)
                await asyncio.sleep(0.1)

            portal.call(agent_heard)
            got = leg_b.output()[to_b * 320:]
            assert corr(coach[:4000], got) > 0.9  # the agent heard the supervisor
            assert len(leg_a.sent) == to_a  # the caller did not
            ws.send_text(json.dumps({"type": "hangup"}))

        async def bridge_down() -> None:
            made["call"].session.leg.caller_hangup()
            await asyncio.wait_for(made["run"], 5)
            await made["call"].session.close()
            runtime.active.pop("q1", None)
            await runtime.calls.update_status("q1", "completed")

        portal.call(bridge_down)
    events = asyncio.run(runtime.calls.events("q1"))
    assert ("supervisor", "root listening") in [(e.kind, e.detail) for e in events]
