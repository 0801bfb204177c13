"""The spoken Task Manager call from a real page, through the real Runtime and speech stack.

Headless Chromium's fake microphone says "add a task to buy milk tomorrow" (a Piper voice);
the page runs as a user runs it (echo cancelling on, client Silero VAD gating and barge-in).
Asserts: the task is stored, the page's task list shows it, the caller/agent transcripts
reach the page, and the reply audio arrived and played. WebRTC runs in a private network
namespace. A barge-in case speaks over the greeting and checks that playback stopped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from browser_agent_flow import run_agent_call
from browser_harness import have_chromium, synth_wav
from browser_netns_run import run_in_netns

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")]

ROOT = Path(__file__).resolve().parent.parent.parent
REQUEST = "Add a task to buy milk tomorrow."


@pytest.fixture(scope="module")
def request_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser_agent") / "milk.wav"
    # 7 s of silence first: the greeting plays out before the caller speaks.
    synth_wav(path, [REQUEST], lead_s=7.0, tail_s=8.0, voice="piper")
    return path


@pytest.fixture(scope="module")
def barge_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser_barge") / "barge.wav"
    # The fake microphone starts at getUserMedia, before the call is up; under load the greeting
    # can start more than 3 s later, so the caller speaks 5.5 s in: still inside the ~9 s
    # greeting, and late enough that it is playing (CI once saw nothing played before 3 s).
    synth_wav(path, [REQUEST], lead_s=5.5, tail_s=8.0, voice="piper")  # over the greeting
    return path


def check_task_call(result: dict[str, Any]) -> None:
    assert not result["errors"], result["errors"]
    stored = [title for title, _ in result["stored"]]
    assert any("milk" in t.lower() for t in stored), result
    assert any("milk" in (t.get("title") or "").lower() for t in result["page_tasks"]), result
    roles = [t["role"] for t in result["transcripts"]]
    assert roles[:1] == ["agent"] and "caller" in roles, result["transcripts"]
    caller = next(t["text"] for t in result["transcripts"] if t["role"] == "caller")
    assert "milk" in caller.lower()
    replies = [t["text"] for t in result["transcripts"] if t["role"] == "agent"][1:]
    assert any("milk" in r.lower() for r in replies), result["transcripts"]
    assert result["reply_rms"] > 0.02, result  # the reply was heard on the page's output


async def test_websocket_spoken_request_creates_task(request_wav: Path) -> None:
    # docs/screenshot.png (the README's) is refreshed on request, so test runs leave the
    # tree clean; otherwise the shot goes to the git-ignored .artifacts/.
    shot = ROOT / "docs" / "screenshot.png"
    if shot.exists() and not os.environ.get("CALLPORT_UPDATE_SCREENSHOT"):
        shot = ROOT / ".artifacts" / "browser-screenshot.png"
    result = await run_agent_call("ws", request_wav, 45.0, shot)
    check_task_call(result)
    assert result["vad_frames"] > 50  # the client VAD ran
    assert result["latency"], "the page shows a reply latency"
    assert shot.exists() and shot.stat().st_size > 10_000


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="needs root and unshare for a private network namespace")
async def test_webrtc_spoken_request_creates_task(request_wav: Path) -> None:
    result = await asyncio.to_thread(
        run_in_netns, ["agent", "webrtc", str(request_wav), "--seconds", "45"], timeout=150)
    check_task_call(result)


async def test_barge_in_over_the_greeting_stops_playback(barge_wav: Path) -> None:
    result = await run_agent_call("ws", barge_wav, 45.0)
    assert not result["errors"], result["errors"]
    # The page's own VAD usually cuts the greeting first; on a loaded machine the server's
    # VAD can get there first and tell the page to clear. Either way playback must stop.
    assert result["interrupts"] + result["server_clears"] >= 1, result
    assert result["played_before_speech_rms"] > 0.02, result  # the greeting was playing
    assert result["played_0_5_to_1_2_s_after_speech_rms"] < 0.005, result  # and stopped
    assert any("milk" in t.lower() for t, _ in result["stored"]), result
