"""``GET /api/queues`` (admins only) and ``callport queues status`` through the real app."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from queue_support import make_call, until

from callport.call.queueing import AgentAnswered
from callport.cli_queues import fetch_status, status_text
from callport.config import load_settings
from callport.queues.reach import FakeReach
from callport.server.app import create_app
from callport.server.lifecycle import record_end, record_start
from callport.server.records import record_finished
from callport.server.runtime import build_runtime

BASE = "http://localhost:8080"


def settings_at(tmp_path: Path) -> object:
    config = tmp_path / "callport.toml"
    config.write_text('[queues]\nannounce_every_s = 0\nmax_wait_s = 0\n'
                      '[queues.support]\nstrategy = "round-robin"\n')
    return load_settings(config, env={"CALLPORT_DB": str(tmp_path / "q.db")})


async def test_api_queues_needs_an_admin_and_shows_callers_and_agents(tmp_path: Path) -> None:
    runtime = build_runtime(settings_at(tmp_path))  # type: ignore[arg-type]
    await runtime.users.add("root", roles=["admin"])
    await runtime.users.add("plain")
    await runtime.users.add("alice", roles=["agent"], queues=["support"])
    reach = FakeReach()
    reach.agent("alice").online = False  # not at her desk: the caller waits
    app = create_app(runtime, channels=[])
    runtime.queues.reach = reach  # (the app wires the channels' reach: none here)
    admin = (await runtime.tokens.create("root", now=time.time())).secret
    plain = (await runtime.tokens.create("plain", now=time.time())).secret
    call, _leg = make_call("q1", caller="+15550123")
    assert await record_start(runtime.calls, call.info)  # as Runtime.run_call records it
    call.queues = runtime.queues
    waiting = asyncio.create_task(call.enqueue("support"))
    await until(lambda: runtime.queues.engine.waiting("q1"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.get("/api/queues")).status_code == 401
        bad = await c.get("/api/queues", headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert (await c.get("/api/queues", headers={
            "authorization": f"Bearer {plain}"})).status_code == 403
        ok = await c.get("/api/queues", headers={"authorization": f"Bearer {admin}"})
    assert ok.status_code == 200
    (support,) = ok.json()["queues"]
    assert support["name"] == "support" and support["strategy"] == "round-robin"
    assert [(w["position"], w["call_id"], w["caller"], w["state"])
            for w in support["waiting"]] == [(1, "q1", "+15550123", "waiting")]
    assert [(a["name"], a["state"], a["online"], a["calls_taken"]) for a in support["agents"]
            ] == [("alice", "available", False, 0)]
    # the command asks the same endpoint, as an admin, with a token it revokes again
    data = await fetch_status(runtime.settings, BASE, transport=httpx.ASGITransport(app=app))
    assert data == ok.json() | {"queues": [support | {"waiting": [
        support["waiting"][0] | {"waited_s": data["queues"][0]["waiting"][0]["waited_s"]}]}]}
    text = status_text(data)
    assert "support (round-robin): 1 waiting" in text and "+15550123" in text
    assert "agent alice" in text and "available (offline), 0 calls" in text
    minted = [t for t in await runtime.tokens.list(user="root") if t.label == "queues status"]
    assert len(minted) == 1 and minted[0].revoked
    # alice comes to her desk: she takes it; the call history says queue, agent and wait
    reach.agent("alice").online = True
    runtime.queues.step()
    _person, agent_leg, _offer = await asyncio.wait_for(reach.answered.get(), 10)
    await until(lambda: runtime.queues.engine.calls_taken("alice") == 0
                and not runtime.queues.engine.waiting("q1"))
    agent_leg.caller_hangup()
    assert isinstance(await asyncio.wait_for(waiting, 10), AgentAnswered)
    record = await runtime.calls.get("q1")
    assert record is not None and record.outcome.startswith("queue:support agent:alice wait:")
    details = [e.detail for e in await runtime.calls.events("q1") if e.kind == "queue"]
    assert details[0] == "joined support" and details[1].startswith("answered support: alice")
    await call.session.close()
    cause = call.session.hangup_reason or "flow-ended"  # as Runtime.run_call ends it
    await record_end(runtime.calls, "q1", cause)
    await record_finished(runtime.calls, "q1", user=None, cause=cause, routing=None)
    ended = await runtime.calls.get("q1")
    assert ended is not None and (ended.status, ended.hangup_cause) == ("ended", cause)
    await runtime.queues.close()


def test_queues_status_without_a_server_says_so(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from callport.cli import main

    db = tmp_path / "c.db"
    assert main(["--db", str(db), "users", "add", "root", "--role", "admin"]) == 0
    assert main(["--db", str(db), "queues", "status", "--url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the server at http://127.0.0.1:9" in err


class FakeSip:
    """Stands in for the SIP channel: ``dial`` answers with a memory leg (or fails)."""

    name = "sip"

    def __init__(self) -> None:
        self.dialled: list[str] = []
        self.fail = False

    async def dial(self, target: str, *, timeout: float) -> object:
        from callport.call.memory import MemoryLeg
        from callport.channels.sip.calls import CallFailed

        self.dialled.append(target)
        if self.fail:
            raise CallFailed(486, "Busy Here")
        return MemoryLeg(call_id=f"back-{len(self.dialled)}", sample_rate=8000)


async def test_call_backs_dial_over_the_sip_channel_and_greet_the_caller() -> None:
    from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

    from callport.config import Settings
    from callport.server.queues import wire_queues
    from callport.server.runtime import Runtime
    from callport.store.calls import MemoryCallStore

    tts = ToneTTS()
    runtime = Runtime(settings=Settings(), calls=MemoryCallStore(), stt=ScriptedSTT([]),
                      tts=tts, vad=EnergyVad(),  # type: ignore[arg-type]
                      agent_factory=lambda info: EchoTextAgent())
    sip = FakeSip()
    service = wire_queues(runtime, [sip])
    dial_back = service._dial_back
    assert dial_back is not None
    call = await dial_back("+15550100", "support")
    assert sip.dialled == ["tel:+15550100"] and call is not None
    assert call.info.direction == "outbound" and call.info.callee == "+15550100"
    assert any("your call back from the support line" in s for s in tts.spoken)
    await call.hangup()
    sip.fail = True
    assert await dial_back("+15550100", "support") is None  # busy: not reached
    assert wire_queues(runtime, [])._dial_back is dial_back  # no SIP: nothing changes
