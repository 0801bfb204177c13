"""Recording on live calls: ``Runtime.run_call`` over a MemoryLeg (realtime frames) with the
call-core fakes (energy VAD, scripted STT, tone TTS). Every wait is bounded."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from call_fakes import EchoTextAgent, EnergyVad, ScriptedSTT, ToneTTS, tone

from callport import cli_recordings
from callport.call.call import Call
from callport.call.memory import MemoryLeg
from callport.config import IdentitySettings, RecordingSettings, Settings
from callport.recording.consent import AI_NOTICE
from callport.recording.crypt import load_key
from callport.recording.run import open_recording
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryUserStore
from callport.store.tasks import MemoryTaskLists
from callport.types import CallInfo

BOB, NEW_YORK, CALIFORNIA = "+12125550111", "+12125550100", "+14155550100"
TIMEOUT = 20.0
KEY = base64.b64encode(bytes(range(32))).decode()
CALL_ID = "CA00000000000000000000000000c0ffee"


async def runtime(tmp: Path, transcripts: Sequence[str], flow: object = None,
                  **rec: object) -> tuple[Runtime, ToneTTS, MemoryCallStore]:
    users = MemoryUserStore()
    await users.add("bob", phones=[BOB])
    settings = Settings(identity=IdentitySettings(),
                        recording=RecordingSettings(**{"dir": str(tmp), "stay_s": 0.2, "key": KEY,
                                                       "answer_s": 2.0, **rec}))  # type: ignore[arg-type]
    stt, tts, calls = ScriptedSTT(transcripts), ToneTTS(), MemoryCallStore()

    async def talk(call: Call) -> None:
        await call.say("Hello.")
        await call.connect(call.new_agent())

    return Runtime(settings=settings, calls=calls, users=users, tasks=MemoryTaskLists(),
                   stt=stt, tts=tts, vad=EnergyVad(),  # type: ignore[arg-type]
                   agent_factory=lambda info: EchoTextAgent(),
                   flow=flow or talk), tts, calls  # type: ignore[arg-type]


def start(rt: Runtime, callee: str = NEW_YORK) -> tuple[MemoryLeg, list[Call], asyncio.Task[Call]]:
    info = CallInfo(call_id=CALL_ID, channel="twilio", caller=BOB, callee=callee)
    leg = MemoryLeg(call_id=CALL_ID, sample_rate=8000, realtime=True)
    holder: list[Call] = []
    return leg, holder, asyncio.create_task(rt.run_call(leg, info, on_call=holder.append))


async def until(predicate: object) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def say(leg: MemoryLeg, seconds: float = 0.4) -> None:
    await leg.speak(tone(seconds, 8000, 600.0), 8000, trailing_silence_s=0.5)


async def consent_events(calls: MemoryCallStore) -> list[dict[str, object]]:
    return [json.loads(e.detail) for e in await calls.events(CALL_ID)
            if e.kind == "recording-consent"]


def files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def opened(rt: Runtime, directory: Path) -> tuple[dict[str, Any], Path, list[Any]]:
    """The recording's metadata, its decrypted WAV (written beside it) and transcript."""
    meta = json.loads((directory / f"rec-{CALL_ID}.json").read_text())
    assert meta["audio"] == f"rec-{CALL_ID}.wav.enc"
    assert not (directory / f"rec-{CALL_ID}.wav").exists()
    assert b"RIFF" not in (directory / meta["audio"]).read_bytes()  # encrypted at rest
    wav, transcript = open_recording(meta, directory, load_key(rt.settings))
    out = directory / "plain" / "r.wav"
    out.parent.mkdir(exist_ok=True)
    out.write_bytes(wav)
    return meta, out, transcript


