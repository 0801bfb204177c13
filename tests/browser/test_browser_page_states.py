"""The page's error and reconnect states in headless Chromium: the server going away mid-call
is shown as a failed call with a way to call again (not as a normal hang-up), "Call again"
works once the server is back, and a normal hang-up stays a normal hang-up."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from browser_harness import chromium, session_page, synth_wav
from browser_page_support import HEARD, serve_on, shop_runtime, shop_settings, wait_for

from callport.channels.browser import create
from callport.server.app import create_app
from loadgen.ports import free_port

pytestmark = [pytest.mark.slow, pytest.mark.interop]


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page_states") / "hello.wav"
    synth_wav(path, [HEARD], lead_s=3.0, tail_s=20.0)
    return path


async def test_server_lost_mid_call_is_an_error_and_call_again_reconnects(
        tmp_path: Path, speech_wav: Path) -> None:
    settings = shop_settings(tmp_path)
    runtime, _ = shop_runtime(settings)
    await runtime.users.add("caller")
    secret = (await runtime.tokens.create("caller", kind="session", ttl_s=3600,
                                          now=time.time())).secret
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with chromium(speech_wav, loop=True) as browser:
        async with serve_on(create_app(runtime, channels=[create(runtime)]), port):
            page = await session_page(browser, base, secret)
            await page.goto(f"{base}/?gate=0")
            # The default page for an agent that is not the Task Manager: neutral words.
            assert await page.text_content("#name") == "Voice assistant"
            assert not await page.is_visible("aside.tasks")
            await page.click("#call")
            await wait_for(page, "window.callport.state === 'live'")
            # Device pickers: the microphone can be switched mid-call; Chromium can pick the
            # speaker (setSinkId).
            assert await page.is_visible("#speaker-opt")
            mics = await page.eval_on_selector_all("#mic option", "els => els.map(e => e.value)")
            assert len(mics) >= 2, mics  # "Default" and the fake microphone
            await page.select_option("#mic", mics[1])
            await wait_for(page, f"window.callport.call.micId === {json.dumps(mics[1])} && "
                                 "window.callport.call.stream.getAudioTracks()[0].readyState "
                                 "=== 'live'")
            frames = await page.evaluate("window.callport.call.stats.framesSent")
            await wait_for(page, f"window.callport.call.stats.framesSent > {frames + 25}")
            # A normal hang-up first: no error.
            await page.click("#call")
            await wait_for(page, "window.callport.ended.length === 1")
            assert await page.evaluate("window.callport.ended[0].error") is False
            assert await page.is_hidden("#error-box")
            assert await page.text_content("#status") == "Ready to call"
            await page.click("#call")
            await wait_for(page, "window.callport.state === 'live'")
        # The server went away during the call.
        await wait_for(page, "window.callport.ended.length === 2")
        assert await page.evaluate("window.callport.ended[1].error") is True
        assert await page.is_visible("#error-box")
        assert "lost" in (await page.text_content("#error") or "").lower()
        assert await page.text_content("#status") == "Call failed"
        assert await page.text_content("#agent-state") == "Call failed"
        assert await page.is_visible("#retry")
        # It is back (a new process on the same database): "Call again" reconnects.
        runtime, _ = shop_runtime(settings)
        async with serve_on(create_app(runtime, channels=[create(runtime)]), port):
            await page.click("#retry")
            await wait_for(page, "window.callport.state === 'live'")
            assert await page.is_hidden("#error-box")
            await page.click("#call")
            await wait_for(page, "window.callport.ended.length === 3")
