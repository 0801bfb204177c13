"""WebSocket campaign against a real ``callport serve``: the Twilio media, Telnyx media and
browser protocols. Bounded and seeded; well under a minute.

- A live Twilio call gets hostile frames mid-call (deep nesting, huge integers, NaN, binary,
  random bytes, unknown events, out-of-order starts): the call goes on, its echo is heard.
- So does a live Telnyx call (TeXML, signed), whose chunk numbering the junk also attacks.
- A live browser call gets the same (within its 4,096-character frames): the echo goes on and
  it is answered at most ``MAX_ERROR_REPLIES`` error messages, not one per junk frame.
- Crowds of media sockets that never send ``start`` (Twilio, Telnyx) are closed by the
  admission deadline (1 s here); chatter without a start does not keep one open; a frame over
  ``limits.ws_max_bytes`` closes its socket (1009), not the process.

Afterwards: the ``fuzz_support`` invariants (alive, no call open, RSS bound, no traceback), a
real Twilio call still completes, and every simulated call has exactly one record, closed.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets
from fuzz_support import check_invariants, start_serve
from http_support import (
    EDGE_ENV,
    add_web_user,
    browser_call,
    browser_client,
    call_token,
    hostile_json,
    open_records,
    records,
    rng,
    telnyx_call,
    twilio_call,
)

from callport.channels.browser.ws import MAX_ERROR_REPLIES

pytestmark = [pytest.mark.slow]

RSS_GROWTH_MB = 40.0
JUNK_FRAMES = 120
IDLE_SOCKETS = 40


def _junk(r: object, *, max_chars: int) -> list[str | bytes]:
    import random

    assert isinstance(r, random.Random)
    out: list[str | bytes] = []
    for i in range(JUNK_FRAMES):
        kind = i % 6
        if kind <= 2:
            text = hostile_json(r)
            out.append(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
                       [:max_chars])
        elif kind == 3:
            out.append(r.randbytes(r.randrange(1, 2000)))
        elif kind == 4:
            out.append(json.dumps({"event": r.choice(["start", "mark", "dtmf", "bogus", 7]),
                                   "type": r.choice(["start", "played", "vad", "dtmf", 7]),
                                   "sequenceNumber": str(r.randrange(-5, 10**6)),
                                   "digit": r.choice(["1", "#", "Z", ""]),
                                   "mark": {"name": "x" * r.randrange(0, 300)}}))
        else:
            out.append("".join(chr(r.randrange(1, 0xD7FF)) for _ in range(r.randrange(1, 300))))
    return out


async def _idle_sockets(ws_base: str, paths: list[str], *, chatter: bool) -> list[float]:
    """Open ``IDLE_SOCKETS`` sockets across ``paths`` that never send a valid start; seconds
    each stayed open (the server must close every one)."""
    loop = asyncio.get_running_loop()

    async def one(path: str) -> float:
        opened = loop.time()
        try:
            async with websockets.connect(ws_base + path) as ws:
                await asyncio.wait_for(ws.recv(), 15)
        except (websockets.ConnectionClosed, websockets.InvalidStatus, OSError):
            return loop.time() - opened
        except TimeoutError:
            return 99.0  # still open after 15 s
        return loop.time() - opened

    async def chat(path: str) -> float:
        opened = loop.time()
        try:
            async with websockets.connect(ws_base + path) as ws:
                while True:
                    await ws.send('{"event": "connected", "protocol": "Call"}')
                    try:
                        await asyncio.wait_for(ws.recv(), 0.2)
                    except TimeoutError:
                        if loop.time() - opened > 15:
                            return 99.0
        except (websockets.ConnectionClosed, websockets.InvalidStatus, OSError):
            return loop.time() - opened

    runner = chat if chatter else one
    return list(await asyncio.gather(*(runner(paths[i % len(paths)])
                                       for i in range(IDLE_SOCKETS))))


async def _oversize_frame_closes_its_socket(ws_base: str) -> int | None:
    async with websockets.connect(ws_base + "/twilio/media", max_size=None) as ws:
        await ws.send("[" * (300 * 1024))  # over limits.ws_max_bytes (256 kB)
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
    return None


def test_websocket_protocols_survive_a_hostile_campaign(tmp_path: Path) -> None:
    served = start_serve(tmp_path, env=EDGE_ENV, sip=False)
    try:
        add_web_user(served)
        web = browser_client(served)
        ws_base = served.base.replace("http://", "ws://")
        warm_rms, _ = asyncio.run(twilio_call(served))
        assert warm_rms > 500
        before = served.snapshot()
        r = rng()

        rms, _ = asyncio.run(twilio_call(served, junk=_junk(r, max_chars=60_000)))
        assert rms > 500, f"the Twilio call did not go on after the junk (rms {rms:.0f})"

        rms, _ = asyncio.run(telnyx_call(served, junk=_junk(r, max_chars=60_000)))
        assert rms > 500, f"the Telnyx call did not go on after the junk (rms {rms:.0f})"

        back, errors = asyncio.run(browser_call(served, web, call_token(web),
                                                junk=_junk(r, max_chars=4096)))
        assert back > 10, f"the browser call did not go on after the junk ({back} frames)"
        assert errors <= MAX_ERROR_REPLIES, f"{errors} error replies to {JUNK_FRAMES} frames"

        held = asyncio.run(_idle_sockets(ws_base, ["/twilio/media", "/telnyx/media"],
                                         chatter=False))
        assert max(held) < 10, f"idle media sockets held for {max(held):.1f} s"
        chatted = asyncio.run(_idle_sockets(ws_base, ["/twilio/media"], chatter=True))
        assert max(chatted) < 10, f"chatter without start held a socket {max(chatted):.1f} s"
        assert asyncio.run(_oversize_frame_closes_its_socket(ws_base)) == 1009

        # Each junk frame is counted, not logged: a few lines per kind a minute at most.
        junk_lines = [line for line in served.text().splitlines()
                      if " stream: " in line or "callport.channels.browser.ws" in line]
        assert len(junk_lines) < 80, f"{len(junk_lines)} log lines for {3 * JUNK_FRAMES} frames"
        figures = check_invariants(served, before, tmp_path=tmp_path,
                                   rss_growth_mb=RSS_GROWTH_MB, sipp=False)
        rms, _ = asyncio.run(twilio_call(served))
        assert rms > 500, "a real Twilio call after the campaign was not echoed"

        # Exactly one record per call, each closed: 3 Twilio, 1 Telnyx, 1 browser.
        stored = records(served)
        assert not open_records(served), open_records(served)
        channels = sorted(channel for _, channel, _ in stored)
        assert channels.count("twilio") == 3 and channels.count("browser") == 1, stored
        assert channels.count("telnyx") == 1, stored
        print(f"\nWebSocket campaign: {JUNK_FRAMES} junk frames x 3 calls, idle sockets closed "
              f"after {max(held):.2f} s (chatter {max(chatted):.2f} s); {figures}")
        web.close()
    finally:
        served.stop()
