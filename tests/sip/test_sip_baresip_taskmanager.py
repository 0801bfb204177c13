"""The spoken Task Manager over a real SIP call from baresip, through the real Runtime (slow).

baresip dials callport and plays a WAV (synthesized here by Piper): ~3 s of silence, "Add a
task to buy milk tomorrow.", then silence. The embedded stack (Silero VAD, Whisper, the Task
Manager on a tmp SQLite db, Piper) answers over RTP; baresip records what it heard, and that
recording, transcribed by Whisper, must carry the greeting and the agent's reply. baresip
calls as +15550001111, alice's number: the identity gate makes it her call, and the task
lands on her list (not the owner's).
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest
from sip_support import BARESIP, free_udp_port, rtp_range, stop_baresip, write_baresip_config

from callport.audio.resample import resample
from callport.audio.wav import read_wav, write_wav
from callport.config import ServerSettings, Settings, SipSettings, SpeechSettings

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]

CALLER_SAYS = "Add a task to buy milk tomorrow."
LEAD_S, TAIL_S = 3.0, 25.0
ALICE = "+15550001111"


def baresip_caller(root: Path, wav: Path) -> tuple[Path, int]:
    """A baresip config that plays ``wav`` as its microphone and records what it hears."""
    ctrl_port = free_udp_port()
    conf = write_baresip_config(
        root, source_wav=wav, sip_port=free_udp_port(), ctrl_port=ctrl_port,
        rtp_low=rtp_range()[0],
        account=f"<sip:{ALICE}@127.0.0.1>;regint=0;answermode=manual;audio_codecs=PCMU,PCMA")
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
        Settings(server=ServerSettings(db=str(tmp_path / "tasks.db")),
                 speech=SpeechSettings(piper_variation=False)),  # repeatable audio both ways
        sip=SipSettings(enabled=True, host="127.0.0.1", port=0, rtp_port_min=low,
                        rtp_port_max=high, media_timeout_s=10.0))
    runtime = build_runtime(settings)
    await runtime.users.add("alice", display_name="Alice", phones=[ALICE])
    await runtime.warmup()  # Silero, Whisper, Piper, the intent model: before the call

    piper = PiperTTS(deterministic=True)
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
        tasks = await runtime.tasks.of("alice").list(include_done=True)
        owners = await runtime.store.list(include_done=True)
    finally:
        await asyncio.sleep(0.3)  # baresip handles the BYE and closes its recording
        await stop_baresip(proc, ctrl_port)
        await channel.stop()

    turn = replied.result()
    assert "milk" in turn.transcript.lower(), turn
    assert any("milk" in t.title.lower() for t in tasks), tasks
    assert owners == []  # alice's task, on alice's list only
    assert call.info.user is not None and call.info.user.name == "alice"
    assert call.info.caller == ALICE
    assert call.session.hangup_reason == "test"
    assert channel.calls == {} and channel.pool.in_use == set()

    [recording] = sorted((tmp_path / "rec").glob("*-dec.wav"))
    heard, rate = read_wav(recording)
    stt = runtime.stt
    assert isinstance(stt, WhisperSTT)
    text = (await stt.transcribe(resample(heard, rate, 16000), 16000)).text.lower()
    # the greeting, by name ("Hi Alice, you've reached the Task Manager..."): the caller may
    # barge in after its first words when the call is set up slowly under load
    assert any(w in text for w in ("alice", "task manager", "automated")), text
    assert "milk" in text, text  # the agent's reply (the greeting never says it)