def channels(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data[0::2], data[1::2], w.getframerate()


async def test_consent_records_both_channels_with_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    rt, tts, calls = await runtime(tmp_path, ["Yes, I agree.", "add milk"], mode="consent")
    leg, holder, task = start(rt)
    await until(lambda: bool(holder) and holder[0].listening.is_set())
    assert tts.spoken[0] == AI_NOTICE.rstrip(".")  # the automated-assistant line comes first
    await say(leg)  # "Yes, I agree."
    await until(lambda: holder[0].recording is not None and holder[0].listening.is_set())
    await say(leg, 0.8)  # "add milk"
    await until(lambda: len(holder[0].turns) == 2)
    await asyncio.sleep(0.5)
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    [event] = await consent_events(calls)
    assert (event["outcome"], event["record"], event["rule"]) == ("consent", True, "setting")
    assert AI_NOTICE in str(event["words"]) and event["answer"] == "Yes, I agree."
    meta, wav, transcript = opened(rt, tmp_path)
    assert (meta["user"], meta["consent"], meta["final"]) == ("bob", "consent", True)
    assert "add milk" not in json.dumps(meta)  # the transcript is encrypted too
    assert [(t["who"], t["text"]) for t in transcript][:2] == [
        ("agent", "Hello."), ("caller", "add milk")]
    left, right, rate = channels(wav)
    assert rate == 16000 and meta["duration_s"] == pytest.approx(len(left) / rate, abs=0.01)
    assert np.count_nonzero(np.abs(left) > 1000) / rate == pytest.approx(0.8, abs=0.1)
    assert np.count_nonzero(np.abs(right) > 1000) / rate > 0.1  # the agent's replies
    # caller audio on the left only, agent audio on the right only: never both loud at once
    assert np.count_nonzero((np.abs(left) > 1000) & (np.abs(right) > 1000)) < rate * 0.05
    # the CLI lists it (for its user, not another) and exports the stereo WAV
    args = argparse.Namespace(action="list", json=True, user="bob")
    assert await cli_recordings.run(rt.settings, args) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row == {k: meta[k] for k in cli_recordings.COLUMNS}
    assert await cli_recordings.run(rt.settings, argparse.Namespace(
        action="list", json=True, user="alice")) == 0
    assert json.loads(capsys.readouterr().out) == []
    out = tmp_path / "out" / "x.wav"
    out.parent.mkdir()
    assert await cli_recordings.run(rt.settings, argparse.Namespace(
        action="export", id=row["id"], out=out)) == 0
    assert np.array_equal(channels(out)[0], left)
    assert await cli_recordings.run(rt.settings, argparse.Namespace(
        action="export", id="rec-nope", out=out)) == 1


async def test_decline_serves_unrecorded_with_audit(tmp_path: Path) -> None:
    rt, tts, calls = await runtime(tmp_path, ["No thanks.", "add milk"], mode="consent")
    leg, holder, task = start(rt)
    await until(lambda: bool(holder) and holder[0].listening.is_set())
    await say(leg)
    await until(lambda: "Hello" in tts.spoken and holder[0].listening.is_set())
    await say(leg)
    await until(lambda: len(holder[0].turns) == 2)  # still served
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    [event] = await consent_events(calls)
    assert (event["outcome"], event["record"]) == ("decline", False)
    assert files(tmp_path) == []


async def test_notify_all_party_callee_is_asked_and_silence_is_no(tmp_path: Path) -> None:
    rt, tts, calls = await runtime(tmp_path, [], mode="notify", answer_s=0.3)
    leg, _holder, task = start(rt, callee=CALIFORNIA)
    await until(lambda: "Hello" in tts.spoken)
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    [event] = await consent_events(calls)
    assert (event["outcome"], event["mode"], event["rule"]) == ("no-answer", "consent",
                                                               "all-party:US-CA")
    assert files(tmp_path) == []


async def test_notify_implied_records(tmp_path: Path) -> None:
    rt, tts, calls = await runtime(tmp_path, [], mode="notify")
    leg, _holder, task = start(rt)
    await until(lambda: "Hello" in tts.spoken)
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    [event] = await consent_events(calls)
    assert (event["outcome"], event["record"]) == ("implied", True)
    assert json.loads((tmp_path / f"rec-{CALL_ID}.json").read_text())["consent"] == "implied"


async def test_hang_up_during_disclosure(tmp_path: Path) -> None:
    rt, tts, calls = await runtime(tmp_path, [], mode="consent")
    leg, _holder, task = start(rt)
    await until(lambda: bool(leg.sent))  # the notice is being played
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    [event] = await consent_events(calls)
    assert (event["outcome"], event["record"]) == ("hung-up", False)
    assert "Hello" not in tts.spoken and files(tmp_path) == []


async def test_sensitive_gather_is_silent_and_not_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    got: list[object] = []

    async def pay(call: Call) -> None:
        await call.say("Hello.")
        got.append(await call.gather("Card number?", num_digits=4, sensitive=True))
        await call.say("Thanks.")
        await call.listen(timeout=5)

    rt, tts, _calls = await runtime(tmp_path, ["four two four two", "bye"], flow=pay,
                                   mode="notify")
    leg, holder, task = start(rt)
    await until(lambda: bool(holder) and holder[0].recording is not None
                and holder[0].listening.is_set())
    await say(leg, 1.0)  # the card number, spoken (not a key press: the ladder asks again)
    await until(lambda: holder[0].secret_turns == 1 and holder[0].listening.is_set())
    for digit in "4242":
        leg.press(digit)
    await until(lambda: bool(got) and "Thanks" in tts.spoken and holder[0].listening.is_set())
    await say(leg, 0.4)
    await asyncio.sleep(0.3)
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    meta, wav, transcript = opened(rt, tmp_path)
    assert meta["paused_s"] > 1.0
    assert [t["text"] for t in transcript if t["who"] == "caller"] == ["bye"]
    text = json.dumps([meta, transcript])
    assert "four two" not in text and "4242" not in text and "Card number" not in text
    assert "4242" not in caplog.text and "four two" not in caplog.text
    left, _right, rate = channels(wav)
    assert np.count_nonzero(np.abs(left) > 1000) / rate == pytest.approx(0.4, abs=0.1)
    assert holder[0].turns[-1].transcript == "bye"
    assert [type(g).__name__ for g in got] == ["Digits"] and got[0].digits == "4242"  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["off", "consent"])
