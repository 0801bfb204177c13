"""The HTTP/WebSocket half of the fuzz harness (``fuzz_support`` is the shared half): the serve
settings for these campaigns, hostile JSON and body mutators, raw HTTP, and real calls that
must still complete: a Twilio-simulator call (signed webhook, Media Streams over a real
WebSocket, the echo flow) and a browser-protocol call (signed in, token, ``/browser/ws``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets
from fuzz_support import CALLPORT, SEED, SIPP, Served, serve_env, wait_until

from loadgen.ports import free_port

sys.path[:0] = [str(Path(__file__).parents[1] / "twilio"),
                str(Path(__file__).parents[1] / "telnyx"),
                str(Path(__file__).parents[1] / "providers")]

from telnyx_sim import Signer, connected_frame, event_body  # noqa: E402
from twilio_sim import AUTH_TOKEN, StreamSim, call_params, parse_twiml, signed_form  # noqa: E402

from callport.audio.g711 import ulaw_decode, ulaw_encode  # noqa: E402

TELNYX = Signer()  # the campaigns' Telnyx: webhooks and TeXML signed with this key

# The campaigns' server: the limiter off (the junk must reach the handlers; the limiter has its
# own test), short header, admission and WebRTC-connect deadlines so held sockets and calls
# are seen to end.
EDGE_ENV = {
    "CALLPORT_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "CALLPORT_TELNYX_PUBLIC_KEY": TELNYX.public_b64,
    "CALLPORT_LIMITS_RATE_PER_S": "0",
    "CALLPORT_LIMITS_HEADER_TIMEOUT_S": "1",
    "CALLPORT_LIMITS_WS_ADMISSION_S": "1",
    "CALLPORT_LIMITS_RTC_CONNECT_S": "2",
}
PASSWORD = "fuzz-campaign-password-1"


def hostile_json(rng: random.Random) -> str:
    """One hostile JSON text: every class the edge must survive, chosen at random."""
    depth = rng.randrange(40, 3000)
    return rng.choice([
        "[" * depth,
        '{"a":' * depth + "1" + "}" * depth,
        "[" * depth + "]" * depth,
        '{"title": ' + "9" * rng.randrange(40, 6000) + "}",
        '{"event": "media", "sequenceNumber": "' + "9" * rng.randrange(19, 6000) + '"}',
        '{"x": NaN}', '{"x": -Infinity}', '{"x": 1e99999}',
        '{"type": "offer", "sdp": ' + json.dumps("v=0\r\n" * rng.randrange(1, 5000)) + "}",
        '{"event": "start", "sequenceNumber": "\u00b2", "start": {}}',
        '{"title": "\ud800"}',
        json.dumps({"to": "+1" + "5" * rng.randrange(1, 200), "from": [], "via": {}}),
        rng.randbytes(rng.randrange(1, 400)).decode("latin-1"),
        '{"a": ' * 20 + '"unterminated',
    ])


def mutated_body(rng: random.Random, seed: bytes) -> bytes:
    """A body derived from a valid ``seed``: hostile JSON, flips, NULs, truncation, bad UTF-8."""
    choice = rng.randrange(6)
    if choice <= 1:
        return hostile_json(rng).encode("utf-8", "surrogatepass")
    if choice == 2:
        buf = bytearray(seed)
        for _ in range(rng.randrange(1, 8)):
            if buf:
                buf[rng.randrange(len(buf))] = rng.randrange(256)
        return bytes(buf)
    if choice == 3:
        return seed[: rng.randrange(len(seed) + 1)] + b"\x00" * rng.randrange(0, 32)
    if choice == 4:
        return b"\xff\xfe" + seed
    return seed * rng.randrange(2, 50)


def raw_request(port: int, data: bytes, *, timeout: float = 3.0) -> bytes:
    """Write ``data`` on a fresh connection; what came back before the server closed or quiet."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                out += chunk
        except (TimeoutError, OSError):
            pass
    return out


def status_of(reply: bytes) -> int:
    """The status code of a raw HTTP reply (0: none)."""
    parts = reply.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


