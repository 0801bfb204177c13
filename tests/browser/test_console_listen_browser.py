"""Listen in and whisper from the console in headless Chromium: an admin presses Listen on a
call bridged to a person (the console's Call over the listen WebSocket), then Whisper: the
browser's microphone (a spoken WAV) reaches the agent's leg, and never the caller's."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from browser_harness import chromium, serve, session_page, synth_wav
from browser_page_support import HEARD, shop_runtime, shop_settings, wait_for

from callport.call.bridge import Bridge
from callport.call.memory import MemoryLeg
from callport.channels.browser import create
from callport.queues.reach import answered_session
from callport.server.app import create_app
from callport.server.console_live import watch_call

sys.path.insert(0, str(Path(__file__).parents[1] / "queues"))
sys.path.insert(0, str(Path(__file__).parents[1] / "call"))

pytestmark = [pytest.mark.slow, pytest.mark.interop]


async def test_admin_listens_then_whispers_to_the_agent_only(tmp_path: Path) -> None:
    from queue_support import make_call

    wav = tmp_path / "coach.wav"
    synth_wav(wav, [HEARD, HEARD, HEARD], lead_s=0.5, gap_s=0.5, tail_s=10.0)
    runtime, _inputs = shop_runtime(shop_settings(tmp_path), per_word=0.15)
    await runtime.users.add("root", roles=["admin"])
    app = create_app(runtime, channels=[create(runtime)])
    call, leg_a = make_call("b-1", caller="+15550199")
    runtime.active["b-1"] = call
    ended = watch_call(runtime, call)
    leg_b = MemoryLeg(call_id="agent-b", sample_rate=16000)
    agent = answered_session(leg_b, metrics=runtime.metrics)
    bridge = Bridge(a=call.session, b=agent)
    bridged = asyncio.create_task(bridge.run())
    errors: list[str] = []
    secret = (await runtime.tokens.create("root", kind="session", ttl_s=600,
                                          now=time.time())).secret
    try:
        async with serve(app) as base, chromium(wav) as browser:
            page = await session_page(browser, base, secret, viewport={"width": 1280,
                                                                        "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(f"{base}/console")
            card = ".live-call[data-call='b-1']"
            await page.wait_for_selector(f"{card}:has-text('bridged')", timeout=15_000)
            await page.click(f"{card} button[data-action='listen']")
            await wait_for(page, "document.querySelector(\"" + card + " button[data-action="
                           "'listen']\")?.textContent === 'Stop listening'", 15_000)
            await asyncio.sleep(1.0)
            heard_before = len(leg_b.sent)
            assert heard_before == 0  # muted and not whispering: the agent hears nobody
            await page.click(f"{card} button[data-action='whisper']")
            await wait_for(page, "document.querySelector(\"" + card + " button[data-action="
                           "'whisper']\")?.getAttribute('aria-pressed') === 'true'", 10_000)
            async with asyncio.timeout(20):
                while not (leg_b.sent and int(np.abs(leg_b.output()).max()) > 1000):
                    await asyncio.sleep(0.05)  # the spoken WAV, through the whisper
            assert leg_a.sent == []  # the caller heard none of it
            await page.click(f"{card} button[data-action='listen']")  # stop listening
            await wait_for(page, "document.querySelector(\"" + card + " button[data-action="
                           "'listen']\")?.textContent === 'Listen'", 10_000)
    finally:
        leg_a.caller_hangup()
        await asyncio.wait_for(bridged, 5)
        runtime.active.pop("b-1", None)
        ended("caller")
        await call.session.close()
    assert errors == []
