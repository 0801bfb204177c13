"""End to end: examples/ivr/acme.toml behind the browser page, in headless Chromium with a
fake microphone. The signed-in owner presses 9 on the page's keypad (leave a message), speaks
the message, presses #; the IVR's outcome is ``voicemail``, and the message then appears on
the owner's own page (the voicemail panel under the tasks: caller, transcript, audio that
plays and is marked heard)."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from ivr_support import HeardSTT, ivr_settings, journal, until

sys.path.insert(0, str(Path(__file__).parents[1] / "browser"))
from browser_harness import chromium, have_chromium, serve, session_page, synth_wav
from browser_page_support import ToneTTS, wait_for

from callport.channels.browser import create
from callport.config import Settings, TurnSettings
from callport.flows.ivr import IvrFlow
from callport.server.app import create_app
from callport.server.runtime import build_runtime

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs playwright + chromium")]
MESSAGE = "please call me back about my order"


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ivr_page") / "message.wav"
    synth_wav(path, [MESSAGE], lead_s=1.5, tail_s=2.5)  # looped: speech every ~6 s
    return path


async def test_keypad_9_leaves_a_voicemail_the_owner_then_sees(tmp_path: Path,
                                                               speech_wav: Path) -> None:
    from datetime import datetime

    settings = ivr_settings(replace(Settings(), turn=TurnSettings(vad="webrtc")),
                            tmp_path / "ivr.db")
    runtime = build_runtime(settings, stt=HeardSTT(MESSAGE), tts=ToneTTS(0.08))
    flow = runtime.flow
    assert isinstance(flow, IvrFlow)
    flow.at = datetime.fromisoformat("2026-12-02T10:00")
    await runtime.users.add("owner", roles=("admin",))
    secret = (await runtime.tokens.create("owner", kind="session", ttl_s=3600,
                                          now=time.time())).secret
    app = create_app(runtime, channels=[create(runtime)])
    async with serve(app) as base, chromium(speech_wav, loop=True) as browser:
        page = await session_page(browser, base, secret)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/?gate=0")
        assert await page.is_hidden("#voicemail-box")  # no messages yet
        await page.click("#call")
        await wait_for(page, "window.callport.state === 'live'")
        await until(lambda: runtime.active, "the call")
        [call] = runtime.active.values()
        await page.click("#keypad-toggle")
        await page.click("#keypad button[data-digit='9']")
        await until(lambda: flow.journals and journal(flow)[1].outcome == "voicemail",
                    "the IVR to choose voicemail")
        await until(lambda: any(t.transcript == MESSAGE for t in call.turns),
                    "the spoken message")
        await page.click("#keypad button[data-digit='#']")
        await until(lambda: not runtime.active, "the call to end after 'saved'")
        # The owner's page shows the message (its panel polls /api/voicemail).
        await page.wait_for_selector("#voicemail-box:not([hidden])", timeout=15_000)
        assert await page.text_content("#voicemail-count") == "1 new"
        item = page.locator("#voicemail li.vm")
        assert await item.count() == 1
        assert MESSAGE in (await item.locator(".vm-text").text_content() or "")
        assert await page.evaluate("window.callport.voicemail[0].menu") == "main"
        src = await item.locator("audio").get_attribute("src") or ""
        status = await page.evaluate(
            "async (src) => { const r = await fetch(src); return [r.status, "
            "r.headers.get('content-type'), (await r.arrayBuffer()).byteLength]; }", src)
        assert status[0] == 200 and status[1] == "audio/wav" and status[2] > 16_000, status
        await item.locator("audio").evaluate("(a) => a.play()")  # marks it heard
        await wait_for(page, "window.callport.voicemail.length === 1 && "
                             "window.callport.voicemail[0].heard", 15_000)
        assert await page.text_content("#voicemail-count") == ""
        assert not errors, errors
    _, entry = journal(flow)
    assert entry.steps[0]["digits"] == "9" and entry.steps[0]["by"] == "dtmf"
    [message] = await runtime.voicemail.list(for_user="owner")
    assert message.heard and MESSAGE in message.transcript
