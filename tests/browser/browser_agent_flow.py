"""One spoken Task Manager call from headless Chromium through the real Runtime.

The fake microphone plays a WAV; the page runs as a user would use it (echo cancelling on,
client Silero VAD gating and barge-in on) plus ``record=1`` so the reply audio the page
played can be checked. Returns what happened as a JSON-able dict.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PAGE_STATE = """() => {
  const c = window.callport.call;
  return {
    transcripts: window.callport.transcripts, tasks: window.callport.tasks,
    remoteFrames: c ? c.rec.remote.length : 0, state: window.callport.state,
    interrupts: c ? c.stats.interrupts : 0, serverClears: c ? c.stats.serverClears : 0,
    framesSent: c ? c.stats.framesSent : 0,
    latency: window.callport.log.filter((x) => x.latency).map((x) => x.latency),
    vadMs: c ? c.stats.vadMs.length : 0,
  };
}"""


def _rms_frames(remote: np.ndarray) -> np.ndarray:
    n = len(remote) // 320
    return np.sqrt(np.mean(remote[: n * 320].reshape(n, 320) ** 2, axis=1))


async def run_agent_call(transport: str, wav: Path, seconds: float,
                         screenshot: Path | None = None) -> dict[str, Any]:
    from browser_harness import chromium, dump, serve, sign_in_by_link

    from callport.channels.browser import create
    from callport.config import ServerSettings, Settings, SpeechSettings
    from callport.server.app import create_app
    from callport.server.runtime import build_runtime
    from callport.store.owner import ensure_owner

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(server=ServerSettings(db=str(Path(tmp) / "tasks.db")),
                            speech=SpeechSettings(piper_variation=False))
        runtime = build_runtime(settings)
        await runtime.warmup()
        # Load the intent model now too (the first turn would otherwise pay for it).
        from callport.agents.base import CallInfo, UserSaid

        agent = runtime.agent_factory(CallInfo(call_id="warmup", channel="test"))
        async for _ in agent.respond(UserSaid("what is on my list")):
            pass
        app = create_app(runtime, channels=[create(runtime)])
        async with serve(app) as base, chromium(wav) as browser:
            page = await browser.new_page(viewport={"width": 1280, "height": 640})
            owner, _ = await ensure_owner(runtime.users, name=settings.identity.owner)
            await sign_in_by_link(page, base, runtime, owner.name)  # as after `serve`
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            if os.environ.get("CALLPORT_TEST_CONSOLE"):
                page.on("console", lambda m: print("[page]", m.text, flush=True))
                page.on("response", lambda r: r.status >= 400 and print("[http]", r.status, r.url))
                page.on("requestfailed", lambda r: print("[failed]", r.url))
            await page.goto(f"{base}/?transport={transport}&record=1")
            await page.click("#call")
            await page.wait_for_function("window.callport.state === 'live'", timeout=30_000)
            started = time.monotonic()
            state: dict[str, Any] = {}
            marks: dict[str, float] = {}
            caller_frame = -1
            while time.monotonic() - started < seconds:
                await asyncio.sleep(0.25)
                state = await page.evaluate(PAGE_STATE)
                said = [t["text"] for t in state["transcripts"] if t["role"] == "caller"]
                if said and caller_frame < 0:
                    caller_frame = state["remoteFrames"]
                    marks["caller_transcript_s"] = time.monotonic() - started
                if any("milk" in (t.get("title") or "").lower() for t in state["tasks"]):
                    marks.setdefault("task_listed_s", time.monotonic() - started)
                    if caller_frame >= 0 and state["remoteFrames"] - caller_frame > 150:
                        break  # reply played for 3 s: enough
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(screenshot))
            rec = await dump(page)
            await page.click("#call")
            await asyncio.sleep(0.5)
        tasks = await runtime.store.list(include_done=True)
    rms = _rms_frames(rec.remote)
    mic_rms = _rms_frames(rec.mic)
    loud = np.flatnonzero(mic_rms > 0.02)
    shift = round((rec.remote_start - rec.mic_start) / rec.rate * 50)  # mic -> remote frames
    onset = int(loud[0]) - shift if len(loud) else -1
    before = float(rms[max(0, onset - 50): max(0, onset)].max(initial=0.0)) if onset > 0 else 0.0
    after = float(rms[onset + 25: onset + 60].max(initial=0.0)) if onset > 0 else 0.0
    reply_rms = float(rms[caller_frame:].max()) if 0 <= caller_frame < len(rms) else 0.0
    greeting_rms = float(rms[: max(caller_frame, 1)].max()) if len(rms) else 0.0
    return {
        "errors": errors, "transcripts": state.get("transcripts", []),
        "page_tasks": state.get("tasks", []), "stored": [(t.title, str(t.due)) for t in tasks],
        "reply_rms": reply_rms, "greeting_rms": greeting_rms, "marks": marks,
        "interrupts": state.get("interrupts", 0), "server_clears": state.get("serverClears", 0),
        "latency": state.get("latency", []),
        "played_rms_track": [round(float(x), 4) for x in rms[::5]],
        "vad_frames": state.get("vadMs", 0),
        "played_before_speech_rms": before, "played_0_5_to_1_2_s_after_speech_rms": after,
    }
