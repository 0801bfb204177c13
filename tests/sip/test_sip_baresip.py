"""Interop with baresip (Debian baresip-core) on 127.0.0.1, both directions."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from sip_support import (
    BARESIP,
    RecordingRuntime,
    free_udp_port,
    stop_baresip,
    write_baresip_config,
)

from callport.call.events import AudioIn, HungUp
from callport.channels.sip.channel import SipChannel

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]


def write_tone(path: Path, seconds: float, freq: float = 440.0) -> None:
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (9000 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(pcm.tobytes())


def baresip_config(root: Path) -> tuple[Path, int, int]:
    write_tone(root / "tone.wav", 30.0)
    sip_port, ctrl_port = free_udp_port(), free_udp_port()
    conf = write_baresip_config(
        root, source_wav=root / "tone.wav", sip_port=sip_port, ctrl_port=ctrl_port,
        rtp_low=40000 + (sip_port % 200) * 100,
        account="<sip:bot@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA")
    return conf, sip_port, ctrl_port


async def start_baresip(conf: Path, *args: str) -> asyncio.subprocess.Process:
    assert BARESIP is not None
    return await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(conf), "-t", "25", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


def recorded_rms(rec: Path) -> float:
    files = sorted(rec.glob("*-dec.wav"))
    assert files, list(rec.iterdir())
    with wave.open(str(files[-1])) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(pcm ** 2))) if pcm.size else 0.0


async def test_baresip_calls_callport_and_hears_echo(channel: SipChannel,
                                                     runtime: RecordingRuntime,
                                                     tmp_path: Path) -> None:
    runtime.hangup_after_frames = 150  # 3 s of echoed audio, then callport hangs up
    conf, _, ctrl_port = baresip_config(tmp_path)
    proc = await start_baresip(conf, "-e", f"/dial sip:agent@127.0.0.1:{channel.port}")
    try:
        await asyncio.wait_for(runtime.ended.wait(), 15)
    finally:
        await asyncio.sleep(0.5)
        await stop_baresip(proc, ctrl_port)
    [call] = runtime.calls
    assert call.frames >= 150
    assert call.hangup == "test"
    assert recorded_rms(tmp_path / "rec") > 1000  # baresip heard its tone echoed back
    assert channel.calls == {} and channel.pool.in_use == set()


async def test_callport_calls_baresip(channel: SipChannel, tmp_path: Path) -> None:
    conf, sip_port, ctrl_port = baresip_config(tmp_path)
    proc = await start_baresip(conf)
    try:
        await asyncio.sleep(1.0)
        leg = await channel.dial(f"sip:bot@127.0.0.1:{sip_port}", timeout=10)
        loud = 0
        silence = np.zeros(160, np.int16)
        deadline = asyncio.get_running_loop().time() + 3
        while asyncio.get_running_loop().time() < deadline:
            await leg.send_audio(silence)
            try:
                event = await asyncio.wait_for(leg.recv(), 0.02)
            except TimeoutError:
                continue
            if isinstance(event, AudioIn) and np.abs(event.pcm).max() > 4000:
                loud += 1
            if isinstance(event, HungUp):
                break
        await leg.hangup()
        assert loud >= 50  # baresip's aufile tone reached us
    finally:
        await stop_baresip(proc, ctrl_port)
    assert channel.calls == {} and channel.pool.in_use == set()
