"""End to end through the server on loopback, real agents: baresip registers to callport as
agent alice (digest), a SIP caller (another baresip) enters queue ``support`` and hears hold
music (non-silent, recorded on its side) while alice's phone rings; she answers and audio
flows both ways through the bridge (correlation at both far ends); the call history has the
queue events with the wait and the agent. The same with alice answering on the /agent page
in headless Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest
import soxr
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS
from sip_support import BARESIP, baresip_ctrl, free_udp_port, rtp_range, stop_baresip
from sip_support import write_baresip_config as baresip_conf

from callport.call.call import Call
from callport.channels.browser import create as browser_channel
from callport.channels.browser.agent_routes import AgentDeskChannel
from callport.channels.sip.channel import SipChannel
from callport.config import (
    IdentitySettings,
    ServerSettings,
    Settings,
    SipSettings,
)
from callport.config_queues import QueueSettings, QueuesSettings
from callport.server.app import create_app
from callport.server.runtime import Runtime, build_runtime

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from browser_harness import chromium, dump, have_chromium, serve, session_page

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]

HOLD_S = 2.5  # alice lets it ring this long: the caller is on hold music meanwhile


async def enqueue_support(call: Call) -> None:
    await call.enqueue("support")


def band_noise(seconds: float, rate: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    spec = np.fft.rfft(rng.normal(0, 1, n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spec[(freqs < 300) | (freqs > 3000)] = 0
    sig = np.fft.irfft(spec, n)
    return (0.25 * sig / np.max(np.abs(sig))).astype(np.float32)


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((pcm * 32767).astype("<i2").tobytes())


def heard(rec: Path) -> np.ndarray:
    [path] = sorted(rec.glob("*-dec.wav"))[-1:]
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768


def good_windows(ref: np.ndarray, sig: np.ndarray, win: int = 8000) -> list[float]:
    """Pearson r of each 0.5 s window of ``sig`` (16 kHz) with its best match in ``ref``."""
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


def up16(pcm: np.ndarray, rate: int) -> np.ndarray:
    return pcm if rate == 16_000 else soxr.resample(pcm, rate, 16_000).astype(np.float32)


async def until(check: Callable[[], object], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[Runtime, SipChannel, AgentDeskChannel,
                                                         str]]:
    low, high = rtp_range()
    settings = Settings(
        server=ServerSettings(db=str(tmp_path / "callport.db")),
        identity=IdentitySettings(unknown="guest"),
        sip=SipSettings(enabled=True, host="127.0.0.1", port=free_udp_port(),
                        rtp_port_min=low, rtp_port_max=high, media_timeout_s=10.0),
        queues=QueuesSettings(named=(QueueSettings(
            name="support", ring_timeout_s=20.0, wrap_up_s=0.0, max_wait_s=0.0,
            announce_every_s=0.0),)))
    runtime = build_runtime(settings, flow=enqueue_support, stt=ScriptedSTT([]),  # type: ignore[arg-type]
                            tts=ToneTTS(), vad=EnergyVad(),  # type: ignore[arg-type]
                            agent_factory=lambda info: EchoTextAgent())
    await runtime.users.add("alice", display_name="Alice", password="alice-pass-1",
                            roles=["agent"], queues=["support"])
    sip = SipChannel(runtime, settings=settings.sip)
    desk = AgentDeskChannel(runtime=runtime)
    app = create_app(runtime, channels=[sip, desk, browser_channel(runtime)])
    async with serve(app) as base:
        yield runtime, sip, desk, base


async def start_baresip(root: Path, *, account: str, source: Path,
                        dial: str = "") -> tuple[asyncio.subprocess.Process, int]:
    assert BARESIP is not None
    root.mkdir()  # noqa: ASYNC240
    sip_port, ctrl = free_udp_port(), free_udp_port()
    conf = baresip_conf(root, source_wav=source, sip_port=sip_port, ctrl_port=ctrl,
                        rtp_low=44000 + (sip_port % 150) * 100, account=account)
    proc = await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(conf), "-t", "40", *(["-e", f"/dial {dial}"] if dial else []),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return proc, ctrl


async def queue_events(runtime: Runtime) -> list[str]:
    out: list[str] = []
    for record in await runtime.calls.list_recent(10):
        out += [f"{e.kind}: {e.detail}" for e in await runtime.calls.events(record.call_id)
                if e.kind == "queue"]
    return out


def check_hold_music(caller_heard: np.ndarray) -> None:
    wait = caller_heard[int(0.6 * 8000): int((HOLD_S - 0.3) * 8000)]
    frames = wait[: len(wait) // 160 * 160].reshape(-1, 160)
    quiet = int(np.sum(np.sqrt(np.mean(frames ** 2, axis=1)) < 50 / 32768))
    assert float(np.sqrt(np.mean(wait ** 2))) > 300 / 32768 and quiet <= 5, "silence on hold"


async def test_sip_caller_queued_to_agent_alice_on_her_registered_phone(tmp_path: Path) -> None:
    caller_src, alice_src = band_noise(40, 8000, seed=11), band_noise(40, 8000, seed=12)
    write_wav(tmp_path / "caller.wav", caller_src, 8000)
    write_wav(tmp_path / "alice.wav", alice_src, 8000)
    async with gateway(tmp_path) as (runtime, sip, _desk, _base):
        assert sip.agents is not None
        alice, alice_ctrl = await start_baresip(
            tmp_path / "alice", source=tmp_path / "alice.wav",
            account=(f"<sip:alice@127.0.0.1:{sip.port}>;auth_pass=alice-pass-1;regint=600;"
                     "answermode=manual;audio_codecs=PCMU"))
        caller = None
        try:
            await until(lambda: sip.agents is not None and sip.agents.online("alice"), 10)
            caller, caller_ctrl = await start_baresip(
                tmp_path / "caller", source=tmp_path / "caller.wav",
                account="<sip:+15550001@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU",
                dial=f"sip:support@127.0.0.1:{sip.port}")
            # alice's phone rings (callport's INVITE to her binding), and she lets it ring
            await until(lambda: any(c.info.direction == "outbound" for c in sip.calls.values()),
                        15)
            await asyncio.sleep(HOLD_S)
            await baresip_ctrl(alice_ctrl, "accept")
            await asyncio.sleep(5.0)  # both talk through the bridge
            await baresip_ctrl(alice_ctrl, "hangup")  # alice hangs up; callport ends the call
            await until(lambda: not sip.calls, 10)
        finally:
            await stop_baresip(alice, alice_ctrl)
            if caller is not None:
                await stop_baresip(caller, caller_ctrl)
        events = await queue_events(runtime)
    caller_heard = heard(tmp_path / "caller" / "rec")
    alice_heard = heard(tmp_path / "alice" / "rec")
    check_hold_music(caller_heard)
    r_caller = good_windows(up16(alice_src, 8000), up16(caller_heard, 8000))
    r_alice = good_windows(up16(caller_src, 8000), up16(alice_heard, 8000))
    print("caller hears alice:", np.round(sorted(r_caller)[-6:], 3),
          "alice hears caller:", np.round(sorted(r_alice)[-6:], 3), events)
    assert sum(r >= 0.9 for r in r_caller) >= 4  # 2 s of alice, faithfully, at the caller
    assert sum(r >= 0.9 for r in r_alice) >= 4
    assert events[0] == "queue: joined support"
    assert events[1].startswith("queue: answered support: alice after ")
    waited = float(events[1].rsplit("after ", 1)[1].split(" s")[0])
    assert waited >= HOLD_S


@pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")
async def test_sip_caller_queued_to_alice_on_the_agent_page(tmp_path: Path) -> None:
    rate_page = 48_000
    mic = band_noise(30, rate_page, seed=21)  # no lead-in silence: none is heard on the line
    write_wav(tmp_path / "mic.wav", mic, rate_page)
    caller_src = band_noise(40, 8000, seed=22)
    write_wav(tmp_path / "caller.wav", caller_src, 8000)
    async with gateway(tmp_path) as (runtime, sip, desk, base), \
            chromium(tmp_path / "mic.wav") as browser:
        secret = (await runtime.tokens.create("alice", kind="session", ttl_s=3600,
                                              now=time.time())).secret
        page = await session_page(browser, base, secret)
        await page.goto(f"{base}/agent?transport=ws&apm=0&record=1")
        await page.wait_for_function("window.callport.state === 'available'", timeout=15_000)
        caller, caller_ctrl = await start_baresip(
            tmp_path / "caller", source=tmp_path / "caller.wav",
            account="<sip:+15550002@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU",
            dial=f"sip:support@127.0.0.1:{sip.port}")
        try:
            await page.wait_for_selector("#offer:not([hidden])", timeout=15_000)
            assert await page.text_content("#offer-queue") == "support"
            assert "+15550002" in (await page.text_content("#offer-caller") or "")
            await asyncio.sleep(HOLD_S)
            await page.click("#answer")
            await page.wait_for_function("window.callport.state === 'busy'", timeout=10_000)
            await asyncio.sleep(5.0)
            rec = await dump(page)
            leg = desk.desk.leg_of("alice")
            assert leg is not None
            await page.click("#hold")  # the caller hears music while alice is away
            await page.wait_for_function(
                "window.callport.results.some(r => r.action === 'hold' && r.ok)")
            await asyncio.sleep(2.0)
            await page.click("#hold")  # resume
            await until(lambda: not leg.holding, 5)
            assert leg.music_frames >= 50
            await asyncio.sleep(1.0)
            await page.click("#hangup")
            await until(lambda: not sip.calls, 10)
        finally:
            await stop_baresip(caller, caller_ctrl)
        events = await queue_events(runtime)
    caller_heard = heard(tmp_path / "caller" / "rec")
    check_hold_music(caller_heard)
    frames = caller_heard[8000:][: (len(caller_heard) - 8000) // 160 * 160].reshape(-1, 160)
    quiet = np.sqrt(np.mean(frames ** 2, axis=1)) < 50 / 32768
    assert int(quiet[:-25].sum()) <= 10  # queue music, alice, hold music, alice: never silent
    r_page = good_windows(up16(caller_src, 8000), rec.remote)  # alice heard the caller
    r_caller = good_windows(up16(mic, rate_page), up16(caller_heard, 8000))
    print("page hears caller:", np.round(sorted(r_page)[-6:], 3),
          "caller hears page:", np.round(sorted(r_caller)[-6:], 3), events)
    assert sum(r >= 0.9 for r in r_page) >= 4
    assert sum(r >= 0.85 for r in r_caller) >= 4  # through the page's capture and G.711
    assert events[0] == "queue: joined support"
    assert events[1].startswith("queue: answered support: alice after ")
