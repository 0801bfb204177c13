"""HTTP campaign against a real ``callport serve``: every POST endpoint gets seeded hostile
bodies (deep nesting, huge integers, NaN, bad UTF-8, flips, truncation, repetition), lying and
duplicated lengths, oversize chunked bodies, junk paths, signed Twilio webhooks with junk
fields (each call they ring then gets Twilio's final status callback), signed Telnyx webhooks
with hostile JSON, WebRTC offers (mutated SDP, and valid ones no peer ever connects), and a
crowd of slow-header connections. Bounded counts; under a minute.

Afterwards (``fuzz_support.check_invariants`` plus this half's own): the process is alive, no
HTTP 500 was answered and no traceback logged, no call is left open, RSS grew less than
``RSS_GROWTH_MB``, the slow-header sockets were closed by the header deadline, and a real
Twilio-simulator call still completes (its echo heard) with its record closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fuzz_support import check_invariants, start_serve, wait_until
from http_support import (
    EDGE_ENV,
    OFFER_SDP,
    TELNYX,
    add_web_user,
    browser_client,
    call_token,
    mutated_body,
    open_records,
    raw_request,
    rng,
    status_of,
    twilio_call,
)
from telnyx_sim import event_body
from twilio_sim import call_params, signed_form

pytestmark = [pytest.mark.slow]

RSS_GROWTH_MB = 40.0
REQUESTS = 500
SLOW_SOCKETS = 60

SEEDS: list[tuple[str, bytes, str]] = [  # path, a valid body, who sends it
    ("/api/tasks", b'{"title": "buy milk", "due": "2026-12-24"}', "bearer"),
    ("/api/tasks/", b'{"title": "call mum"}', "bearer"),
    ("/login", b'{"name": "webfuzz", "password": "nope"}', "anon"),
    ("/api/me/password", b'{"password": "new-password-123", "current": "x"}', "cookie"),
    ("/browser/offer", b'{"type": "offer", "sdp": "v=0\\r\\n", "token": "x"}', "cookie"),
    ("/browser/token", b"{}", "cookie"),
    ("/browser/embed/grant", b'{"host": "https://example.com"}', "cookie"),
    ("/api/calls", b'{"to": "+15550001111", "from": "+15550002222"}', "bearer"),
    ("/twilio/calls", b'{"to": "+15550001111"}', "bearer"),
    ("/twilio/voice", b"CallSid=CA1&From=%2B1555&To=%2B1666", "anon"),
    ("/twilio/status", b"CallSid=CA1&CallStatus=completed", "anon"),
    ("/telnyx/webhook", b'{"data": {"event_type": "call.initiated", "payload": {}}}', "anon"),
    ("/telnyx/texml", b"CallSid=x", "anon"),
    ("/logout", b"", "cookie"),
]


def test_http_endpoints_survive_a_hostile_campaign(tmp_path: Path) -> None:
    served = start_serve(tmp_path, env=EDGE_ENV, sip=False)
    try:
        add_web_user(served)
        web = browser_client(served)
        baseline_rms, _ = asyncio.run(twilio_call(served))  # warm: the flow, the codecs
        assert baseline_rms > 500, f"the echo was not heard (rms {baseline_rms:.0f})"
        warm = web.post("/browser/offer", json={"type": "offer", "sdp": OFFER_SDP,
                                                 "token": call_token(web)})
        assert warm.status_code == 200, warm.text  # aiortc loaded before the baseline
        wait_until(lambda: served.active_calls() == 0, timeout=15, what="the offer's deadline")
        before = served.snapshot()
        statuses = _campaign(served, web)
        assert statuses, "nothing was sent"
        assert statuses.get(500, 0) == 0, f"HTTP 500s: {statuses}"
        assert statuses.get(413, 0) > 0 and statuses.get(400, 0) > 0, statuses
        _slow_headers_are_closed(served)
        figures = check_invariants(served, before, tmp_path=tmp_path,
                                   rss_growth_mb=RSS_GROWTH_MB, sipp=False)
        rms, _ = asyncio.run(twilio_call(served))
        assert rms > 500, f"a real Twilio call after the campaign was not echoed (rms {rms:.0f})"
        wait_until(lambda: not open_records(served), timeout=10, what="every record closed")
        print(f"\nHTTP campaign: {sum(statuses.values())} requests {dict(statuses)}; {figures}")
        web.close()
    finally:
        served.stop()


def _campaign(served: object, web: httpx.Client) -> Counter[int]:
    from fuzz_support import Served

    assert isinstance(served, Served)
    r = rng()
    statuses: Counter[int] = Counter()
    bearer = {"Authorization": f"Bearer {served.token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=served.base, timeout=10,
                      headers={"Origin": served.base}) as anon:
        for i in range(16):  # WebRTC offers with good tokens: mutated SDP, or valid and never
            sdp = OFFER_SDP if i % 4 == 0 else mutated_body(r, OFFER_SDP.encode()).decode(
                "latin-1")  # connected (ended at limits.rtc_connect_s, not held)
            reply = web.post("/browser/offer", json={"type": "offer", "sdp": sdp[:19_000],
                                                     "token": call_token(web)})
            statuses[reply.status_code] += 1
        for _ in range(REQUESTS):
            path, seed, who = r.choice(SEEDS)
            body = mutated_body(r, seed)
            content_type = r.choice(["application/json", "application/x-www-form-urlencoded",
                                     "text/plain", "application/json; charset=utf-8"])
            if who == "bearer":
                reply = anon.post(path, content=body, headers={**bearer,
                                                               "Content-Type": content_type})
            elif who == "cookie":
                reply = web.post(path, content=body, headers={"Content-Type": content_type})
            else:
                reply = anon.post(path, content=body, headers={"Content-Type": content_type})
            statuses[reply.status_code] += 1
        rung = []
        for _ in range(40):  # signed Twilio webhooks whose fields are junk
            url = served.base + r.choice(["/twilio/voice", "/twilio/status", "/twilio/after"])
            junk = mutated_body(r, b"+15550001111").decode("latin-1")
            rung.append("CA" + r.randbytes(8).hex())
            params = call_params(rung[-1], status=r.choice(
                ["ringing", "completed", junk[:50]]), From=junk[:2000], To=junk[:200])
            body, headers = signed_form(url, params)
            statuses[anon.post(url, content=body, headers=headers).status_code] += 1
        for sid in rung:  # Twilio ends every call it rang with a final status callback
            url = served.base + "/twilio/status"
            body, headers = signed_form(url, call_params(sid, status="completed"))
            statuses[anon.post(url, content=body, headers=headers).status_code] += 1
        for _ in range(40):  # signed Telnyx webhooks whose JSON is hostile
            body = mutated_body(r, event_body("call.hangup", ccid="v3:" + r.randbytes(6).hex()))
            headers = TELNYX.headers(body, timestamp=int(time.time()))
            statuses[anon.post("/telnyx/webhook", content=body, headers=headers).status_code] += 1
    for raw in _raw_requests(served.http_port, r):
        statuses[status_of(raw_request(served.http_port, raw))] += 1
    statuses.pop(0, None)  # connections the server closed without an answer (deadlines)
    return statuses


def _raw_requests(port: int, r: object) -> list[bytes]:
    host = f"Host: 127.0.0.1:{port}\r\n".encode()
    out = []
    for path in (b"/api/tasks", b"/twilio/voice", b"/browser/offer", b"/login"):
        out += [
            b"POST " + path + b" HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n" + b"[" * 1000,  # a lying length
            b"POST " + path + b" HTTP/1.1\r\n" + host + b"Content-Length: 5\r\n"
            b"Content-Length: 7\r\n\r\nhello",  # two lengths
            b"POST " + path + b" HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + (b"4000\r\n" + b"[" * 0x4000 + b"\r\n") * 12
            + b"0\r\n\r\n",  # a chunked body of 192 kB
            b"GET " + path + b"/" + b"A" * 6000 + b" HTTP/1.1\r\n" + host + b"\r\n",
            b"GET " + path + b"%00%ff HTTP/1.1\r\n" + host + b"\r\n",
            b"POST " + path + b" HTTP/1.1\r\n" + host + b"Content-Length: -1\r\n\r\n",
        ]
    return out


def _slow_headers_are_closed(served: object) -> None:
    """``SLOW_SOCKETS`` connections that send half a request line and stop: all closed by the
    header deadline (1 s here), none held for the 60 s they once were."""
    from fuzz_support import Served

    assert isinstance(served, Served)
    socks = []
    for _ in range(SLOW_SOCKETS):
        sock = socket.create_connection(("127.0.0.1", served.http_port), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(sock)
    deadline = time.monotonic() + 15
    closed = 0
    for sock in socks:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(OSError):
            if sock.recv(1024) == b"":
                closed += 1
        sock.close()
    assert closed == SLOW_SOCKETS, f"{SLOW_SOCKETS - closed} slow-header sockets still open"
