"""Outbound AI disclosure (issue 13 item 6) on a real dialled call: callport's SIP channel
dials baresip (auto-answer) through its ``Dialer`` (``SipOutbound``), whatever
``recording.mode`` (even ``off``); the first words the called phone hears, transcribed with
Whisper from baresip's own recording, say it is an automated call, on whose behalf, from an
AI. (Twilio and Telnyx outbound calls run the same ``callrun.identified`` with
``direction="outbound"``: tests/recording/test_recording_calls.py covers that path.)"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from recording_e2e_support import _whisper, runtime, settings, until

sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
from sip_support import BARESIP, open_channel, stop_baresip

from callport.audio.resample import resample
from callport.call.dial import Answered
from callport.config import RecordingSettings

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]


@pytest.mark.parametrize("mode", ["off"])
async def test_a_dialled_sip_call_opens_with_the_ai_disclosure(tmp_path: Path, mode: str) -> None:
    from test_recording_sip_e2e import _phone, _write

    base = dataclasses.replace(settings(tmp_path), recording=RecordingSettings(
        mode=mode, behalf="Acme Dental"))
    rt, tts = runtime(base)
    _write(tmp_path / "quiet.wav", np.zeros(8000 * 30, np.int16))
    async with open_channel(rt, media_timeout_s=30.0) as sip:
        phone, ctrl = await _phone(
            tmp_path / "callee", source=tmp_path / "quiet.wav",
            account="<sip:bob@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU")
        try:
            conf = (tmp_path / "callee" / "baresip" / "config").read_text()
            port = int(conf.split("sip_listen 127.0.0.1:")[1].split()[0])
            await asyncio.sleep(1.0)  # baresip is listening
            placed = await sip.outbound.dial(f"sip:bob@127.0.0.1:{port}")
            assert isinstance(placed, Answered), placed
            await until(lambda: tts.said("Hello."), "the flow's greeting after the notice")
            await asyncio.sleep(1.0)
            await placed.leg.hangup("test")  # type: ignore[union-attr]
            await until(lambda: not rt.active, "the call to end")
        finally:
            await stop_baresip(phone, ctrl)
    assert tts.spoken[0].startswith("Hello, this is an automated call from Acme Dental, made "
                                    "by an AI assistant")  # first, before the flow
    [heard] = sorted((tmp_path / "callee" / "rec").glob("*-dec.wav"))[-1:]
    with wave.open(str(heard)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        rate = w.getframerate()
    text = _whisper().transcribe_sync(resample(pcm.copy(), rate, 16000), 16000).text.lower()
    assert "automated call" in text and "dental" in text and "ai" in text.split(), text
