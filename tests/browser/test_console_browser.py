"""The operator console in headless Chromium against the real server: an admin signs in, sees
a SIP call (sipp, a real peer) and a Twilio call (the media-stream simulator) come and go
live, watches a browser-page call live with its transcript growing (pushed over SSE), hangs
it up from the console, opens its history page (transcript, latency waterfall, recording
player, consent), sees the queue view change when a caller starts waiting, and looks at
quality and admin; an agent account sees only its own calls. Screenshots of every page:
docs/console-*.png (with ``CALLPORT_UPDATE_SCREENSHOT=1``; else .artifacts/)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_harness import chromium, serve, session_page, synth_wav
from browser_page_support import HEARD, shop_runtime, shop_settings, wait_for

from callport.channels.browser import create
from callport.config_calls import RecordingSettings
from callport.config_queues import QueueSettings, QueuesSettings
from callport.queues.reach import FakeReach
from callport.server.app import create_app
from callport.server.console_live import watch_call
from callport.store.calls import CallAttempt, CallRecord

sys.path.insert(0, str(Path(__file__).parents[1] / "queues"))
sys.path.insert(0, str(Path(__file__).parents[1] / "call"))
sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
sys.path.insert(0, str(Path(__file__).parents[1] / "twilio"))

pytestmark = [pytest.mark.slow, pytest.mark.interop]
ROOT = Path(__file__).resolve().parent.parent.parent
VIEW = {"width": 1280, "height": 900}


def shot_path(name: str) -> Path:
    base = ROOT / "docs" if os.environ.get("CALLPORT_UPDATE_SCREENSHOT") else ROOT / ".artifacts"
    base.mkdir(parents=True, exist_ok=True)
    return base / name


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console") / "hello.wav"
    synth_wav(path, [HEARD, HEARD, HEARD], lead_s=5.0, gap_s=4.0, tail_s=30.0)
    return path


async def session(runtime: Any, name: str) -> str:
    issued = await runtime.tokens.create(name, kind="session", ttl_s=3600, now=time.time())
    return issued.secret


async def test_console_live_hangup_history_queues_quality_admin_and_agent_view(
        tmp_path: Path, speech_wav: Path) -> None:
    from queue_support import make_call
    from sip_support import PCAP_DIR, SIPP, free_udp_port, rtp_range, run_sipp
    from twilio_sim import AUTH_TOKEN, call_params
    from twilio_support import Server as TwilioSim

    from callport.channels.sip import create as sip_channel
    from callport.channels.twilio.channel import TwilioChannel
    from callport.config import SipSettings, TwilioSettings

    if SIPP is None:
        pytest.skip("sipp (sip-tester) not installed")
    low, high = rtp_range()
    settings = shop_settings(tmp_path, name="Corner Shop")
    settings = replace(settings, identity=replace(settings.identity, unknown="guest"),
                       sip=SipSettings(enabled=True, host="127.0.0.1", port=0,
                                       rtp_port_min=low, rtp_port_max=high),
                       twilio=TwilioSettings(auth_token=AUTH_TOKEN),
                       recording=RecordingSettings(mode="notify", stay_s=0.3,
                                                   notice="This call is recorded."),
                       queues=QueuesSettings(named=(QueueSettings(
                           name="support", announce_every_s=0.0, max_wait_s=0.0),)))
    runtime, _inputs = shop_runtime(settings, per_word=0.15)
    await runtime.users.add("root", roles=["admin"], display_name="Root")
    await runtime.users.add("caller", display_name="Carol Caller")
    await runtime.users.add("alice", roles=["agent"], queues=["support"])
    sip = sip_channel(runtime)
    twilio = TwilioChannel(runtime=runtime)
    app = create_app(runtime, channels=[create(runtime), sip, twilio])
    reach = FakeReach()
    reach.agent("alice").online = False  # not at her desk: a queued caller waits
    runtime.queues.reach = reach
    errors: list[str] = []
    async with serve(app) as base, chromium(speech_wav) as browser:
        caller = await session_page(browser, base, await session(runtime, "caller"),
                                    viewport=VIEW)
        admin = await session_page(browser, base, await session(runtime, "root"), viewport=VIEW)
        admin.on("pageerror", lambda e: errors.append(str(e)))
        await admin.goto(f"{base}/console")
        await admin.wait_for_selector("#live-status.ok", timeout=15_000)
        assert await admin.is_visible("#live-empty")
        # a SIP call from sipp (a pcap of audio and a key press, then BYE): live, then gone
        (tmp_path / "pcap").symlink_to(PCAP_DIR)
        _, xml = await run_sipp("-sd", "uac_pcap", cwd=tmp_path)
        (tmp_path / "uac_pcap.xml").write_text(xml)
        sipp = asyncio.create_task(run_sipp(
            "-sf", "uac_pcap.xml", f"127.0.0.1:{sip.port}", "-i", "127.0.0.1",
            "-p", str(free_udp_port()), "-mp", str(free_udp_port() & ~1), "-m", "1",
            cwd=tmp_path))
        await admin.wait_for_selector(".live-call:has-text('channel sip')", timeout=20_000)
        rc, out = await asyncio.wait_for(sipp, 60)
        assert rc == 0, out[-2000:]
        await wait_for(admin, "document.querySelectorAll('.live-call').length === 0", 20_000)
        # a Twilio call (signed webhook, then the media stream): live, then ended by Twilio
        async with httpx.AsyncClient() as http:
            tw = TwilioSim(base=base, channel=twilio, runtime=None, http=http)  # type: ignore[arg-type]
            sim = await tw.call()
            await admin.wait_for_selector(".live-call:has-text('channel twilio')",
                                          timeout=20_000)
            await sim.stop()
            done = await tw.post_signed("/twilio/status", call_params(
                sim.call_sid, status="completed", CallDuration="3"))
            assert done.status_code == 204, done.text
        await wait_for(admin, "document.querySelectorAll('.live-call').length === 0", 20_000)
        # a call on the browser page: it appears live, and its transcript grows
        await caller.goto(f"{base}/?gate=0")
        await caller.click("#call")
        card = admin.locator(".live-call")
        await card.first.wait_for(timeout=20_000)
        assert "channel browser" in (await card.first.text_content() or "")
        await wait_for(admin, "document.querySelectorAll('.live-call .transcript li.caller')"
                              ".length >= 1", 40_000)
        first = await admin.locator(".live-call .transcript li").count()
        await wait_for(admin, f"document.querySelectorAll('.live-call .transcript li')"
                              f".length > {first}", 40_000)  # more said: it grew, pushed
        await wait_for(admin, "document.querySelectorAll('.live-call .transcript "
                              "li.caller:not(.partial)').length >= 2", 40_000)
        text = await card.first.text_content() or ""
        assert HEARD in text and "You said" in text and "user caller" in text
        await admin.screenshot(path=str(shot_path("console-live.png")))
        (call_id,) = list(runtime.active)
        # end it from the console
        await admin.click(".live-call button[data-action='hangup']")
        await wait_for(admin, "document.querySelectorAll('.live-call').length === 0", 20_000)
        for _ in range(200):  # the record is finished just after the call leaves
            record = await runtime.calls.get(call_id)
            if record is not None and record.hangup_cause:
                break
            await asyncio.sleep(0.05)
        assert call_id not in runtime.active
        assert record is not None and record.hangup_cause == "console"
        # its history page: transcript, waterfall, recording player, consent
        await admin.click("nav a[data-view='history']")
        await admin.wait_for_selector(f"#history a[href='/console/calls/{call_id}']")
        await admin.screenshot(path=str(shot_path("console-history.png")))
        await admin.click(f"#history a[href='/console/calls/{call_id}']")
        await admin.wait_for_selector("#call-transcript li.caller")
        assert HEARD in (await admin.text_content("#call-transcript") or "")
        assert await admin.locator("svg.waterfall rect[data-stage='stt']").count() >= 1
        assert await admin.locator("svg.waterfall [data-stage='first_audio']").count() >= 1
        await admin.wait_for_selector("audio#player")
        ok = await admin.evaluate(
            "fetch(document.querySelector('#player').src).then(r => r.ok && "
            "r.headers.get('content-type') === 'audio/wav')")
        assert ok
        assert "notify" in (await admin.text_content("main") or "")  # the consent record
        await admin.screenshot(path=str(shot_path("console-call.png")), full_page=True)
        # the queue view changes when a caller starts waiting (pushed); an earlier caller
        # answered after 8 s gives the service-level figures something to show
        now = datetime.now().astimezone()
        await runtime.calls.create(CallRecord(call_id="q-0", channel="sip", caller="+15550166",
                                              started_at=now - timedelta(minutes=5)))
        await runtime.calls.add_event("q-0", "queue", "joined support")
        await runtime.calls.amend("q-0", answered_at=now - timedelta(minutes=5),
                                  disposition="queue:support agent:alice wait:8s")
        await runtime.calls.update_status("q-0", "completed", at=now - timedelta(minutes=3))
        await admin.click("nav a[data-view='queues']")
        await admin.wait_for_selector("[data-queue='support']")
        assert (await admin.text_content("[data-queue='support']") or "").startswith("0 waiting")
        waiting_call, _leg = make_call("q-1", caller="+15550177")
        waiting_call.queues = runtime.queues
        runtime.active["q-1"] = waiting_call
        ended = watch_call(runtime, waiting_call)
        queued = asyncio.create_task(waiting_call.enqueue("support"))
        await wait_for(admin, "document.querySelector(\"[data-queue='support']\")"
                              ".textContent.startsWith('1 waiting')", 20_000)
        text = await admin.text_content("#queues") or ""
        assert "+15550177" in text and "100 % of 1" in text, text
        await admin.screenshot(path=str(shot_path("console-queues.png")))
        # an agent sees only their own calls: not the waiting caller nor the browser call
        agent = await session_page(browser, base, await session(runtime, "alice"),
                                   viewport={"width": 390, "height": 844})
        await agent.goto(f"{base}/console")
        await agent.wait_for_selector("#live-status.ok", timeout=15_000)
        await agent.wait_for_timeout(1500)
        assert await agent.locator(".live-call").count() == 0
        assert await agent.locator("nav a[data-view='admin']").count() == 0
        await agent.click("nav a[data-view='history']")
        await agent.wait_for_selector("#history", state="attached")
        await wait_for(agent, "/^\\d+ calls$/.test(document.querySelector('main p[role=status]')"
                              "?.textContent || '')")
        assert await agent.text_content("main p[role=status]") == "1 calls"  # hers: q-0
        assert await agent.locator("#history a[href='/console/calls/q-0']").count() == 1
        assert await agent.locator(f"#history a[href='/console/calls/{call_id}']").count() == 0
        status = await agent.evaluate("fetch('/api/console/users').then(r => r.status)")
        assert status == 403
        await agent.screenshot(path=str(shot_path("console-agent-phone.png")))
        await admin.click("nav a[data-view='live']")
        await admin.wait_for_selector(".live-call[data-call='q-1']")
        assert "in queue" in (await admin.text_content(".live-call[data-call='q-1']") or "")
        await waiting_call.session.hangup("caller")
        await asyncio.wait_for(queued, 10)
        runtime.active.pop("q-1", None)
        ended("caller")
        await waiting_call.session.close()
        # quality over days: two earlier days of routed calls with turns, one carrier failure
        for day in (1, 2):
            at = now - timedelta(days=day)
            for n in range(day + 1):
                cid = f"old-{day}-{n}"
                await runtime.calls.create(CallRecord(call_id=cid, channel="sip",
                                                      caller="+15550188", started_at=at))
                await runtime.calls.amend(cid, answered_at=at, cost=Decimal("0.0125"),
                                          currency="USD", attempts=(
                                              CallAttempt(carrier="trunk-b", outcome="failed",
                                                          cause="sip 503"),
                                              CallAttempt(carrier="trunk-a",
                                                          outcome="answered")))
                await runtime.calls.add_event(cid, "turn", json.dumps({
                    "index": 1, "transcript": "hello", "interrupted": n == 0,
                    "stt_confidence": 0.9 - 0.1 * day, "timing_ms": {
                        "endpoint": 300 + 50 * day, "stt": 150, "agent": 40 * day,
                        "tts_first_clause": 90, "end_of_speech_to_first_audio": 620 + day}}),
                    at=at)
                await runtime.calls.update_status(cid, "completed", at=at + timedelta(minutes=2))
        # quality and admin
        await admin.click("nav a[data-view='quality']")
        await admin.wait_for_selector("#quality svg")
        assert await admin.locator("#quality svg path").count() >= 4  # lines over 3 days
        conf = admin.locator("#quality section[aria-label='STT confidence (%)'] svg path")
        assert await conf.count() >= 1  # the confidence chart has its line
        await admin.screenshot(path=str(shot_path("console-quality.png")), full_page=True)
        await admin.click("nav a[data-view='admin']")
        await admin.wait_for_selector("#users")
        await admin.fill("#pin-caller", "2468")
        await admin.click("#users tr:has-text('caller') button:has-text('Reset PIN')")
        await wait_for(admin, "document.querySelector('#admin-msg').textContent"
                              ".includes('reset')")
        assert await runtime.users.check_pin("caller", "2468")
        # roles: tick agent for the caller and save; the store has it at once
        await admin.check("#r-agent-caller")
        await admin.click("#users tr:has-text('caller') button[data-action='roles']")
        await wait_for(admin, "document.querySelector('#admin-msg').textContent"
                              ".includes('Roles of caller')")
        changed = await runtime.users.get("caller")
        assert changed is not None and changed.roles == frozenset({"agent", "user"})
        await admin.screenshot(path=str(shot_path("console-admin.png")), full_page=True)
    assert not errors, errors
