"""End to end over SIP with baresip (a real phone on loopback):

- a spoken call with consent (baresip's microphone is a WAV file: silence over the consent
  question, "Yes I agree", then the caller's words) -> a recording whose left channel
  transcribes (Whisper) to the caller's words and the right to the agent's;
- across a bridge to a human agent: the caller enters queue ``support`` (``notify``: staying
  on the line is consent), agent alice answers on her registered baresip phone, and the
  recording holds the caller on the left and alice (what the caller heard of her) on the
  right, matched by correlation with what each phone sent.

See ``recording_e2e_support``; every process started here is stopped by its PID."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import soxr
from recording_e2e_support import (
    REPLY,
    WORDS,
    YES,
    check_recorded,
    recordings,
    runtime,
    said,
    settings,
    stereo,
    the_call,
    until,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
from sip_support import (
    BARESIP,
    baresip_ctrl,
    free_udp_port,
    open_channel,
    rtp_range,
    stop_baresip,
    write_baresip_config,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "browser"))
from browser_harness import chromium, have_chromium, serve, session_page

from callport.call.call import Call
from callport.config import IdentitySettings, RecordingSettings, SipSettings
from callport.config_queues import QueueSettings, QueuesSettings

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]


def _write(path: Path, pcm: np.ndarray, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


async def _phone(root: Path, *, source: Path, account: str,
                 dial: str = "") -> tuple[asyncio.subprocess.Process, int]:
    assert BARESIP is not None
    root.mkdir()  # noqa: ASYNC240
    sip_port, ctrl = free_udp_port(), free_udp_port()
    conf = write_baresip_config(root, source_wav=source, sip_port=sip_port, ctrl_port=ctrl,
                                rtp_low=46000 + (sip_port % 150) * 100, account=account)
    proc = await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(conf), "-t", "60", *(["-e", f"/dial {dial}"] if dial else []),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return proc, ctrl


async def test_sip_call_recorded_with_consent(tmp_path: Path) -> None:
    base = settings(tmp_path)
    rt, tts = runtime(base)
    gap = lambda s: np.zeros(int(s * 8000), np.int16)  # noqa: E731
    mic = np.concatenate([gap(10.0), await said(YES, 8000), gap(5.0), await said(WORDS, 8000),
                          gap(40.0)])
    _write(tmp_path / "mic.wav", mic)
    async with open_channel(rt, media_timeout_s=30.0) as sip:
        phone, ctrl = await _phone(
            tmp_path / "caller", source=tmp_path / "mic.wav",
            account="<sip:+15550001@127.0.0.1>;regint=0;audio_codecs=PCMU",
            dial=f"sip:agent@127.0.0.1:{sip.port}")
        try:
            def listening() -> bool:
                call = the_call(rt)
                return call is not None and call.listening.is_set()

            await until(lambda: tts.said(REPLY) and listening(), "the agent's reply")
            await asyncio.sleep(0.6)
            await baresip_ctrl(ctrl, "hangup")
            await until(lambda: not rt.active, "the call to end")
        finally:
            await stop_baresip(phone, ctrl)
    check_recorded(base, "sip")


# -- across a bridge to a human agent ------------------------------------------------------


def _band_noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 8000)
    spec = np.fft.rfft(rng.normal(0, 1, n))
    freqs = np.fft.rfftfreq(n, 1 / 8000)
    spec[(freqs < 300) | (freqs > 3000)] = 0
    sig = np.fft.irfft(spec, n)
    return (8000 * sig / np.max(np.abs(sig))).astype(np.int16)


def _matches(ref: np.ndarray, sig: np.ndarray, win: int = 8000) -> int:
    """How many loud 0.5 s windows of ``sig`` (16 kHz) are a faithful copy (r >= 0.85) of
    some part of ``ref`` (8 kHz, upsampled)."""
    ref16 = soxr.resample(ref.astype(np.float32) / 32768, 8000, 16000).astype(np.float32)
    sig = sig.astype(np.float32) / 32768
    good = 0
    for i in range(0, len(sig) - win, win):
        seg = sig[i: i + win]
        if float(np.sqrt(np.mean(seg ** 2))) < 0.01:
            continue
        size = 1 << (len(ref16) + win).bit_length()
        corr = np.fft.irfft(np.fft.rfft(ref16, size) * np.conj(np.fft.rfft(seg, size)), size)
        lag = int(np.argmax(corr[: len(ref16) - win + 1]))
        cand = ref16[lag: lag + win]
        if float(np.std(cand)) > 0 and float(np.corrcoef(seg, cand)[0, 1]) >= 0.85:
            good += 1
    return good


async def _enqueue(call: Call) -> None:
    await call.enqueue("support")


async def test_a_call_bridged_to_a_human_agent_is_recorded_both_sides(tmp_path: Path) -> None:
    from callport.channels.sip.channel import SipChannel
    from callport.server.app import create_app

    low, high = rtp_range()
    caller_src, alice_src = _band_noise(60, seed=31), _band_noise(60, seed=32)
    _write(tmp_path / "caller.wav", caller_src)
    _write(tmp_path / "alice.wav", alice_src)
    base = dataclasses.replace(
        settings(tmp_path), identity=IdentitySettings(unknown="guest"),
        sip=SipSettings(enabled=True, host="127.0.0.1", port=free_udp_port(), rtp_port_min=low,
                        rtp_port_max=high, media_timeout_s=30.0),
        recording=RecordingSettings(mode="notify", stay_s=0.3, notice="Recorded.",
                                    key=settings(tmp_path).recording.key),
        queues=QueuesSettings(named=(QueueSettings(
            name="support", ring_timeout_s=20.0, wrap_up_s=0.0, max_wait_s=0.0,
            announce_every_s=0.0),)))
    rt, _tts = runtime(base, flow=_enqueue)
    await rt.users.add("alice", display_name="Alice", password="alice-pass-1",
                       roles=["agent"], queues=["support"])
    sip = SipChannel(rt, settings=base.sip)
    async with serve(create_app(rt, channels=[sip])):  # the app wires the queues and agents
        assert sip.agents is not None
        alice, alice_ctrl = await _phone(
            tmp_path / "alice", source=tmp_path / "alice.wav",
            account=(f"<sip:alice@127.0.0.1:{sip.port}>;auth_pass=alice-pass-1;regint=600;"
                     "answermode=manual;audio_codecs=PCMU"))
        caller = None
        try:
            await until(lambda: sip.agents is not None and sip.agents.online("alice"),
                        "alice to register")
            caller, caller_ctrl = await _phone(
                tmp_path / "caller", source=tmp_path / "caller.wav",
                account="<sip:+15550001@127.0.0.1>;regint=0;audio_codecs=PCMU",
                dial=f"sip:support@127.0.0.1:{sip.port}")
            await until(lambda: any(c.info.direction == "outbound" for c in sip.calls.values()),
                        "alice's phone to ring")
            await baresip_ctrl(alice_ctrl, "accept")
            await asyncio.sleep(5.0)  # both talk through the bridge
            await baresip_ctrl(alice_ctrl, "hangup")
            await until(lambda: not sip.calls and not rt.active, "the call to end")
        finally:
            await stop_baresip(alice, alice_ctrl)
            if caller is not None:
                await stop_baresip(caller, caller_ctrl)
    [meta] = recordings(base)
    assert (meta["consent"], meta["final"], meta["channel"]) == ("implied", True, "sip")
    left, right, _transcript = stereo(base, meta)
    caller_on_left, alice_on_right = _matches(caller_src, left), _matches(alice_src, right)
    print("recording: caller windows left", caller_on_left, "alice windows right",
          alice_on_right)
    assert caller_on_left >= 6  # 3 s of the caller, faithfully, on the left
    assert alice_on_right >= 6  # 3 s of the human agent on the right
    assert _matches(alice_src, left) == 0 and _matches(caller_src, right) == 0  # not mixed


def _longest_zero_run(pcm: np.ndarray) -> int:
    best = run = 0
    for quiet in (pcm == 0):
        run = run + 1 if quiet else 0
        best = max(best, run)
    return best


@pytest.mark.skipif(not have_chromium(), reason="needs chromium + playwright")
async def test_the_agent_page_pauses_and_resumes_the_recording(tmp_path: Path) -> None:
    from callport.channels.browser import create as browser_channel
    from callport.channels.browser.agent_routes import AgentDeskChannel
    from callport.channels.sip.channel import SipChannel
    from callport.server.app import create_app

    low, high = rtp_range()
    caller_src = _band_noise(60, seed=41)
    _write(tmp_path / "caller.wav", caller_src)
    mic = (_band_noise(40, seed=42).astype(np.float32) / 4).astype(np.int16)
    _write(tmp_path / "mic.wav", soxr.resample(mic, 8000, 48000).astype(np.int16), 48000)
    base = dataclasses.replace(
        settings(tmp_path), identity=IdentitySettings(unknown="guest"),
        sip=SipSettings(enabled=True, host="127.0.0.1", port=free_udp_port(), rtp_port_min=low,
                        rtp_port_max=high, media_timeout_s=30.0),
        recording=RecordingSettings(mode="notify", stay_s=0.3, notice="Recorded.",
                                    key=settings(tmp_path).recording.key),
        queues=QueuesSettings(named=(QueueSettings(
            name="support", ring_timeout_s=20.0, wrap_up_s=0.0, max_wait_s=0.0,
            announce_every_s=0.0),)))
    rt, _tts = runtime(base, flow=_enqueue)
    await rt.users.add("alice", display_name="Alice", password="alice-pass-1",
                       roles=["agent"], queues=["support"])
    sip, desk = SipChannel(rt, settings=base.sip), AgentDeskChannel(runtime=rt)
    app = create_app(rt, channels=[sip, desk, browser_channel(rt)])
    async with serve(app) as url, chromium(tmp_path / "mic.wav") as browser:
        secret = (await rt.tokens.create("alice", kind="session", ttl_s=3600,
                                         now=time.time())).secret
        page = await session_page(browser, url, secret)
        await page.goto(f"{url}/agent?transport=ws&apm=0")
        await page.wait_for_function("window.callport.state === 'available'", timeout=15_000)
        caller, caller_ctrl = await _phone(
            tmp_path / "caller", source=tmp_path / "caller.wav",
            account="<sip:+15550002@127.0.0.1>;regint=0;audio_codecs=PCMU",
            dial=f"sip:support@127.0.0.1:{sip.port}")
        try:
            await page.wait_for_selector("#offer:not([hidden])", timeout=15_000)
            await page.click("#answer")
            await page.wait_for_function("window.callport.state === 'busy'", timeout=10_000)
            await asyncio.sleep(2.0)
            await page.click("#record-pause")
            await page.wait_for_function("window.callport.results.some(r => "
                                         "r.action === 'pause_recording' && r.ok)")
            [call] = rt.active.values()
            assert call.recording is not None and call.recording.paused
            assert await page.text_content("#record-pause") == "Resume recording"
            await asyncio.sleep(2.5)
            await page.click("#record-pause")
            await page.wait_for_function("window.callport.results.filter(r => "
                                         "r.action === 'pause_recording' && r.ok).length === 2")
            assert not call.recording.paused
            await asyncio.sleep(2.0)
            await page.click("#hangup")
            await until(lambda: not sip.calls and not rt.active, "the call to end")
        finally:
            await stop_baresip(caller, caller_ctrl)
    [meta] = recordings(base)
    assert meta["paused_s"] >= 2.4
    left, right, _transcript = stereo(base, meta)
    # the caller's noise never stops, so the only silence on the left is the paused span,
    # and it is silent on the right too (alice was talking all along)
    assert _longest_zero_run(left) >= int(2.3 * 16000)
    assert _longest_zero_run(right) >= int(2.3 * 16000)
    assert _matches(caller_src, left) >= 4  # recorded before and after the pause
