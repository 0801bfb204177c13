"""bench/bench_ear.py's method, once per channel with one request (slow, real peers).

A real ``callport serve`` child (the Task Manager, the embedded stack, a throwaway database)
and a caller on each channel: the Python SIP/RTP caller, the Twilio simulator, headless
Chromium on the product page. The request barges in on the greeting and is answered; the
test checks only that both figures came out and are positive (never how fast: that is the
bench's to print), and that the server recorded the turn with its own timing.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
from bench_ear import run_channel
from ear_common import Figures, build_requests
from ear_serve import Served, start_serve

pytestmark = [pytest.mark.slow, pytest.mark.interop]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("piper")
    server = start_serve(tmp_path_factory.mktemp("ear"))
    try:
        yield server
    finally:
        server.stop()


def one_turn(channel: str, served: Served) -> Figures:
    requests = build_requests(1, 48_000 if channel == "browser" else 8000)
    fig = asyncio.run(run_channel(channel, served, requests))
    assert len(fig.first_reply_ms) == 1 and fig.first_reply_ms[0] > 0, fig
    assert len(fig.barge_in_ms) == 1 and fig.barge_in_ms[0] > 0, fig  # over the greeting
    assert fig.barge_ins_server >= 1, fig
    [turn] = [t for t in fig.server if t.get("end_of_speech_to_first_audio") is not None]
    assert float(turn["end_of_speech_to_first_audio"]) > 0  # type: ignore[arg-type]
    assert float(turn["endpoint"]) > 0 and float(turn["stt"]) > 0  # type: ignore[arg-type]
    return fig


def test_sip_caller_hears_the_reply_and_stops_the_greeting(served: Served) -> None:
    one_turn("sip", served)


def test_twilio_caller_hears_the_reply_and_stops_the_greeting(served: Served) -> None:
    one_turn("twilio", served)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium")
def test_browser_caller_hears_the_reply_and_stops_the_greeting(served: Served) -> None:
    pytest.importorskip("playwright")
    one_turn("browser", served)
