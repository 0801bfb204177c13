"""Headless Chromium with a fake microphone against the real channel in echo mode.

Fidelity: audio captured by the page (AudioWorklet -> 16 kHz PCM16) and received by the
server correlates with the source WAV (r >= 0.95, audio processing off), and the echoed
audio played by the page's playback worklet correlates with what the page captured.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from browser_harness import (
    aligned_r,
    chromium,
    dump,
    have_chromium,
    read_wav_16k,
    serve,
    session_page,
    synth_wav,
    windowed_r,
)
from browser_netns_run import run_in_netns
from starlette.applications import Starlette

from callport.channels.browser import create
from callport.channels.browser.echo import EchoRuntime
from callport.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")]

SENTENCES = ["Testing the browser channel, one two three.",
             "The quick brown fox jumps over the lazy dog."]


@pytest.fixture(scope="module")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser") / "speech.wav"
    synth_wav(path, SENTENCES, lead_s=0.8, gap_s=1.0, tail_s=0.8)
    return path


async def test_websocket_echo_fidelity(speech_wav: Path) -> None:
    runtime = EchoRuntime(settings=Settings())
    app = Starlette(routes=list(create(runtime).routes()))
    source = read_wav_16k(speech_wav)
    duration = len(source) / 16_000
    async with serve(app) as base, chromium(speech_wav) as browser:
        page = await session_page(browser, base, await runtime.sign_in())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/?transport=ws&apm=0&gate=0&record=1")
        await page.click("#call")
        await page.wait_for_function("window.callport.state === 'live'", timeout=15_000)
        await asyncio.sleep(duration + 0.5)
        rec = await dump(page)
        await page.click("#call")  # hang up
        await asyncio.wait_for(runtime.ended.wait(), 10)
        assert not errors, errors
    [call] = runtime.calls
    assert call.hangup == "caller hung up"
    received = call.audio().astype(np.float32) / 32768
    assert len(received) >= 0.9 * len(source)
    r, lag, gain = aligned_r(source, received, max_lag=8000)
    per_second = windowed_r(source, received)
    assert len(per_second) >= 4 and float(np.median(per_second)) >= 0.95, (per_second, r)
    assert r >= 0.8, (r, lag, gain)  # one global alignment (0.998 on an idle machine)
    assert 0.7 < gain < 1.3
    # The echo came back through the playback worklet: it matches what the page captured.
    assert rec.rate in {44_100, 48_000}
    r_echo, lag_echo, _ = aligned_r(rec.mic, rec.remote, max_lag=16000)
    assert r_echo >= 0.9, (r_echo, lag_echo)
    offset = (rec.remote_start - rec.mic_start) / rec.rate * 16_000
    round_trip_ms = (lag_echo + offset) / 16
    assert 0 < round_trip_ms < 500, round_trip_ms
    print(f"server r={r:.4f} gain={gain:.3f}; echo r={r_echo:.4f} rt {round_trip_ms:.0f} ms")


@pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0,
                    reason="needs root and unshare for a private network namespace")
def test_webrtc_echo_fidelity_in_network_namespace(speech_wav: Path) -> None:
    result = run_in_netns(["echo", "webrtc", str(speech_wav), "--seconds", "8"])
    assert not result["errors"], result
    assert result["call_id"].startswith("rtc-")
    assert result["hangup"] == "caller hung up"
    assert result["seconds_received"] >= 7.0
    # Opus is lossy; processing off. Per 1 s window (see windowed_r) and overall.
    assert float(np.median(result["r_windows"])) >= 0.95, result
    assert result["r"] >= 0.8, result
    assert 0.8 < result["gain"] < 1.2, result  # stereo frames: no -3 dB
    # Echo through aiortc and back. NetEq time-stretches, so one alignment for the whole call
    # is loose (its r was 0.15-0.9 from run to run): each second of speech the page captured
    # must come back on its own (r >= 0.6 at its own lag), 50-800 ms later.
    speech, delays = result["echo_speech_windows"], result["echo_delays_ms"]
    assert speech >= 4, result
    assert len(delays) >= 0.5 * speech, result
    assert 50 < float(np.median(delays)) < 800, result
