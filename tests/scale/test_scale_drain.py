"""Drain mode (``callport.server.drain``): ``POST /api/admin/drain`` (admins only) or SIGUSR1
closes the door: live calls finish, new calls are refused the way capacity refusals are (SIP
503 + Retry-After, the busy phrase at the runtime), ``/readyz`` 503 with ``"draining": true``,
``/healthz`` stays 200."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "server"))
sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
sys.path.insert(0, str(Path(__file__).parents[1] / "call"))

from call_fakes import ToneTTS
from server_support import add_user, api_token, client_of, runtime_at
from test_capacity import make_runtime, start
from test_sip_capacity import first_final

from callport.config import ServerSettings, Settings, SipSettings
from callport.server.app import create_app
from callport.server.capacity import BUSY_CAUSE, BUSY_PHRASE, DRAINING
from callport.server.drain import DRAIN_PATH, on_sigusr1
from callport.server.runtime import Runtime


def test_the_drain_door_is_for_admins_only(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path, {"CALLPORT_NODE_ID": "n1"})
    add_user(runtime, "ann", roles=("admin",))
    add_user(runtime, "bob")
    with client_of(runtime) as client:
        assert client.post(DRAIN_PATH, json={}).status_code == 401
        assert client.get(DRAIN_PATH).status_code == 401
        bob = {"authorization": f"Bearer {api_token(runtime, 'bob')}"}
        assert client.post(DRAIN_PATH, headers=bob, json={}).status_code == 403
        assert client.get(DRAIN_PATH, headers=bob).status_code == 403
        assert client.post(DRAIN_PATH, headers={"authorization": "Bearer nope"},
                           json={}).status_code == 401
        assert not runtime.drained
        assert client.get("/readyz").json() == {"ready": True, "draining": False}


def test_drain_turns_readiness_off_and_health_stays_up(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path, {"CALLPORT_NODE_ID": "n1"})
    add_user(runtime, "ann", roles=("admin",))
    with client_of(runtime) as client:
        ann = {"authorization": f"Bearer {api_token(runtime, 'ann')}"}
        as_json = {**ann, "content-type": "application/json"}
        bad = client.post(DRAIN_PATH, headers=as_json, content=b'{"draining": "yes"}')
        assert bad.status_code == 400 and not runtime.drained
        assert client.post(DRAIN_PATH, headers=as_json, content=b"[1").status_code == 400
        done = client.post(DRAIN_PATH, headers=ann, json={})
        assert done.status_code == 200
        assert done.json() == {"node": "n1", "draining": True, "active_calls": 0}
        assert runtime.drained
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "reason": "draining", "draining": True}
        assert int(ready.headers["retry-after"]) > 0
        assert client.get("/healthz").status_code == 200
        health = client.get("/healthz", headers=ann)
        assert health.status_code == 200 and health.json()["draining"] is True
        assert "callport_draining 1" in client.get("/metrics", headers=ann).text
        assert client.get(DRAIN_PATH, headers=ann).json()["draining"] is True
        back = client.post(DRAIN_PATH, headers=ann, json={"draining": False})
        assert back.json()["draining"] is False and not runtime.drained
        assert client.get("/readyz").status_code == 200
        assert "callport_draining 0" in client.get("/metrics", headers=ann).text


def test_sigusr1_puts_the_node_in_drain_mode(tmp_path: Path) -> None:
    runtime = runtime_at(tmp_path)
    previous = signal.signal(signal.SIGUSR1, on_sigusr1(runtime))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        for _ in range(100):  # the handler runs in the main thread, between bytecodes
            if runtime.drained:
                break
            time.sleep(0.01)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert runtime.drained
    verdict = runtime.refusal()
    assert verdict is not None and verdict.reason == DRAINING and verdict.retry_after_s > 0


async def test_live_calls_finish_and_new_ones_hear_busy() -> None:
    tts = ToneTTS()
    runtime = make_runtime(tts, max_conversations=10)
    leg_a, call_a, task_a = await start(runtime, "a")
    async with asyncio.timeout(10):
        await call_a.listening.wait()
    runtime.drained = True
    _leg_b, _call_b, task_b = await start(runtime, "b")
    async with asyncio.timeout(10):
        call_b = await task_b
    assert call_b.session.hangup_reason == BUSY_CAUSE and call_b.turns == []
    assert BUSY_PHRASE.split(".")[0] in tts.spoken
    await asyncio.sleep(0.2)
    assert not task_a.done() and leg_a.hung_up_reason is None  # the live call goes on
    leg_a.caller_hangup()
    async with asyncio.timeout(10):
        await task_a
    assert runtime.active == {}


async def test_a_drained_node_answers_sip_503_with_retry_after() -> None:
    from callport.channels.sip.channel import SipChannel

    low = random.randrange(30000, 60000, 200)
    settings = Settings(server=ServerSettings(db=":memory:", busy_retry_after_s=17),
                        sip=SipSettings(enabled=True, host="127.0.0.1", port=0,
                                        rtp_port_min=low, rtp_port_max=low + 198))
    runtime = make_runtime(ToneTTS(), max_conversations=10)
    runtime.settings = settings
    runtime.drained = True
    channel = SipChannel(runtime)
    await channel.start()
    try:
        final = await first_final(channel.port)
        assert final.startswith(b"SIP/2.0 503"), final[:80]
        assert b"\r\nRetry-After: 17\r\n" in final
        assert channel.calls == {} and runtime.active == {}
    finally:
        await channel.stop()


@pytest.mark.parametrize("drained", [False, True])
def test_readyz_after_drain_mode_off_follows_capacity(drained: bool) -> None:
    runtime: Runtime = make_runtime(ToneTTS(), max_conversations=1)
    runtime.drained = drained
    with TestClient(create_app(runtime, channels=[]), base_url="http://localhost") as client:
        ready = client.get("/readyz")
        assert ready.status_code == (503 if drained else 200)
        assert ready.json()["draining"] is drained


def test_callport_drain_asks_the_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    from callport.cli import _parser
    from callport.cli_drain import run

    runtime = runtime_at(tmp_path, {"CALLPORT_NODE_ID": "n9"})
    add_user(runtime, "ann", roles=("admin",))
    add_user(runtime, "bob")
    settings = runtime.settings
    with client_of(runtime) as client:
        def forward(request: httpx.Request) -> httpx.Response:  # to the app, in-process
            got = client.request(request.method, request.url.path, content=request.content,
                                 headers=dict(request.headers))
            return httpx.Response(got.status_code, content=got.content)

        transport = httpx.MockTransport(forward)
        url = ["--url", "http://localhost:8080"]
        args = _parser().parse_args(["drain", *url])
        os.environ.pop("CALLPORT_ADMIN_TOKEN", None)
        assert run(settings, args, transport=transport) == 2  # no token: said, nothing sent
        assert "CALLPORT_ADMIN_TOKEN" in capsys.readouterr().err
        bob = _parser().parse_args(["drain", *url, "--token", api_token(runtime, "bob")])
        assert run(settings, bob, transport=transport) == 1 and not runtime.drained
        assert "HTTP 403" in capsys.readouterr().err
        token = api_token(runtime, "ann")
        args = _parser().parse_args(["drain", *url, "--token", token, "--wait", "1"])
        assert run(settings, args, transport=transport) == 0 and runtime.drained
        assert '"draining": true' in capsys.readouterr().out
        args = _parser().parse_args(["drain", *url, "--token", token, "--resume"])
        assert run(settings, args, transport=transport) == 0 and not runtime.drained
