"""web-audio-capture's smoke test in headless Chromium: the capture and playback worklets in
assets/ load, 20 ms frames arrive at about 50 a second, a tone comes out of playback with its
mark reported played, ``clear`` drops queued audio (its mark reported not played), and
voice-page.js streams 640-byte frames to a WebSocket, plays the echo and answers marks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import callport

SCRIPT = (Path(callport.__file__).resolve().parent / "skills" / "web-audio-capture" / "scripts"
          / "worklet_smoke.py")
CHROMIUM = "/usr/bin/chromium"


def have_chromium() -> bool:  # as tests/browser/browser_harness.py decides
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return Path(CHROMIUM).exists()


pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")]


def test_worklets_deliver_frames_and_play_in_headless_chromium() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--chromium", CHROMIUM],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["badFrames"] == 0
    assert 25 <= result["framesPerSecond"] <= 75
    assert result["markPlayed"] and result["tapPeak"] > 0.1
    assert result["clearDropped"] == ["long"] and not result["longPlayed"]
    ws = result["websocket"]  # websockets is in the dev extra: the page's socket path ran too
    assert ws["framesIn"] >= 30 and ws["frameSizes"] == [640]
    assert {"type": "mark", "name": "echo-25", "played": True} in ws["markReplies"]
