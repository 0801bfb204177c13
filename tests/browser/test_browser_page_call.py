"""The page as a product, in headless Chromium against the real Runtime (fake speech services,
real VAD, turn detection, barge-in marks and keypad path): branding from ``[page]``, an agent
that is not the Task Manager, live captions, one bubble per reply, mute, the keypad reaching
the agent, and an agent failure shown as an error. Writes docs/page.png on request."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from browser_harness import chromium, serve, session_page, synth_wav
from browser_page_support import HEARD, shop_runtime, shop_settings, wait_for

from callport.agents.base import UserPressed, UserSaid
from callport.call.taps import Direction, TapFrame
from callport.channels.browser import create
from callport.server.app import create_app

pytestmark = [pytest.mark.slow, pytest.mark.interop]
ROOT = Path(__file__).resolve().parent.parent.parent


def shot_path(name: str) -> Path:
    if os.environ.get("CALLPORT_UPDATE_SCREENSHOT"):
        return ROOT / "docs" / name
    return ROOT / ".artifacts" / name


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("page_call") / "hello.wav"
    # "hello there" at 4 s (after the greeting), again at ~8.5 s over the two-sentence reply.
    synth_wav(path, [HEARD, HEARD + " " + HEARD], lead_s=4.0, gap_s=3.0, tail_s=30.0)
    return path


async def test_branded_call_captions_reply_keypad_mute_and_error(tmp_path: Path,
                                                                 speech_wav: Path) -> None:
    logo = tmp_path / "brand"
    logo.mkdir()
    (logo / "shop.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 10 10'>"
        "<circle cx='5' cy='5' r='5' fill='#e8590c'/></svg>")
    settings = shop_settings(tmp_path, name="Corner Shop", tagline="Orders and opening hours",
                             logo="shop.svg", assets_dir=str(logo), accent="#e8590c",
                             background="#1a1410", greeting="Ask about opening hours.",
                             language="en-GB")
    runtime, inputs = shop_runtime(settings, per_word=0.25)
    await runtime.users.add("caller")
    secret = (await runtime.tokens.create("caller", kind="session", ttl_s=3600,
                                          now=time.time())).secret
    app = create_app(runtime, channels=[create(runtime)])
    async with serve(app) as base, chromium(speech_wav) as browser:
        page = await session_page(browser, base, secret,
                                  viewport={"width": 1280, "height": 720})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/?gate=0")
        # Branding and an agent-neutral page: no Task Manager, no to-do panel.
        assert await page.text_content("#name") == "Corner Shop"
        assert await page.title() == "Corner Shop"
        assert await page.text_content("#tagline") == "Orders and opening hours"
        assert await page.get_attribute("html", "lang") == "en-GB"
        assert await page.is_visible("#logo")
        assert (await page.get_attribute("#logo", "src") or "").endswith("/brand/shop.svg")
        assert not await page.is_visible("aside.tasks")
        assert "Task Manager" not in (await page.content())
        assert await page.text_content("#greeting") == "Ask about opening hours."
        accent = await page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
        assert accent == "#e8590c"
        # The status pill stays a pill (it used to stretch across the header on errors).
        await page.click("#call")
        await wait_for(page, "window.callport.state === 'live'")
        assert await page.is_visible("#timer")
        # Live captions: the server's VAD hears the caller, then a partial, then the final
        # words, before the reply.
        await wait_for(page, "window.callport.transcripts.some((t) => t.role === 'caller')",
                       30_000)
        caps = await page.evaluate("window.callport.captions")
        assert any(c["speaking"] and not c["final"] for c in caps), caps
        assert any(c["final"] and c["text"] == HEARD for c in caps), caps
        # One reply, two sentences: one bubble. The caller talks over it: shown as heard.
        await wait_for(page, "window.callport.transcripts.some((t) => t.role === 'agent' "
                             "&& t.text.includes('You said') && t.text.includes('open'))")
        replies = await page.evaluate(
            "window.callport.transcripts.filter((t) => t.role === 'agent')")
        assert len([r for r in replies if "You said" in r["text"]]) == 1, replies
        heard = await wait_for(page, "window.callport.transcripts.find((t) => t.interrupted)",
                               30_000)
        assert heard["text"].startswith(heard["heard"]) and heard["heard"] != heard["text"]
        assert await page.locator(".transcript .agent .unheard").count() >= 1
        assert await page.locator(".transcript .agent").count() == len(replies)
        # Keypad: the digit reaches the agent and its answer comes back.
        await page.click("#keypad-toggle")
        await page.click("#keypad button[data-digit='5']")
        await wait_for(page, "window.callport.transcripts.some((t) => t.text === "
                             "'You pressed 5.')")
        assert UserPressed("5") in inputs
        assert any(isinstance(e, UserSaid) for e in inputs)
        shot = shot_path("page.png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shot))
        # Mute: the server gets silence while muted, the microphone again after.
        call = next(iter(runtime.active.values()))
        levels: list[int] = []

        class Level:
            def on_frame(self, frame: TapFrame) -> None:
                levels.append(int(np.abs(frame.pcm).max()))

        call.session.add_tap(Level(), Direction.IN)
        await page.click("#mute")
        assert await page.get_attribute("#mute", "aria-pressed") == "true"
        await page.wait_for_timeout(400)  # frames already in flight
        levels.clear()
        await page.wait_for_timeout(1500)
        assert levels and max(levels) == 0, levels[:20]
        await page.click("#mute")
        assert await page.get_attribute("#mute", "aria-pressed") == "false"
        # The agent fails on 9: the page shows the server's error, not a normal hang-up.
        await page.click("#keypad button[data-digit='9']")
        await page.wait_for_selector("#error:not([hidden])", timeout=20_000)
        assert "fail" in (await page.text_content("#error") or "").lower()
        box = await page.locator("#status").bounding_box()
        header = await page.locator("header.top").bounding_box()
        assert box and header and box["width"] < header["width"] / 3
        assert not errors, errors
