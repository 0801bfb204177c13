"""The console's API per role: an admin sees every call, an agent only their own calls and
queues, a plain user is refused (403) and an anonymous request too (401). Live calls, the
event hub, hang-up and transfer from the console, history filters, a call's page."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS

from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.call.notes import AgentState, AgentText, CallerTranscript
from callport.call.records import TurnRecord
from callport.call.session import CallSession
from callport.config import load_settings
from callport.metrics import Metrics
from callport.server.app import create_app
from callport.server.console_live import watch_call
from callport.server.events import CallStarted, MemoryHub, TurnHeard
from callport.server.runtime import Runtime, build_runtime
from callport.store.calls import CallAttempt, CallRecord
from callport.types import CallInfo, User
from callport.vad.turn import TurnDetector

BASE = "http://localhost:8080"
ORIGIN = {"origin": BASE}


def settings_at(tmp_path: Path) -> Any:
    config = tmp_path / "callport.toml"
    config.write_text('[queues.support]\nstrategy = "round-robin"\n[queues.sales]\n')
    return load_settings(config, env={"CALLPORT_DB": str(tmp_path / "c.db")})


def live_call(runtime: Runtime, call_id: str, *, caller: str, user: User | None) -> tuple[
        Call, MemoryLeg]:
    leg = MemoryLeg(call_id=call_id, sample_rate=16000)
    session = CallSession(leg=leg, vad=EnergyVad(),  # type: ignore[arg-type]
                          turn=TurnDetector(), metrics=Metrics())
    call = Call(session=session, info=CallInfo(call_id=call_id, channel="sip", caller=caller,
                                               user=user),
                stt=ScriptedSTT([]), tts=ToneTTS(), agent_factory=lambda i: EchoTextAgent(),
                clock=time.monotonic)
    session.start()
    runtime.active[call_id] = call
    return call, leg


async def setup(tmp_path: Path) -> tuple[Runtime, dict[str, str]]:
    runtime = build_runtime(settings_at(tmp_path))
    await runtime.users.add("root", roles=["admin"])
    await runtime.users.add("alice", roles=["agent"], queues=["support"])
    await runtime.users.add("bob", roles=["agent"], queues=["sales"])
    await runtime.users.add("plain")
    tokens = {n: (await runtime.tokens.create(n, now=time.time())).secret
              for n in ("root", "alice", "bob", "plain")}
    now = datetime.now().astimezone()
    for cid, user, disposition, channel in (
            ("h-alice", "alice", "", "sip"), ("h-root", "root", "", "twilio"),
            ("h-q", "", "queue:support agent:bob wait:12s", "browser")):
        await runtime.calls.create(CallRecord(call_id=cid, channel=channel, caller="+15550001",
                                              callee="+15559999", started_at=now))
        await runtime.calls.amend(cid, user=user or None, disposition=disposition or None,
                                  answered_at=now, carrier="trunk-a", cost=Decimal("0.02"),
                                  currency="USD",
                                  attempts=(CallAttempt(carrier="trunk-b", outcome="failed",
                                                        cause="sip 503 Service Unavailable"),
                                            CallAttempt(carrier="trunk-a",
                                                        outcome="answered")))
        await runtime.calls.update_status(cid, "completed", at=now + timedelta(seconds=30))
    await runtime.calls.add_event("h-q", "queue", "joined support")
    return runtime, tokens


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_every_console_api_refuses_anonymous_and_plain_users(tmp_path: Path) -> None:
    runtime, tokens = await setup(tmp_path)
    app = create_app(runtime, channels=[])
    gets = ["/api/console/live", "/api/console/events", "/api/console/calls",
            "/api/console/calls/h-alice", "/api/console/queues", "/api/console/quality",
            "/api/console/users", "/api/console/config", "/api/console/me"]
    posts = ["/api/console/calls/x/hangup", "/api/console/calls/x/transfer",
             "/api/console/users", "/api/console/users/alice/pin",
             "/api/console/users/alice/queues", "/api/console/users/alice/tokens",
             "/api/console/users/alice/roles",
             "/api/console/tokens/abc/revoke"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        for path in gets:
            assert (await c.get(path)).status_code == 401, path
            assert (await c.get(path, headers=auth(tokens["plain"]))).status_code == 403, path
        for path in posts:
            assert (await c.post(path, json={})).status_code == 401, path
            r = await c.post(path, json={}, headers=auth(tokens["plain"]))
            assert r.status_code == 403, path
        # admin-only pages and actions: an agent is refused too
        for path in ("/api/console/quality", "/api/console/users", "/api/console/config"):
            assert (await c.get(path, headers=auth(tokens["alice"]))).status_code == 403, path
        for path in posts:
            r = await c.post(path, json={}, headers=auth(tokens["alice"]))
            assert r.status_code == 403, path
        page = await c.get("/console", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/console"


async def test_history_admin_sees_all_and_an_agent_only_their_own(tmp_path: Path) -> None:
    runtime, tokens = await setup(tmp_path)
    app = create_app(runtime, channels=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        every = (await c.get("/api/console/calls", headers=auth(tokens["root"]))).json()
        assert {r["call_id"] for r in every["calls"]} == {"h-alice", "h-root", "h-q"}
        mine = (await c.get("/api/console/calls", headers=auth(tokens["alice"]))).json()
        assert [r["call_id"] for r in mine["calls"]] == ["h-alice"]
        bobs = (await c.get("/api/console/calls", headers=auth(tokens["bob"]))).json()
        assert [r["call_id"] for r in bobs["calls"]] == ["h-q"]  # the queue bridged him
        assert (await c.get("/api/console/calls/h-root", headers=auth(tokens["alice"]))
                ).status_code == 404
        one = (await c.get("/api/console/calls/h-alice", headers=auth(tokens["alice"]))).json()
        assert one["call"]["attempts"][0] == {"carrier": "trunk-b", "outcome": "failed",
                                              "cause": "sip 503 Service Unavailable"}
        assert one["call"]["cost"] == "0.02" and one["recording"] is None
        # filters: channel, number, disposition, date
        q = await c.get("/api/console/calls", params={"channel": "twilio"},
                        headers=auth(tokens["root"]))
        assert [r["call_id"] for r in q.json()["calls"]] == ["h-root"]
        q = await c.get("/api/console/calls", params={"disposition": "queue:support"},
                        headers=auth(tokens["root"]))
        assert [r["call_id"] for r in q.json()["calls"]] == ["h-q"]
        q = await c.get("/api/console/calls", params={"number": "0002"},
                        headers=auth(tokens["root"]))
        assert q.json()["calls"] == []
        tomorrow = (datetime.now() + timedelta(days=1)).date().isoformat()
        q = await c.get("/api/console/calls", params={"since": tomorrow},
                        headers=auth(tokens["root"]))
        assert q.json()["calls"] == []
        # queue figures: admin all queues; bob only his (sales): support's stats are not his
        qa = (await c.get("/api/console/queues", headers=auth(tokens["root"]))).json()
        assert {q["name"] for q in qa["queues"]} == {"support", "sales"}
        assert qa["stats"]["support"]["answered"] == 1
        assert qa["stats"]["support"]["avg_wait_s"] == 12.0
        assert qa["stats"]["support"]["service_level"] == 1.0  # within 20 s
        qb = (await c.get("/api/console/queues", headers=auth(tokens["bob"]))).json()
        assert [q["name"] for q in qb["queues"]] == ["sales"] and qb["stats"] == {}
        for cid, score in (("h-alice", 0.9), ("h-alice", 0.5), ("h-root", 0.7), ("h-q", None)):
            turn = TurnRecord(index=1, transcript="add milk", stt_confidence=score)
            await runtime.calls.add_event(cid, "turn", json.dumps(turn.as_dict()))
        quality = (await c.get("/api/console/quality", headers=auth(tokens["root"]))).json()
        (day,) = quality["per_day"]
        assert day["calls"] == 3 and day["answer_rate"] == 1.0
        # charted in Quality: mean and 10th percentile of the scored turns (unscored: left out)
        assert day["stt_confidence"] == {"mean": 0.7, "p10": 0.5, "scored_turns": 3}
        assert day["carrier_failure_rate"] == 0.5 and day["cost"] == "0.06"


async def test_live_calls_per_role_and_the_console_hangs_one_up(tmp_path: Path) -> None:
    runtime, tokens = await setup(tmp_path)
    app = create_app(runtime, channels=[])
    alice = await runtime.users.get("alice")
    hub = runtime.events
    assert isinstance(hub, MemoryHub)
    sub = hub.subscribe()
    call_a, _leg_a = live_call(runtime, "live-a", caller="+15550100", user=alice)
    call_b, _leg_b = live_call(runtime, "live-b", caller="+15550200", user=None)
    end_a, end_b = watch_call(runtime, call_a), watch_call(runtime, call_b)
    started = await sub.next(1)
    assert isinstance(started, CallStarted) and started.user == "alice"
    call_a.session.notify(CallerTranscript("add milk to my list"))
    call_a.session.notify(AgentText("Added milk."))
    call_a.session.notify(AgentState("speaking"))
    record = TurnRecord(index=1, transcript="add milk to my list", reply="Added milk.",
                        endpoint_ms=300, stt_ms=120, agent_ms=40, tts_ms=80,
                        first_audio_ms=600)
    await runtime.calls.create(CallRecord(call_id="live-a", channel="sip", caller="+15550100",
                                          started_at=datetime.now().astimezone()))
    await runtime.calls.amend("live-a", user="alice")
    call_a.turns.append(record)
    for listener in call_a.turn_listeners:
        listener(record)
    kinds = []
    while (event := await sub.next(0.2)) is not None:
        kinds.append(type(event).__name__)
        if isinstance(event, TurnHeard):
            assert event.text == "add milk to my list"
    assert kinds[:1] == ["CallStarted"] and "TurnHeard" in kinds and "TurnSaid" in kinds
    assert "StateChanged" in kinds and "TurnTimed" in kinds
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        every = (await c.get("/api/console/live", headers=auth(tokens["root"]))).json()
        assert {x["call_id"] for x in every["calls"]} == {"live-a", "live-b"}
        a = next(x for x in every["calls"] if x["call_id"] == "live-a")
        assert a["transcript"][0]["text"] == "add milk to my list" and a["user"] == "alice"
        mine = (await c.get("/api/console/live", headers=auth(tokens["alice"]))).json()
        assert [x["call_id"] for x in mine["calls"]] == ["live-a"]
        bobs = (await c.get("/api/console/live", headers=auth(tokens["bob"]))).json()
        assert bobs["calls"] == []
        # the turn was kept with its latency breakdown: the call page's waterfall
        for _ in range(50):
            page = (await c.get("/api/console/calls/live-a", headers=auth(tokens["alice"])))
            if page.json()["turns"]:
                break
            await asyncio.sleep(0.01)
        (turn,) = page.json()["turns"]
        assert turn["timing_ms"]["stt"] == 120 and turn["timing_ms"][
            "end_of_speech_to_first_audio"] == 600
        # an admin hangs call b up from the console; a transfer on a line that can
        r = await c.post("/api/console/calls/live-b/hangup", json={},
                         headers=auth(tokens["root"]))
        assert r.status_code == 200
        await asyncio.wait_for(call_b.session.wait_ended(), 5)
        r = await c.post("/api/console/calls/live-a/transfer", json={"target": "nope"},
                         headers=auth(tokens["root"]))
        assert r.status_code == 400
        r = await c.post("/api/console/calls/live-a/transfer", json={"target": "+15557654321"},
                         headers=auth(tokens["root"]))
        assert r.status_code == 200 and r.json()["target"] == "tel:+15557654321", r.text
        events = await runtime.calls.events("live-a")
        assert ("transferred", "console: tel:+15557654321") in [(e.kind, e.detail)
                                                                 for e in events]
        assert (await c.post("/api/console/calls/gone/hangup", json={},
                             headers=auth(tokens["root"]))).status_code == 404
    end_a("normal")
    await runtime.calls.update_status("live-a", "completed")  # the record ends with the call
    end_b("console")
    sub.close()
    await call_a.session.close()
    await call_b.session.close()
    assert call_b.ended and call_b.session.hangup_reason == "console"


async def test_admin_forms_users_pin_queues_tokens_need_same_origin(tmp_path: Path) -> None:
    runtime, tokens = await setup(tmp_path)
    app = create_app(runtime, channels=[])
    root = auth(tokens["root"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        users = (await c.get("/api/console/users", headers=root)).json()["users"]
        assert {u["name"] for u in users} == {"root", "alice", "bob", "plain"}
        assert all("pin" not in u and "password" not in u for u in users)
        r = await c.post("/api/console/users", headers=root,
                         json={"name": "carol", "roles": ["agent"], "queues": ["sales"]})
        assert r.status_code == 201
        r = await c.post("/api/console/users/carol/pin", headers=root, json={"pin": "4321"})
        assert r.status_code == 200 and await runtime.users.check_pin("carol", "4321")
        r = await c.post("/api/console/users/carol/pin", headers=root, json={"pin": "12"})
        assert r.status_code == 400
        r = await c.post("/api/console/users/carol/queues", headers=root,
                         json={"queues": ["support"]})
        carol = await runtime.users.get("carol")
        assert r.status_code == 200 and carol is not None and carol.queues == ("support",)
        r = await c.post("/api/console/users/carol/tokens", headers=root, json={"label": "x"})
        secret, tid = r.json()["secret"], r.json()["token"]["id"]
        assert (await c.get("/api/console/me", headers=auth(secret))).json()["user"] == "carol"
        assert (await c.post(f"/api/console/tokens/{tid}/revoke", headers=root, json={})
                ).status_code == 200
        assert (await c.get("/api/console/me", headers=auth(secret))).status_code == 401
        cfg = (await c.get("/api/console/config", headers=root)).json()
        assert {q["name"] for q in cfg["queues"]["named"]} == {"support", "sales"}
    # a signed-in admin's browser: the forms need the page's own Origin (CSRF)
    session = (await runtime.tokens.create("root", kind="session", ttl_s=600,
                                           now=time.time())).secret
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                 cookies={"callport_session": session}) as c:
        r = await c.post("/api/console/users/alice/pin", json={"pin": "9999"})
        assert r.status_code == 403  # no Origin
        r = await c.post("/api/console/users/alice/pin", json={"pin": "9999"},
                         headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        r = await c.post("/api/console/users/alice/pin", content=json.dumps({"pin": "9999"}),
                         headers={"origin": BASE, "content-type": "text/plain"})
        assert r.status_code == 415
        r = await c.post("/api/console/users/alice/pin", json={"pin": "9999"}, headers=ORIGIN)
        assert r.status_code == 200 and await runtime.users.check_pin("alice", "9999")
        page = await c.get("/console")
        assert page.status_code == 200 and '"admin": true' in page.text
        assert (await c.get("/console/assets/theme.css")).status_code == 200
        escape = await c.get("/console/assets/..%2Fapp.css")  # not app.css: the page, or 404
        assert ".shell" not in escape.text
        assert (await c.get("/console/assets/.hidden.js")).status_code == 404


async def test_admin_changes_roles_checked_csrf_and_never_the_last_admin(tmp_path: Path) -> None:
    runtime, tokens = await setup(tmp_path)
    app = create_app(runtime, channels=[])
    root = auth(tokens["root"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        assert (await c.get("/api/console/live", headers=auth(tokens["alice"]))).status_code \
            == 200
        r = await c.post("/api/console/users/alice/roles", headers=root, json={"roles": ["user"]})
        assert r.status_code == 200
        alice = await runtime.users.get("alice")
        assert alice is not None and alice.roles == frozenset({"user"})
        # the change holds at once: her token no longer opens the console
        assert (await c.get("/api/console/live", headers=auth(tokens["alice"]))).status_code \
            == 403
        r = await c.post("/api/console/users/plain/roles", headers=root,
                         json={"roles": ["admin", "agent"]})
        assert r.status_code == 200
        assert (await c.get("/api/console/users", headers=auth(tokens["plain"]))).status_code \
            == 200
        listed = {u["name"]: u["roles"] for u in
                  (await c.get("/api/console/users", headers=root)).json()["users"]}
        assert listed["plain"] == ["admin", "agent"] and listed["alice"] == ["user"]
        r = await c.post("/api/console/users/bob/roles", headers=root, json={"roles": ["boss"]})
        assert r.status_code == 400 and "role" in r.json()["error"]
        r = await c.post("/api/console/users/bob/roles", headers=root, json={"roles": "admin"})
        assert r.status_code == 400
        r = await c.post("/api/console/users/nobody/roles", headers=root, json={"roles": []})
        assert r.status_code == 404
        r = await c.post("/api/console/users/plain/roles", headers=root, json={"roles": []})
        assert r.status_code == 200  # two admins were there: root stays
        r = await c.post("/api/console/users/root/roles", headers=root, json={"roles": ["user"]})
        assert r.status_code == 409  # the last admin
        root_user = await runtime.users.get("root")
        assert root_user is not None and root_user.has_role("admin")
    session = (await runtime.tokens.create("root", kind="session", ttl_s=600,
                                           now=time.time())).secret
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                 cookies={"callport_session": session}) as c:
        r = await c.post("/api/console/users/bob/roles", json={"roles": ["admin"]})
        assert r.status_code == 403  # a signed-in browser needs the page's Origin (CSRF)
        r = await c.post("/api/console/users/bob/roles", json={"roles": ["admin"]},
                         headers={"origin": "http://evil.example"})
        assert r.status_code == 403
        bob = await runtime.users.get("bob")
        assert bob is not None and not bob.has_role("admin")
        r = await c.post("/api/console/users/bob/roles", json={"roles": ["admin"]},
                         headers=ORIGIN)
        assert r.status_code == 200


@pytest.mark.parametrize("role", ["user"])
async def test_console_page_is_refused_to_a_plain_user(tmp_path: Path, role: str) -> None:
    runtime, _tokens = await setup(tmp_path)
    app = create_app(runtime, channels=[])
    session = (await runtime.tokens.create("plain", kind="session", ttl_s=600,
                                           now=time.time())).secret
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE,
                                 cookies={"callport_session": session}) as c:
        page = await c.get("/console")
        assert page.status_code == 403 and "{{CONFIG}}" not in page.text


def test_live_state_names_queue_ivr_menu_bridge_and_agent() -> None:
    from types import SimpleNamespace

    from callport.flows.ivr.run import IvrJournal
    from callport.server.console_live import call_state

    session = SimpleNamespace(holding=False, peer_held=False, _turns_on=True)
    call: Any = SimpleNamespace(info=SimpleNamespace(call_id="c1"), session=session)
    ivr = SimpleNamespace(journals={}, ivr=SimpleNamespace(start="main"))
    assert call_state(call, {}, {}, ivr) == ("agent", "")
    ivr.journals["c1"] = IvrJournal()
    assert call_state(call, {}, {}, ivr) == ("ivr", "menu main")
    ivr.journals["c1"].steps.append({"menu": "billing"})
    assert call_state(call, {}, {}, ivr) == ("ivr", "menu billing")
    assert call_state(call, {"c1": ("support", 41.6)}, {}, ivr) == (
        "queue", "support, waiting 42 s")
    ivr.journals["c1"].outcome = "queue:support"
    assert call_state(call, {}, {"c1": "alice"}, ivr) == ("bridged", "with alice")
    session.holding = True
    assert call_state(call, {}, {}, ivr) == ("hold", "")
    session.holding, session._turns_on = False, False
    assert call_state(call, {}, {}, ivr) == ("bridged", "")
