"""bench/bench_load.py's method, once per channel with two callers (slow, a real serve).

Each run starts a real ``callport serve`` child (echo flow, Silero VAD), sets two calls up
over the channel's own wire protocol (Twilio and Telnyx signed webhooks and media
WebSockets, SIP INVITE and RTP, the browser's sign-in, token and WebSocket), streams speech
for two seconds and hangs up. The test checks that every call was set up, that the echo came
back (most of it: the machine is shared, so never how fast) and that the server's own VAD
batch histogram and pacer send times were read: the adapters still speak what the server
accepts, and the bench's figures come from the server, not from the generator.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from bench_load import pacer_jitter, run_calls  # noqa: E402
from loadgen import server as srv  # noqa: E402
from loadgen.audio import pcm16_frames, speech_pcm, ulaw_frames  # noqa: E402

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("channel", ["twilio", "telnyx", "sip", "browser"])
def test_two_callers_are_echoed_through_a_real_serve(channel: str) -> None:
    frames = (pcm16_frames(speech_pcm(16000)) if channel == "browser"
              else ulaw_frames(speech_pcm()))
    server = srv.start(calls=2)
    try:
        result, cpu_s, loop_s, window = run_calls(server, channel, 2, 2.0, 1, frames)
        metrics = server.metrics()
        deadline = time.monotonic() + 10
        while len(sends := server.send_times()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # each call writes its pacer send times when it ends
    finally:
        server.stop()
    assert result.failed == 0, result.errors
    assert result.sent >= 150  # two calls, 2 s of 20 ms frames (a late generator sends fewer)
    assert result.matched >= 0.5 * result.sent  # the echo came back, matched by content
    assert cpu_s > 0 and window[1] - window[0] == pytest.approx(2.0)
    assert 0 < loop_s <= cpu_s  # the main thread's share of the server's CPU
    assert "callport_gc_pause_seconds_count" in metrics  # long_gc_pauses reads it
    assert "callport_vad_batch_size_count" in metrics
    count = [line for line in metrics.splitlines()
             if line.startswith("callport_vad_batch_size_count ")]
    assert count and float(count[0].split()[1]) > 0  # the server scored the callers' speech
    assert len(sends) == 2  # both calls ended (hung up by the generator) and wrote them
    jitter = pacer_jitter(sends, window)
    assert len(jitter) >= 100 and all(j >= 0 for j in jitter)
