"""The spoken Task Manager over a real SIP call from baresip, through the real Runtime (slow).

baresip dials callport and plays a WAV (synthesized here by Piper): ~3 s of silence, "Add a
task to buy milk tomorrow.", then silence. The embedded stack (Silero VAD, Whisper, the Task
Manager on a tmp SQLite db, Piper) answers over RTP; baresip records what it heard, and that
recording, transcribed by Whisper, must carry the greeting and the agent's reply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
from sip_support import free_udp_port, rtp_range
from test_sip_baresip import stop_baresip

from callport.audio.resample import resample
from callport.config import ServerSettings, Settings, SipSettings

BARESIP = shutil.which("baresip")
pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]

CALLER_SAYS = "Add a task to buy milk tomorrow."
LEAD_S, TAIL_S = 3.0, 25.0


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()


def baresip_caller(root: Path, wav: Path) -> tuple[Path, int]:
    """A baresip config that plays ``wav`` as its microphone and records what it hears."""
    conf = root / "baresip"
    conf.mkdir()
    (root / "rec").mkdir()
    ctrl_port = free_udp_port()
    low, _ = rtp_range()
    (conf / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:{free_udp_port()}
audio_player alsa,null
audio_alert alsa,null
audio_source aufile,{wav}
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports {low}-{low + 98}
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
        "<sip:caller@127.0.0.1>;regint=0;answermode=manual;audio_codecs=PCMU,PCMA\n")
    return conf, ctrl_port


async def test_baresip_caller_adds_a_task_by_voice(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("piper")
    from callport.call.call import Call, TurnRecord
    from callport.channels.sip.channel import SipChannel
    from callport.server.runtime import build_runtime
    from callport.speech.piper import PiperTTS
    from callport.speech.whisper import WhisperSTT

    loop = asyncio.get_running_loop()
    low, high = rtp_range()
    settings = dataclasses.replace(
        Settings(server=ServerSettings(db=str(tmp_path / "tasks.db"))),
        sip=SipSettings(enabled=True, host="127.0.0.1", port=0, rtp_port_min=low,
                        rtp_port_max=high, media_timeout_s=10.0))
    runtime = build_runtime(settings)
    await runtime.warmup()  # Silero, Whisper, Piper, the intent model: before the call

    piper = PiperTTS()
    chunks = [c async for c in piper.synthesize(CALLER_SAYS)]
    speech = resample(np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate, 8000)
    pcm = np.concatenate([np.zeros(int(LEAD_S * 8000), np.int16), speech,
                          np.zeros(int(TAIL_S * 8000), np.int16)])
    write_wav(tmp_path / "caller.wav", pcm, 8000)

    channel = SipChannel(runtime, settings=settings.sip)
    await channel.start()
    conf, ctrl_port = baresip_caller(tmp_path, tmp_path / "caller.wav")
    assert BARESIP is not None
    proc = await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(conf), "-t", "45",
        "-e", f"/dial sip:agent@127.0.0.1:{channel.port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    replied: asyncio.Future[TurnRecord] = loop.create_future()
    try:
        async def converse() -> Call:
            while not runtime.active:
                await asyncio.sleep(0.05)
            [call] = runtime.active.values()

            def on_turn(record: TurnRecord) -> None:
                if not replied.done():
                    replied.set_result(record)

            call.turn_listeners.append(on_turn)
            await replied  # the reply has been played out (marks), not just sent
            await asyncio.sleep(1.0)  # the last RTP packets reach baresip's recorder
            await call.hangup("test")
            return call

        call = await asyncio.wait_for(converse(), 35)
        while runtime.active:
            await asyncio.sleep(0.05)
        tasks = await runtime.store.list(include_done=True)
    finally:
        await asyncio.sleep(0.3)  # baresip handles the BYE and closes its recording
        await stop_baresip(proc, ctrl_port)
        await channel.stop()

    turn = replied.result()
    assert "milk" in turn.transcript.lower(), turn
    assert any("milk" in t.title.lower() for t in tasks), tasks
    assert call.session.hangup_reason == "test"
    assert channel.calls == {} and channel.pool.in_use == set()

    [recording] = sorted((tmp_path / "rec").glob("*-dec.wav"))
    heard, rate = read_wav(recording)
    stt = runtime.stt
    assert isinstance(stt, WhisperSTT)
    text = (await stt.transcribe(resample(heard, rate, 16000), 16000)).text.lower()
    assert "task manager" in text or "automated" in text, text  # the greeting
    assert "milk" in text, text  # the agent's reply (the greeting never says it)