# ---- real calls that must still complete ----------------------------------------------------


async def twilio_call(served: Served, *, junk: Sequence[str | bytes] = (),
                      seconds: float = 1.6) -> tuple[float, str]:
    """One Twilio-simulator call on the echo flow; ``junk`` frames are sent mid-call. Returns
    the RMS of what the simulated caller heard after the junk (the echo of its tone) and the
    CallSid."""
    sid = "CA" + random.Random().randbytes(16).hex()
    url = served.base + "/twilio/voice"
    body, headers = signed_form(url, call_params(sid))
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.post(url, content=body, headers=headers)
        assert reply.status_code == 200, reply.text
        twiml = parse_twiml(reply.text)
        ws = await websockets.connect(twiml.url, max_size=2**20)
        sim = StreamSim(ws, call_sid=sid, stream_sid="MZ" + sid[2:], parameters=twiml.parameters)
        await sim.start()
        tone = (4000 * np.sin(2 * np.pi * 440 * np.arange(8000 * 3) / 8000)).astype(np.int16)
        sim.say(tone)
        await asyncio.sleep(0.4)
        for frame in junk:
            await ws.send(frame)
        before = len(sim.heard.pcm())
        await asyncio.sleep(seconds)
        heard = sim.heard.pcm()[before:]
        await sim.stop()
        status_url = served.base + "/twilio/status"
        body, headers = signed_form(status_url, call_params(sid, status="completed",
                                                            CallDuration="3"))
        done = await http.post(status_url, content=body, headers=headers)
        assert done.status_code in (200, 204), done.text
    rms = float(np.sqrt(np.mean(heard.astype(np.float64) ** 2))) if heard.size else 0.0
    return rms, sid


def add_web_user(served: Served, name: str = "webfuzz") -> None:
    subprocess.run([CALLPORT, "--db", str(served.db), "users", "add", name, "--password-stdin"],
                   input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
                   env=serve_env(), check=True)


