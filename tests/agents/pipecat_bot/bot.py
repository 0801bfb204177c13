"""A Pipecat bot behind callport's ``twilio-ws:`` adapter: pipecat-ai from PyPI, its
``TwilioFrameSerializer`` (or ``TelnyxFrameSerializer``) and ``FastAPIWebsocketTransport``,
unchanged; no API keys.

It greets with a short tone, echoes the caller's audio back, plays a long tone on key ``1``
(and interrupts it, which makes the serializer send ``clear``, when the caller speaks over
it), and ends the call on ``#`` (an ``EndWorkerFrame``, then an ``EndFrame``: the serializer's
auto hang-up POSTs ``{base_url}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json``);
a 1 kHz tone from the caller (200 ms) ends it the same way, for callers without a keypad.
Pointing a bot at callport takes one change: ``base_url`` (here from the custom parameters).

Run: ``.venv-pipecat/bin/python tests/agents/pipecat_bot/bot.py --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import struct
import sys
import time

import uvicorn
from fastapi import FastAPI, WebSocket
from pipecat.frames.frames import (
    EndWorkerFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    OutputAudioRawFrame,
    StartFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.task import PipelineParams
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.telnyx import TelnyxFrameSerializer
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.workers.runner import WorkerRunner

RATE = 8000
CHUNK = 320  # 20 ms of 16-bit PCM at 8 kHz


def tone(freq: float, seconds: float, amp: float = 0.3) -> bytes:
    n = int(RATE * seconds)
    return b"".join(struct.pack("<h", int(amp * 32767 * math.sin(2 * math.pi * freq * i / RATE)))
                    for i in range(n))


def share_at(pcm: bytes, freq: float) -> float:
    """How much of the frame's energy is at ``freq`` (Goertzel)."""
    count = len(pcm) // 2
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    coeff = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    total = sum(x * x for x in samples) * count / 2 or 1.0
    return power / total


def rms(pcm: bytes) -> float:
    count = len(pcm) // 2
    if not count:
        return 0.0
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return math.sqrt(sum(s * s for s in samples) / count)


class ScriptedBot(FrameProcessor):
    def __init__(self) -> None:
        super().__init__()
        self._speaking_until = 0.0
        self._loud = 0
        self._hangup_tone = 0

    async def _say(self, pcm: bytes) -> None:
        for i in range(0, len(pcm), CHUNK):
            await self.push_frame(OutputAudioRawFrame(audio=pcm[i:i + CHUNK], sample_rate=RATE,
                                                      num_channels=1))

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            await self._say(tone(440.0, 0.6))  # the greeting
            return
        if isinstance(frame, InputDTMFFrame):
            digit = frame.button.value
            print(f"bot: dtmf {digit}", flush=True)
            if digit == "1":
                self._speaking_until = time.monotonic() + 6.0
                self._loud = 0
                await self._say(tone(880.0, 6.0))
            elif digit == "#":  # end nicely: an EndFrame follows what is queued
                await self.push_frame(EndWorkerFrame())
            return
        if isinstance(frame, InputAudioRawFrame):
            if rms(frame.audio) > 1500 and share_at(frame.audio, 1000.0) > 0.8:
                self._hangup_tone += 1  # a caller without a keypad (baresip) says goodbye
                if self._hangup_tone == 10:
                    print("bot: hang-up tone", flush=True)
                    await self.push_frame(EndWorkerFrame())
                return
            if time.monotonic() < self._speaking_until:  # the caller talks over the bot
                self._loud = self._loud + 1 if rms(frame.audio) > 1500 else 0
                if self._loud >= 5:
                    print("bot: interrupted", flush=True)
                    self._speaking_until = 0.0
                    await self.broadcast_interruption()
                return
            await self.push_frame(OutputAudioRawFrame(audio=frame.audio, sample_rate=RATE,
                                                      num_channels=1))  # the echo
            return
        await self.push_frame(frame, direction)


app = FastAPI()


@app.websocket("/ws")
async def media(websocket: WebSocket) -> None:
    await websocket.accept()
    kind, call = await parse_telephony_websocket(websocket)
    print(f"bot: {kind} call {call['call_id']}", flush=True)
    if kind == "twilio":
        body = call["body"]
        serializer: TwilioFrameSerializer | TelnyxFrameSerializer = TwilioFrameSerializer(
            stream_sid=call["stream_id"], call_sid=call["call_id"],
            account_sid=body["callport_account_sid"], auth_token=body["callport_auth_token"],
            base_url=body["callport_api_base"])
    else:  # Telnyx's hang-up host is fixed: callport ends the call when the socket closes
        serializer = TelnyxFrameSerializer(
            stream_id=call["stream_id"], call_control_id=call["call_id"],
            outbound_encoding=call["outbound_encoding"], inbound_encoding="PCMU",
            params=TelnyxFrameSerializer.InputParams(auto_hang_up=False))
    transport = FastAPIWebsocketTransport(websocket=websocket, params=FastAPIWebsocketParams(
        audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
        serializer=serializer))
    pipeline = Pipeline([transport.input(), ScriptedBot(), transport.output()])
    worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=RATE,
                                                            audio_out_sample_rate=RATE))
    await WorkerRunner(handle_sigint=False).run(worker)
    print("bot: call over", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    asyncio.run(uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port,
                                              log_level="warning")).serve())


if __name__ == "__main__":
    main()