async def test_outbound_calls_open_with_the_ai_disclosure(tmp_path: Path, mode: str) -> None:
    rt, tts, _calls = await runtime(tmp_path, [], mode=mode, behalf="Acme Dental")
    info = CallInfo(call_id=CALL_ID, channel="twilio", caller=NEW_YORK, callee=BOB,
                    direction="outbound")
    leg = MemoryLeg(call_id=CALL_ID, sample_rate=8000)
    holder: list[Call] = []
    task = asyncio.create_task(rt.run_call(leg, info, on_call=holder.append))
    await until(lambda: bool(holder) and holder[0].listening.is_set())
    assert tts.spoken[0] == "Hello, this is an automated call from Acme Dental, made by an AI " \
        "assistant"  # first, whatever the recording mode (it cannot be turned off)
    assert ("Hello" in tts.spoken) == (mode == "off")  # consent: the question comes next
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)


async def test_inbound_calls_have_no_outbound_notice(tmp_path: Path) -> None:
    rt, tts, _calls = await runtime(tmp_path, [], mode="off")
    leg, holder, task = start(rt)
    await until(lambda: bool(holder) and holder[0].listening.is_set())
    assert tts.spoken == ["Hello"]
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)


def _band_energy(pcm: np.ndarray, rate: int, hz: float) -> float:
    """Share of ``pcm``'s energy within 50 Hz of ``hz``."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / rate)
    return float(spectrum[np.abs(freqs - hz) < 50].sum() / max(spectrum.sum(), 1e-9))


async def test_a_bridged_human_is_recorded_on_the_agent_channel(tmp_path: Path) -> None:
    from callport.call.bridge import Bridge

    human_leg = MemoryLeg(call_id="human", sample_rate=16000, realtime=True)
    bridged = asyncio.Event()

    async def to_human(call: Call) -> None:
        human = rt.new_call(human_leg, CallInfo(call_id="human", channel="memory",
                                                caller="", callee="agent"))
        human.session.start()
        try:
            bridge = Bridge(a=call.session, b=human.session)
            run = asyncio.create_task(bridge.run())
            bridged.set()
            await run
        finally:
            await human.session.close()

    rt, _tts, _calls = await runtime(tmp_path, [], flow=to_human, mode="notify")
    leg, _holder, task = start(rt)
    await asyncio.wait_for(bridged.wait(), TIMEOUT)
    await leg.speak(tone(0.6, 8000, 600.0), 8000, trailing_silence_s=0.2)  # the caller
    await human_leg.speak(tone(0.6, 16000, 1000.0), 16000, trailing_silence_s=0.4)  # the human
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    _meta, wav, _words = opened(rt, tmp_path)
    left, right, rate = channels(wav)
    loud_left, loud_right = left[np.abs(left) > 1000], right[np.abs(right) > 1000]
    assert _band_energy(loud_left, rate, 600.0) > 0.5  # the caller, left
    tail = right[-int(1.5 * rate):]  # after the notice: the human's words reached the caller
    assert _band_energy(tail, rate, 1000.0) > 0.5 and len(loud_right) > 0.4 * rate


class _PausingAgent:
    """Pauses the recording around its card-number question, resumes on the next turn."""

    def __init__(self) -> None:
        self.turn = 0

    async def respond(self, event: object) -> Any:
        from callport.agents.base import PauseRecording, Say

        self.turn += 1
        if self.turn == 1:
            yield PauseRecording()
            yield Say("Your card number, please.")
        else:
            yield PauseRecording(paused=False)
            yield Say("Thanks.")

    def interrupted(self, heard: str) -> None:
        pass


async def test_an_agent_pauses_and_resumes_the_recording(tmp_path: Path) -> None:
    async def flow(call: Call) -> None:
        await call.connect(_PausingAgent())  # type: ignore[arg-type]

    rt, tts, _calls = await runtime(tmp_path, ["pay now", "four two four two", "done"],
                                    flow=flow, mode="notify")
    leg, holder, task = start(rt)
    await until(lambda: bool(holder) and holder[0].recording is not None
                and holder[0].listening.is_set())
    await say(leg, 0.4)  # "pay now"
    await until(lambda: "Your card number, please" in tts.spoken and holder[0].listening.is_set())
    assert holder[0].recording is not None and holder[0].recording.paused
    await say(leg, 1.0)  # the card number: while paused
    await until(lambda: "Thanks" in tts.spoken and holder[0].listening.is_set())
    assert not holder[0].recording.paused
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    meta, wav, transcript = opened(rt, tmp_path)
    assert meta["paused_s"] > 1.0
    assert [t["text"] for t in transcript] == ["pay now", "Thanks."]
    left, _right, rate = channels(wav)
    assert np.count_nonzero(np.abs(left) > 1000) / rate == pytest.approx(0.4, abs=0.1)
