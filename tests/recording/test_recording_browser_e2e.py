"""End to end on the browser channel: the signed-in owner calls from the page in headless
Chromium, whose fake microphone plays the caller's words (Piper, looped: the consent answer
is the call's scripted STT's "Yes I agree"; the words that matter are the recording's); with
consent, the recording's left channel transcribes (Whisper) to the caller's words and the
right to the agent's. See ``recording_e2e_support``."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from recording_e2e_support import REPLY, WORDS, check_recorded, runtime, settings, the_call, until

sys.path.insert(0, str(Path(__file__).parents[1] / "browser"))
from browser_harness import chromium, have_chromium, serve, session_page, synth_wav
from browser_page_support import wait_for

from callport.channels.browser import create
from callport.server.app import create_app

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs playwright + chromium")]


async def test_browser_call_recorded_with_consent(tmp_path: Path) -> None:
    pytest.importorskip("piper", reason="needs callport[local] (piper-tts)")
    mic = tmp_path / "mic.wav"
    await asyncio.to_thread(synth_wav, mic, [WORDS], lead_s=1.5, tail_s=3.0, voice="piper")
    base = settings(tmp_path)
    rt, tts = runtime(base)
    await rt.users.add("owner", roles=("admin",))
    secret = (await rt.tokens.create("owner", kind="session", ttl_s=3600,
                                     now=time.time())).secret
    app = create_app(rt, channels=[create(rt)])
    async with serve(app) as url, chromium(mic, loop=True) as browser:
        page = await session_page(browser, url, secret)
        await page.goto(f"{url}/?gate=0")
        await page.click("#call")
        await wait_for(page, "window.callport.state === 'live'")

        def listening() -> bool:
            call = the_call(rt)
            return call is not None and call.listening.is_set()

        await until(lambda: tts.said(REPLY) and listening(), "the agent's reply")
        await page.click("#call")  # hang up
        await until(lambda: not rt.active, "the call to end")
    check_recorded(base, "browser")
