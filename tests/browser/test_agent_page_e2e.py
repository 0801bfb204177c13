"""The agent page in headless Chromium: signed in as agent alice it rings on an offer (visible,
audible, the caller's identity, summary and transcript shown), answers over the WebSocket
transport, and audio flows both ways (correlation at both ends); hang-up ends the session."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
from browser_harness import chromium, dump, have_chromium, serve, session_page, write_wav
from test_browser_bridge_sip import band_noise, median_r, to16k

from callport.call.taps import Direction, FrameCollector
from callport.channels.browser import create
from callport.channels.browser.agent_routes import AgentDeskChannel
from callport.config import ServerSettings, Settings
from callport.queues.reach import NotReached, Offer, Reached
from callport.server.app import create_app
from callport.server.runtime import build_runtime
from callport.types import CallInfo, User

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")]

OFFER = Offer(call_id="call-42", queue="support",
              caller=CallInfo(call_id="call-42", channel="sip", caller="+15551234567",
                              user=User(name="jane", display_name="Jane Doe")),
              summary="Jane wants to move her delivery to Friday.",
              transcript=(("caller", "I need to change my delivery"),
                          ("agent", "Let me find someone who can help.")),
              waited_s=12.0)


async def test_agent_answers_on_the_page_and_audio_flows_both_ways(tmp_path: Path) -> None:
    rate_page = 48_000
    mic = np.concatenate([np.zeros(rate_page // 2, np.float32),
                          band_noise(14.0, rate_page, seed=7)])
    write_wav(tmp_path / "mic.wav", (mic * 32767).astype(np.int16), rate_page)
    runtime = build_runtime(Settings(server=ServerSettings(db=str(tmp_path / "t.db"))))
    await runtime.users.add("alice", display_name="Alice Agent", password="alice-pass-1",
                            roles=["agent"])
    session_secret = (await runtime.tokens.create("alice", kind="session", ttl_s=3600,
                                                  now=time.time())).secret
    desk_channel = AgentDeskChannel(runtime=runtime)
    desk = desk_channel.desk
    app = create_app(runtime, channels=[desk_channel, create(runtime)])
    async with serve(app) as base, chromium(tmp_path / "mic.wav") as browser:
        page = await session_page(browser, base, session_secret)
        await page.goto(f"{base}/agent?transport=ws&apm=0&record=1")
        await page.wait_for_function("window.callport.state === 'available'", timeout=15_000)
        assert desk.online("alice")
        assert await page.text_content("#who-name") == "Alice Agent"

        # an offer the page does not answer rings out
        missed = await desk.ring("alice", OFFER, timeout_s=1.0)
        assert isinstance(missed, NotReached) and missed.cause.value == "no-answer"
        await page.wait_for_selector("#offer", state="hidden", timeout=5_000)

        ring = asyncio.create_task(desk.ring("alice", OFFER, timeout_s=20.0))
        await page.wait_for_selector("#offer:not([hidden])", timeout=5_000)
        assert await page.evaluate("window.callport.ringing") is True
        assert await page.evaluate("window.callport.ringTones") >= 1  # the ring is audible
        assert await page.text_content("#offer-caller") == "Jane Doe (+15551234567)"
        assert await page.text_content("#offer-queue") == "support"
        assert await page.text_content("#summary") == OFFER.summary
        lines = await page.locator("#transcript li").all_text_contents()
        assert lines == ["I need to change my delivery", "Let me find someone who can help."]
        assert await page.get_attribute("#offer", "role") == "alertdialog"
        assert await page.evaluate("document.activeElement.id") == "answer"  # keyboard first

        await page.keyboard.press("a")  # the answer shortcut
        result = await asyncio.wait_for(ring, 20)
        assert isinstance(result, Reached) and result.agent == "alice"
        session = result.session
        await page.wait_for_selector("#oncall:not([hidden])", timeout=10_000)
        await page.wait_for_function("window.callport.state === 'busy'", timeout=5_000)

        heard_by_server = FrameCollector()
        session.add_tap(heard_by_server, Direction.IN)
        to_agent = band_noise(6.0, 16_000, seed=3)
        session.enqueue_audio((to_agent * 32767).astype(np.int16), 16_000)
        async with asyncio.timeout(30):
            while len(heard_by_server.frames) < 250:
                await asyncio.sleep(0.1)
        assert await session.wait_played()
        await asyncio.sleep(0.5)
        rec = await dump(page)
        await page.click("#hangup")
        await asyncio.wait_for(session.wait_ended(), 10)
        await page.wait_for_selector("#oncall", state="hidden", timeout=5_000)
        await page.wait_for_function("window.callport.state === 'available'", timeout=5_000)

    r_page = median_r(to_agent, rec.remote)  # the page heard what the session sent
    from_page = to16k(np.concatenate([f.pcm for f in heard_by_server.frames]), 16_000)
    r_server = median_r(to16k(mic, rate_page), from_page)  # the server heard the page's mic
    print(f"agent page r: to page {np.median(r_page):.3f}, from page {np.median(r_server):.3f}")
    for rs in (r_page, r_server):
        assert len(rs) >= 4 and float(np.median(rs)) >= 0.9, rs
