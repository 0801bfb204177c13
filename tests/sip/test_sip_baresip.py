"""Interop with baresip (Debian baresip-core) on 127.0.0.1, both directions."""

from __future__ import annotations

import asyncio
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from sip_support import RecordingRuntime, free_udp_port

from callport.call.events import AudioIn, HungUp
from callport.channels.sip.channel import SipChannel

BARESIP = shutil.which("baresip")
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
    conf = root / "baresip"
    conf.mkdir()
    (root / "rec").mkdir()
    write_tone(root / "tone.wav", 30.0)
    sip_port, ctrl_port = free_udp_port(), free_udp_port()
    rtp_low = 40000 + (sip_port % 200) * 100
    (conf / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:{sip_port}
audio_player alsa,null
audio_alert alsa,null
audio_source aufile,{root / 'tone.wav'}
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports {rtp_low}-{rtp_low + 98}
snd_path {root / 'rec'}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
""")
    (conf / "accounts").write_text(
        "<sip:bot@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n")
    return conf, sip_port, ctrl_port


async def ctrl(port: int, command: str) -> None:
    body = json.dumps({"command": command, "token": "t"}).encode()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    writer.write(b"%d:%s," % (len(body), body))
    await writer.drain()
    writer.close()


async def start_baresip(conf: Path, *args: str) -> asyncio.subprocess.Process:
    assert BARESIP is not None
    return await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(conf), "-t", "25", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


async def stop_baresip(proc: asyncio.subprocess.Process, ctrl_port: int) -> None:
    await ctrl(ctrl_port, "quit")
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except TimeoutError:
        proc.kill()
        await proc.wait()


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
