"""Headless Chromium: the page's player confirms the server's clear, so after a barge-in the
server knows exactly which marked audio the caller heard.

The runtime sends 3 s of marked tone (one mark per 20 ms frame) at once, waits until the page
reports some of it played, then clears it as a barge-in does. ``CLEAR_ACK_S`` is raised to a
minute: only the page's ``cleared`` (sent by its playback worklet after every ``played`` it
posted before the clear) can settle the marks within the test's bound. Then the marks are a
played prefix and an unplayed rest, and the page's recording of its own output holds no more
tone than the played prefix (nothing the caller heard is counted unheard).
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest
from browser_harness import chromium, dump, have_chromium, serve, session_page, synth_wav
from starlette.applications import Starlette

from callport.agents.base import CallInfo
from callport.call.events import HungUp, Marked
from callport.channels.browser import create, protocol
from callport.channels.browser.echo import EchoRuntime
from callport.channels.browser.leg import BrowserLeg
from callport.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")]

FRAMES = 150  # 3 s of 20 ms frames
PLAYED_BEFORE_CLEAR = 15


class ClearRuntime:
    def __init__(self) -> None:
        self.settings = Settings()
        echo = EchoRuntime(settings=self.settings)
        self.users, self.tokens = echo.users, echo.tokens
        self.answers: list[Marked] = []
        self.settled = asyncio.Event()

    sign_in = EchoRuntime.sign_in

    async def run_call(self, leg: BrowserLeg, info: CallInfo) -> None:
        t = np.arange(320) / 16_000
        for i in range(FRAMES):
            await leg.send_audio((6000 * np.sin(2 * math.pi * 440 * (t + i * 0.02)))
                                 .astype(np.int16))
            await leg.mark(f"f{i}")
        cleared = False
        while True:
            event = await leg.recv()
            if isinstance(event, Marked):
                self.answers.append(event)
                if not cleared and len(self.answers) >= PLAYED_BEFORE_CLEAR:
                    cleared = True
                    await leg.clear()  # a barge-in: the rest of the tone is cut
                if len(self.answers) == FRAMES:
                    self.settled.set()
            if isinstance(event, HungUp):
                return


async def test_the_page_confirms_a_clear_and_heard_is_exact(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            ) -> None:
    monkeypatch.setattr(protocol, "CLEAR_ACK_S", 60.0)  # only the page's 'cleared' settles
    wav = tmp_path / "quiet.wav"
    synth_wav(wav, [], lead_s=6.0, gap_s=0.0, tail_s=0.0)
    runtime = ClearRuntime()
    app = Starlette(routes=list(create(runtime).routes()))
    async with serve(app) as base, chromium(wav) as browser:
        page = await session_page(browser, base, await runtime.sign_in())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/?transport=ws&apm=0&gate=0&record=1")
        await page.click("#call")
        await page.wait_for_function("window.callport.state === 'live'", timeout=15_000)
        await asyncio.wait_for(runtime.settled.wait(), 20)
        await asyncio.sleep(0.3)
        rec = await dump(page)
        clears = await page.evaluate("window.callport.call.stats.serverClears")
        await page.click("#call")
        assert not errors, errors
    assert clears == 1
    played = [m.played for m in runtime.answers]
    heard = played.index(False)
    assert all(played[:heard]) and not any(played[heard:]), played  # a prefix, then the rest
    assert [m.name for m in runtime.answers] == [f"f{i}" for i in range(FRAMES)]
    assert PLAYED_BEFORE_CLEAR <= heard < FRAMES - 50, heard  # the clear cut most of it
    # What the page's player put out (its recording tap may start a little late, never
    # early): no more tone than the marks say was heard, so nothing heard was counted unheard.
    frame = rec.rate // 50
    n = len(rec.remote) // frame
    loud = int(np.sum(np.sqrt(np.mean(rec.remote[: n * frame].reshape(n, frame) ** 2, axis=1))
                      > 0.02))
    assert 0 < loud <= heard + 2, (loud, heard)
