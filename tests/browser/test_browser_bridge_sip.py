"""A SIP call (baresip on loopback) bridged to a browser call (headless Chromium, fake mic)
through callport's ``Bridge``: each party hears the other (both ways, at least half of the
far end's 0.5 s windows at r >= 0.9), and each direction's tap holds what that side was
actually sent (median r >= 0.9)."""

from __future__ import annotations

import asyncio
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soxr
from browser_harness import chromium, dump, have_chromium, serve, session_page, write_wav
from starlette.applications import Starlette

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sip"))
from sip_support import (
    BARESIP,
    free_udp_port,
    open_channel,
    stop_baresip,
    write_baresip_config,
)

from callport.call.bridge import Bridge, BridgeResult, PartyLeft
from callport.call.leg import Leg
from callport.call.session import CallSession
from callport.call.taps import Direction, FrameCollector
from callport.channels.browser import create
from callport.channels.browser.echo import EchoRuntime
from callport.config import Settings
from callport.metrics import Metrics
from callport.types import CallInfo
from callport.vad.turn import TurnDetector

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright"),
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]


def band_noise(seconds: float, rate: int, seed: int, lo: float = 300.0,
               hi: float = 3000.0, amp: float = 0.25) -> np.ndarray:
    """Band-limited noise (inside a phone line's band), float in [-1, 1]."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    spec = np.fft.rfft(rng.normal(0, 1, n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spec[(freqs < lo) | (freqs > hi)] = 0
    sig = np.fft.irfft(spec, n)
    return (amp * sig / np.max(np.abs(sig))).astype(np.float32)


def to16k(pcm: np.ndarray, rate: int) -> np.ndarray:
    x = pcm.astype(np.float32) / (32768 if pcm.dtype == np.int16 else 1)
    return x if rate == 16_000 else soxr.resample(x, rate, 16_000).astype(np.float32)


def median_r(ref: np.ndarray, sig: np.ndarray, win: int = 8000) -> list[float]:
    """Pearson r of each 0.5 s window of ``sig`` holding signal with its best match in ``ref``."""
    out: list[float] = []
    for i in range(0, len(sig) - win, win):
        seg = sig[i: i + win]
        if float(np.sqrt(np.mean(seg ** 2))) < 0.01:
            continue
        size = 1 << (len(ref) + win).bit_length()
        corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(seg, size)), size)
        lag = int(np.argmax(corr[: len(ref) - win + 1]))
        cand = ref[lag: lag + win]
        if float(np.std(cand)) > 0:
            out.append(float(np.corrcoef(seg, cand)[0, 1]))
    return out


@dataclass(slots=True, kw_only=True)
class BridgeRuntime(EchoRuntime):
    """The SIP call and the browser call meet here and are bridged."""

    sessions: dict[str, CallSession] = field(default_factory=dict)
    sip_to_browser: FrameCollector = field(default_factory=FrameCollector)
    browser_to_sip: FrameCollector = field(default_factory=FrameCollector)
    results: list[BridgeResult] = field(default_factory=list)
    both: asyncio.Event = field(default_factory=asyncio.Event)
    inbound: dict[str, FrameCollector] = field(default_factory=dict)

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        session = CallSession(leg=leg, vad=None, turn=TurnDetector(), metrics=Metrics())
        session.start()
        kind = "browser" if info.channel == "browser" else "sip"
        self.inbound[kind] = FrameCollector()
        session.add_tap(self.inbound[kind], Direction.IN)
        self.sessions[kind] = session
        if len(self.sessions) == 2:
            self.both.set()
        try:
            if kind == "sip":
                await asyncio.wait_for(self.both.wait(), 10)
                result = await Bridge(
                    a=session, b=self.sessions["browser"], taps_a_to_b=[self.sip_to_browser],
                    taps_b_to_a=[self.browser_to_sip]).run()
                self.results.append(result)
            else:
                await session.wait_ended()
        finally:
            await session.close()
            self.ended.set()


def wav_8k(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


async def test_sip_call_bridged_to_browser_call_audio_both_ways(tmp_path: Path) -> None:
    rate_page = 48_000
    browser_src = np.concatenate([np.zeros(rate_page // 2, np.float32),
                                  band_noise(9.0, rate_page, seed=2)])
    write_wav(tmp_path / "mic.wav", (browser_src * 32767).astype(np.int16), rate_page)
    sip_src = band_noise(30.0, 8000, seed=1)
    write_wav(tmp_path / "sip.wav", (sip_src * 32767).astype(np.int16), 8000)
    sip_port, ctrl_port = free_udp_port(), free_udp_port()
    conf = write_baresip_config(
        tmp_path, source_wav=tmp_path / "sip.wav", sip_port=sip_port, ctrl_port=ctrl_port,
        rtp_low=40000 + (sip_port % 200) * 100,
        account="<sip:bot@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU")

    runtime = BridgeRuntime(settings=Settings())
    app = Starlette(routes=list(create(runtime).routes()))
    async with open_channel(runtime) as channel, serve(app) as base, \
            chromium(tmp_path / "mic.wav") as browser:
        page = await session_page(browser, base, await runtime.sign_in())
        await page.goto(f"{base}/?transport=ws&apm=0&gate=0&record=1")
        await page.click("#call")
        await page.wait_for_function("window.callport.state === 'live'", timeout=15_000)
        assert BARESIP is not None
        proc = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(conf), "-t", "25", "-e",
            f"/dial sip:agent@127.0.0.1:{channel.port}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.wait_for(runtime.both.wait(), 15)
            async with asyncio.timeout(20):  # 4 s of audio each way through the bridge
                while len(runtime.browser_to_sip.frames) < 200 or \
                        len(runtime.sip_to_browser.frames) < 200:
                    await asyncio.sleep(0.1)
            rec = await dump(page)
            await page.click("#call")  # the browser hangs up: the bridge ends, SIP gets a BYE
            async with asyncio.timeout(10):  # ... and callport hung the SIP call up (BYE)
                while not runtime.results or channel.calls:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
        finally:
            await stop_baresip(proc, ctrl_port)
    [result] = runtime.results
    assert isinstance(result, PartyLeft) and result.side == "b"  # the page hung up

    # references: what callport received from each party (its inbound tap). A loaded machine
    # can make Chromium's capture drop audio before it reaches callport; the bridge is
    # measured from what it was given to what the far end heard.
    from_sip = to16k(np.concatenate([f.pcm for f in runtime.inbound["sip"].frames]), 8000)
    from_page = to16k(np.concatenate([f.pcm for f in runtime.inbound["browser"].frames]),
                      16_000)
    # taps: what each side was sent, at send time, is the other side's audio
    to_browser = np.concatenate([f.pcm for f in runtime.sip_to_browser.frames])
    to_sip = np.concatenate([f.pcm for f in runtime.browser_to_sip.frames])
    assert runtime.sip_to_browser.frames[0].sample_rate == 16_000
    assert runtime.browser_to_sip.frames[0].sample_rate == 8000
    r_tap_b = median_r(from_sip, to16k(to_browser, 16_000))
    r_tap_s = median_r(from_page, to16k(to_sip, 8000))
    # far ends: what the page played, and what baresip heard
    [heard_file] = sorted((tmp_path / "rec").glob("*-dec.wav"))[-1:]
    heard_sip = to16k(wav_8k(heard_file), 8000)
    r_page, r_sip = median_r(from_sip, rec.remote), median_r(from_page, heard_sip)
    # and against the sources the two peers played (for the record)
    r_src_b = median_r(to16k(sip_src, 8000), rec.remote)
    r_src_s = median_r(to16k(browser_src, rate_page), heard_sip)
    print(f"bridge r: sip->browser tap {np.median(r_tap_b):.3f}, page heard "
          f"{np.median(r_page):.3f} (vs baresip's wav {np.median(r_src_b):.3f}); browser->sip "
          f"tap {np.median(r_tap_s):.3f}, baresip heard {np.median(r_sip):.3f} (vs mic wav "
          f"{np.median(r_src_s):.3f})")
    for rs in (r_tap_b, r_tap_s):  # what callport sent each side: the bridge itself
        assert len(rs) >= 4 and float(np.median(rs)) >= 0.9, rs
    # What the far ends played: a loaded machine's Chromium can glitch its playback in a window
    # or two (a CI run: 3 of 8 windows at 0.07-0.79 while the tap was 1.000), so at least half
    # of the windows must match at r >= 0.9.
    for rs in (r_page, r_sip):
        assert len(rs) >= 4 and sum(r >= 0.9 for r in rs) >= len(rs) / 2, rs
