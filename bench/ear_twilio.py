"""The Twilio caller of bench_ear.py: the Twilio simulator (tests/twilio/twilio_sim.py).

A signed voice webhook to the serve child, the TwiML's ``<Stream>`` opened over a real
WebSocket, then Media Streams as Twilio speaks it: the caller's timeline as 20 ms µ-law
``media`` frames in real time, and the media we send back played 20 ms per tick by the
simulator's playout buffer (marks echoed once reached, ``clear`` drops what is queued, as
Twilio does). Each tick's played frame is stamped on the simulator's clock: that is the moment
the caller hears it.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

import httpx
import numpy as np
import websockets
from numpy.typing import NDArray

from ear_common import ROOT, Heard, Requests, Span, Track, converse

sys.path[:0] = [str(ROOT / "tests" / "twilio"), str(ROOT / "tests" / "providers")]
from twilio_sim import SILENCE, StreamSim, call_params, parse_twiml, signed_form  # noqa: E402

from callport.audio.g711 import ulaw_decode, ulaw_encode  # noqa: E402

_sids = itertools.count(0xEA)


async def twilio_call(base: str, token: str, requests: Requests) -> tuple[list[Span], Heard]:
    """One Twilio call into the serve child at ``base``; the requests' spans and what the
    caller heard."""
    assert requests.rate == 8000
    loop = asyncio.get_running_loop()
    heard = Heard()
    sid = f"CA{next(_sids):032x}"
    url = base + "/twilio/voice"
    body, headers = signed_form(url, call_params(sid, From="+15550008888"), token=token)
    async with httpx.AsyncClient() as http:
        response = await http.post(url, content=body, headers=headers, timeout=30)
    response.raise_for_status()
    twiml = parse_twiml(response.text)
    ws = await websockets.connect(twiml.url)
    sim = StreamSim(ws, call_sid=sid, stream_sid="MZ" + sid[2:], parameters=twiml.parameters)
    playout, tick = sim.far.playout, sim.far.playout.tick
    track = Track(SILENCE, 8000)

    def stamped_tick() -> list[str]:  # what the caller hears this 20 ms, stamped
        before = len(playout.audio)
        reached = tick()
        heard.add(loop.time(), ulaw_decode(bytes(playout.audio[before:])))
        return reached

    playout.tick = stamped_tick  # type: ignore[method-assign]
    sim.far.caller.next_frame = lambda: track.next_frame(loop.time())  # type: ignore[method-assign]

    async def say(pcm: NDArray[np.int16]) -> Span:
        return await track.said(ulaw_encode(pcm), len(pcm) / 8000)

    async def audible() -> bool:
        return heard.audible(loop.time())

    await sim.start()
    try:
        spans = await converse(requests, say, audible)
    finally:
        await sim.stop()
    return spans, heard