def browser_client(served: Served, name: str = "webfuzz") -> httpx.Client:
    """A signed-in client (session cookie) with the page's Origin."""
    client = httpx.Client(base_url=served.base, headers={"Origin": served.base}, timeout=10)
    reply = client.post("/login", json={"name": name, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    return client


def call_token(client: httpx.Client) -> str:
    """A one-time browser call token for the signed-in ``client``."""
    return str(client.post("/browser/token").json()["token"])


async def browser_call(served: Served, client: httpx.Client, token: str, *,
                       junk: Sequence[str | bytes] = (), frames: int = 60) -> tuple[int, int]:
    """One browser-protocol call (echo flow) admitted by ``token``; ``junk`` is sent after
    ``ready``. Returns (audio frames that came back after the junk, error messages)."""
    ws_url = served.base.replace("http://", "ws://") + f"/browser/ws?token={token}"
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    async with websockets.connect(ws_url, origin=served.base,  # type: ignore[arg-type]
                                  additional_headers={"Cookie": cookie}) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        while True:
            first: Any = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(first, str) and json.loads(first).get("type") == "ready":
                break
        for frame in junk:
            await ws.send(frame)
        tone = (4000 * np.sin(2 * np.pi * 440 * np.arange(320) / 16000)).astype("<i2")
        back = errors = 0
        for _ in range(frames):
            await ws.send(tone.tobytes())
            await asyncio.sleep(0.02)
            try:
                while True:
                    got = await asyncio.wait_for(ws.recv(), 0.001)
                    if isinstance(got, bytes):
                        back += 1
                    elif json.loads(got).get("type") == "error":
                        errors += 1
            except TimeoutError:
                pass
        await ws.send(json.dumps({"type": "hangup"}))
    return back, errors


def open_records(served: Served) -> list[tuple[str, str, str]]:
    """(provider call id or call id, channel, status) of every stored call not in a terminal
    status."""
    conn = sqlite3.connect(served.db, timeout=10)
    try:
        return [(str(a), str(b), str(c)) for a, b, c in conn.execute(
            "SELECT COALESCE(NULLIF(provider_call_id, ''), call_id), channel, status FROM calls "
            "WHERE status NOT IN "
            "('completed', 'failed', 'busy', 'no-answer', 'canceled', 'ended')")]
    finally:
        conn.close()


def records(served: Served) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(served.db, timeout=10)
    try:
        return [(str(a), str(b), str(c)) for a, b, c in conn.execute(
            "SELECT call_id, channel, status FROM calls")]
    finally:
        conn.close()


def rng() -> random.Random:
    return random.Random(SEED)


async def open_twilio_call(served: Served) -> StreamSim:
    """A Twilio-simulator call left running (the caller keeps sending); close it yourself."""
    sid = "CA" + random.Random().randbytes(16).hex()
    url = served.base + "/twilio/voice"
    body, headers = signed_form(url, call_params(sid))
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.post(url, content=body, headers=headers)
    assert reply.status_code == 200, reply.text
    twiml = parse_twiml(reply.text)
    sim = StreamSim(await websockets.connect(twiml.url), call_sid=sid,
                    stream_sid="MZ" + sid[2:], parameters=twiml.parameters)
    await sim.start()
    return sim


async def open_browser_call(served: Served, client: httpx.Client, token: str) -> Any:
    """A browser-protocol call left running (``ready`` received); close the socket yourself."""
    ws_url = served.base.replace("http://", "ws://") + f"/browser/ws?token={token}"
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    ws = await websockets.connect(ws_url, origin=served.base,  # type: ignore[arg-type]
                                  additional_headers={"Cookie": cookie})
    await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
    while True:
        got: Any = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(got, str) and json.loads(got).get("type") == "ready":
            return ws


def ended_causes(served: Served) -> dict[str, set[str]]:
    """Per channel, the ``ended`` event details of its stored calls."""
    conn = sqlite3.connect(served.db, timeout=10)
    try:
        out: dict[str, set[str]] = {}
        for channel, detail in conn.execute(
                "SELECT c.channel, e.detail FROM calls c JOIN call_events e "
                "ON e.call_id = c.call_id WHERE e.kind = 'ended'"):
            out.setdefault(str(channel), set()).add(str(detail))
        return out
    finally:
        conn.close()


def restart(served: Served, *, env: dict[str, str], name: str) -> Served:
    """A second ``callport serve`` on ``served``'s database and ports (the first is gone)."""
    log = served.log.with_name(f"{name}.log")
    args = [CALLPORT, "--db", str(served.db), "serve", "--no-warmup", "--port",
            str(served.http_port), "--flow", "callport.flows.echo:echo_flow"]
    if served.sip_port:
        args += ["--sip-port", str(served.sip_port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                env=serve_env(**env), cwd=served.log.parent)
    again = Served(proc, served.http_port, served.sip_port, log, served.db, served.token)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"callport serve exited {proc.returncode}:\n{again.text()}")
        return "Application startup complete" in again.text()

    try:
        wait_until(ready, timeout=90, what="callport serve to start again")
    except BaseException:
        again.stop()
        raise
    return again


SCENARIO = Path(__file__).parents[1] / "e2e" / "scenarios" / "uac_wait_bye.xml"


def _sipp(served: object, tmp_path: Path, calls: int) -> subprocess.Popen[bytes] | None:
    if not calls:
        return None
    assert isinstance(served, Served) and SIPP is not None
    out = (tmp_path / f"sipp-{served.proc.pid}.out").open("wb")
    return subprocess.Popen(
        [SIPP, "-sf", str(SCENARIO), f"127.0.0.1:{served.sip_port}", "-i", "127.0.0.1",
         "-p", str(free_port(socket.SOCK_DGRAM)), "-mp", str(free_port(socket.SOCK_DGRAM) & ~1),
         "-m", str(calls), "-l", str(calls), "-r", "10", "-nostdin", "-timeout", "60s"],
        stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def live_calls_then(served: object, tmp_path: Path, sig: signal.Signals, *,
                          twilio: int = 2, sip: int = 0) -> int:
    """Open every kind of call, wait until each is recorded live, send ``sig``; the exit code."""
    assert isinstance(served, Served)
    web = browser_client(served)
    callers = _sipp(served, tmp_path, sip)
    sims, page = [], None
    try:
        sims = [await open_twilio_call(served) for _ in range(twilio)]
        page = await open_browser_call(served, web, call_token(web))
        want = twilio + 1 + sip
        await asyncio.to_thread(wait_until, lambda: len(open_records(served)) == want,
                                timeout=30, what=f"{want} live call records")
        served.proc.send_signal(sig)
        return await asyncio.to_thread(served.proc.wait, 30)
    finally:
        for sim in sims:
            with contextlib.suppress(Exception):
                await sim.close()
        if page is not None:
            with contextlib.suppress(Exception):
                await page.close()
        _stop(callers)
        web.close()


async def telnyx_call(served: Served, *, junk: Sequence[str | bytes] = (),
                      seconds: float = 1.6) -> tuple[float, str]:
    """One Telnyx call over TeXML (signed), Media Streams over a real WebSocket, the echo flow;
    ``junk`` frames mid-call; then a signed ``call.hangup`` and ``stop``. Returns (RMS of the
    echo heard after the junk, call control id)."""
    ccid = "v3:" + random.Random().randbytes(12).hex()
    body = f"CallSid={ccid}&From=%2B15550001111&To=%2B15550002222".encode()
    async with httpx.AsyncClient(timeout=10) as http:
        headers = {**TELNYX.headers(body, timestamp=int(time.time())),
                   "content-type": "application/x-www-form-urlencoded"}
        reply = await http.post(served.base + "/telnyx/texml", content=body, headers=headers)
        assert reply.status_code == 200, reply.text
        stream = ET.fromstring(reply.text).find("Connect/Stream")
        assert stream is not None, reply.text
        params = {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}
        heard = bytearray()
        async with websockets.connect(stream.attrib["url"]) as ws:
            await ws.send(connected_frame())
            await ws.send(json.dumps({
                "event": "start", "sequence_number": "1", "stream_id": "st-1",
                "start": {"call_control_id": ccid, "from": "+15550001111",
                          "to": "+15550002222", "custom_parameters": params,
                          "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                           "channels": 1}}}))
            tone = ulaw_encode((4000 * np.sin(2 * np.pi * 440 * np.arange(8000 * 4) / 8000))
                               .astype(np.int16))
            loop = asyncio.get_running_loop()
            begin, chunk, after = loop.time(), 0, None
            while loop.time() - begin < 0.4 + seconds:
                chunk += 1
                payload = base64.b64encode(tone[(chunk - 1) * 160 % len(tone):][:160]).decode()
                await ws.send(json.dumps({"event": "media", "sequence_number": str(chunk + 1),
                                          "media": {"track": "inbound", "chunk": str(chunk),
                                                    "payload": payload}}))
                if after is None and loop.time() - begin >= 0.4:
                    for frame in junk:
                        await ws.send(frame)
                    after = len(heard)
                try:
                    while True:
                        got = json.loads(await asyncio.wait_for(ws.recv(), 0.001))
                        if got.get("event") == "media":
                            heard += base64.b64decode(got["media"]["payload"])
                except TimeoutError:
                    pass
                await asyncio.sleep(0.02)
            # The caller hangs up: Telnyx's call.hangup first (so callport has no reason to
            # ask the REST API to hang up: nothing leaves loopback), then the stream's stop.
            hangup = event_body("call.hangup", ccid=ccid, hangup_cause="normal_clearing")
            done = await http.post(served.base + "/telnyx/webhook", content=hangup,
                                   headers=TELNYX.headers(hangup, timestamp=int(time.time())))
            assert done.status_code in (200, 204), done.text
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(json.dumps({"event": "stop", "sequence_number": str(chunk + 2)}))
    pcm = ulaw_decode(bytes(heard[after or 0:])).astype(np.float64)
    return (float(np.sqrt(np.mean(pcm ** 2))) if pcm.size else 0.0), ccid


# A complete, valid non-trickle offer (one Opus transceiver) with no candidate: aiortc answers
# it, and no peer ever connects.
OFFER_SDP = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
             "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
             "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
             "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
             "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n")
