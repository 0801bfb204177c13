"""Bounded fuzz campaigns against a real ``callport serve`` (issue 20): SIP over UDP and TCP,
SDP, RTP/RTCP. Seeded (``CALLPORT_FUZZ_SEED``), a fixed number of messages each, well under a
minute each. After every campaign ``check_invariants``: the process is alive, no call is left
open (/healthz and /metrics agree on 0), RSS grew less than ``RSS_GROWTH_MB``, no unhandled
exception in the log, and a real sipp call still completes. Campaigns that name a *victim*
(127.0.0.2) in Via/Contact/Record-Route or SDP also check that nothing at all reached it.

The server runs with short media timeouts (the fuzzed INVITEs become calls that send no RTP:
they must end by themselves) and without the per-source rate limit (so the parsers, not the
limiter, see the junk; the limiter has its own campaign below)."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fuzz_support import (
    SEED,
    Mutator,
    Served,
    drain,
    needs_sipp,
    tcp_send,
    udp_send,
    wait_until,
    warm_baseline,
)
from fuzz_support import check_invariants as check
from sip_mutators import hostile_invites, invite, mutated, rtcp_rr, rtp, sdp, sdp_bodies

from callport.channels.sip.message import SipResponse, parse_message
from callport.channels.sip.sdp import parse_sdp

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]

VICTIM_HOST = "127.0.0.2"  # a loopback address the attacker (127.0.0.1) is not
FUZZ_ENV = {
    "CALLPORT_SIP_MEDIA_TIMEOUT_S": "2",
    "CALLPORT_SIP_HELD_TIMEOUT_S": "2",
    "CALLPORT_SIP_RATE_PER_S": "0",
    "CALLPORT_SIP_MAX_CALLS": "40",
}
ServeFactory = Callable[..., Served]


class Victim:
    """A UDP socket and a TCP listener on 127.0.0.2: anything reaching them is reflection."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((VICTIM_HOST, 0))
        self.udp.setblocking(False)
        self.port = int(self.udp.getsockname()[1])
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((VICTIM_HOST, self.port))
        self.tcp.listen(16)
        self.tcp.setblocking(False)

    def reached(self) -> tuple[int, int]:
        datagrams = len(drain(self.udp, wait=0.2))
        connections = 0
        while True:
            try:
                conn, _ = self.tcp.accept()
            except (BlockingIOError, OSError):
                break
            connections += 1
            conn.close()
        return datagrams, connections

    def close(self) -> None:
        self.udp.close()
        self.tcp.close()


@pytest.fixture
def victim() -> Iterator[Victim]:
    made = Victim()
    yield made
    made.close()


def test_sip_udp_campaign(serve_factory: ServeFactory, tmp_path: Path, victim: Victim) -> None:
    served = serve_factory(env=FUZZ_ENV, warmup=True)
    before = warm_baseline(served, tmp_path)
    rng = random.Random(SEED)
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind(("127.0.0.1", 0))
    port = int(attacker.getsockname()[1])
    attacker.close()
    seeds = hostile_invites(rng, target=served.sip, src_port=port,
                            victim=(VICTIM_HOST, victim.port))
    messages = mutated(Mutator(rng), seeds, 1500)
    messages += [Mutator(rng).garbage(rng.randrange(1, 2000)) for _ in range(300)]
    lines_before = len(served.text().splitlines())
    sock = udp_send(served.sip, messages, src_port=port, pace_every=50)
    replies = drain(sock, wait=0.5)
    sock.close()
    assert replies, "callport answered nothing at all"
    assert all(addr == served.sip for _, addr in replies)
    figures = check(served, before, tmp_path=tmp_path)
    assert victim.reached() == (0, 0), "callport sent something to the victim address"
    assert served.metric("callport_sip_malformed_total") > 0  # junk: counted, not logged
    lines = len(served.text().splitlines()) - lines_before  # the calls' own lines included
    assert lines < len(messages) // 4, f"{lines} log lines for {len(messages)} messages"
    log = served.text()
    assert "\x00" not in log and "L" * 200 not in log  # Call-IDs escaped and bounded
    print("udp campaign:", len(messages), "messages,", len(replies), "replies,", lines,
          "log lines,", figures)


def test_sip_tcp_campaign(serve_factory: ServeFactory, tmp_path: Path, victim: Victim) -> None:
    served = serve_factory(env=FUZZ_ENV, warmup=True)
    before = warm_baseline(served, tmp_path)
    rng = random.Random(SEED + 1)
    mutator = Mutator(rng)
    seeds = hostile_invites(rng, target=served.sip, src_port=5070,
                            victim=(VICTIM_HOST, victim.port), transport="TCP")
    idle: list[socket.socket] = []
    for i in range(60):  # connections that say nothing, or half a message, and stay open
        conn = socket.create_connection(served.sip, timeout=2)
        if i % 2:
            conn.sendall(b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070")
        idle.append(conn)
    campaign: list[list[bytes]] = []
    for i in range(150):
        kind = i % 5
        if kind == 0:
            chunks = [next(seeds)]  # a hostile but well-formed INVITE
        elif kind == 1:
            chunks = [mutator.any(next(seeds)), next(seeds)]
        elif kind == 2:
            chunks = [b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 999999999\r\n\r\n" + b"A" * 5000]
        elif kind == 3:
            chunks = [mutator.garbage(rng.randrange(1, 70000))]
        else:
            whole = next(seeds)
            cut = rng.randrange(1, len(whole))
            chunks = [whole[:cut], whole[cut:]]  # split across writes
        campaign.append(chunks)
    # Ten connections at a time (each waits for its replies to go quiet): the same inputs,
    # from one seed, and more hostile than one after the other.
    with ThreadPoolExecutor(max_workers=10) as senders:
        replies = list(senders.map(lambda chunks: tcp_send(served.sip, chunks), campaign))
    answered = sum(reply.startswith(b"SIP/2.0 ") for reply in replies)
    for conn in idle:
        conn.close()
    assert answered >= 20
    figures = check(served, before, tmp_path=tmp_path)
    assert victim.reached() == (0, 0), "callport connected or sent to the victim address"
    print("tcp campaign: 150 connections + 60 idle,", answered, "answered,", figures)


def test_sdp_campaign(serve_factory: ServeFactory, tmp_path: Path, victim: Victim) -> None:
    served = serve_factory(env=FUZZ_ENV, warmup=True)
    before = warm_baseline(served, tmp_path)
    rng = random.Random(SEED + 2)
    bodies = sdp_bodies(rng, Mutator(rng), 400)
    bodies += [sdp(host=VICTIM_HOST, port=victim.port, direction=d)
               for d in ("sendrecv", "recvonly", "inactive")] * 5
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    messages = [invite(call_id=f"sdp-{i}@127.0.0.1", branch=f"z9hG4bK-s{i}", from_tag=f"s{i}",
                       target=served.sip, src_port=port, body=body)
                for i, body in enumerate(bodies)]
    for i, data in enumerate(messages):
        sock.sendto(data[:65507], served.sip)
        if i % 100 == 99:
            time.sleep(0.05)
    statuses = [m.status for m in (parse_message(d) for d, _ in drain(sock, wait=0.5))
                if isinstance(m, SipResponse)]
    sock.close()
    assert 488 in statuses and 200 in statuses, sorted(set(statuses))
    figures = check(served, before, tmp_path=tmp_path)
    assert victim.reached() == (0, 0), "callport streamed RTP to a host an SDP named"
    print("sdp campaign:", len(messages), "INVITEs, statuses", sorted(set(statuses)), figures)


def _call(served: Served, sig: socket.socket, rtp_port: int) -> tuple[int, SipResponse, bytes]:
    """One INVITE/200/ACK from ``sig`` with media at 127.0.0.1:rtp_port; callport's RTP port,
    the 200 and the INVITE."""
    port = int(sig.getsockname()[1])
    data = invite(call_id="rtp-campaign@127.0.0.1", branch="z9hG4bK-rtp1", from_tag="rtp",
                  target=served.sip, src_port=port, body=sdp(port=rtp_port))
    sig.sendto(data, served.sip)
    ok: SipResponse | None = None
    deadline = time.monotonic() + 10
    while ok is None and time.monotonic() < deadline:
        for reply, _ in drain(sig, wait=0.3):
            msg = parse_message(reply)
            if isinstance(msg, SipResponse) and msg.status == 200:
                ok = msg
    assert ok is not None, "the RTP campaign's call was not answered"
    audio = parse_sdp(ok.body).audio()
    assert audio is not None
    ack = (f"ACK sip:fuzz@127.0.0.1:{served.sip_port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-rtpack\r\n"
           f"From: <sip:+15550100@127.0.0.1>;tag=rtp\r\nTo: {ok.get('To')}\r\n"
           "Call-ID: rtp-campaign@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
    sig.sendto(ack.encode(), served.sip)
    return audio.port, ok, data


def test_rtp_rtcp_campaign(serve_factory: ServeFactory, tmp_path: Path) -> None:
    served = serve_factory(env=FUZZ_ENV, warmup=True)
    before = warm_baseline(served, tmp_path)
    rng = random.Random(SEED + 3)
    mutator = Mutator(rng)
    sig = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sig.bind(("127.0.0.1", 0))
    media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    media.bind(("127.0.0.1", 0))
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind((VICTIM_HOST, 0))  # another host on the path to the RTP port
    their_port, ok, _ = _call(served, sig, int(media.getsockname()[1]))
    target, rtcp_target = ("127.0.0.1", their_port), ("127.0.0.1", their_port + 1)
    dropped_before = served.metric("callport_sip_rtp_dropped_total")
    media.sendto(rtp(1), target)  # the peer's first packet: latched
    seq = 2
    for round_ in range(5):
        for i in range(600):  # a stranger injecting well-formed audio
            stranger.sendto(rtp(rng.getrandbits(16), ssrc=99), target)
            if i % 100 == 99:
                time.sleep(0.01)
        for _ in range(100):  # huge payloads from the peer itself
            media.sendto(rtp(seq, payload=b"\xff" * rng.randrange(1500, 60000)), target)
            seq += 1
        for _ in range(800):  # a flood of good audio, far faster than real time
            media.sendto(rtp(seq), target)
            seq += 1
        for _ in range(200):  # mutated headers and garbage, RTCP junk both ports
            media.sendto(mutator.any(rtp(seq)), target)
            stranger.sendto(rtcp_rr(), rtcp_target)
            media.sendto(mutator.any(rtcp_rr()), rtcp_target)
        time.sleep(0.3 + 0.1 * round_)
    # The kernel may drop some of a flood before callport reads it; what arrived is counted.
    wait_until(lambda: served.metric("callport_sip_rtp_dropped_total") - dropped_before >= 1000,
               timeout=10, step=0.5, what="the wrong-source and oversized RTP to be counted")
    assert served.active_calls() == 1  # the flood did not kill the call
    bye = (f"BYE sip:callport@127.0.0.1:{served.sip_port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{sig.getsockname()[1]};branch=z9hG4bK-rtpbye\r\n"
           f"From: <sip:+15550100@127.0.0.1>;tag=rtp\r\nTo: {ok.get('To')}\r\n"
           "Call-ID: rtp-campaign@127.0.0.1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n")
    sig.sendto(bye.encode(), served.sip)
    for s in (sig, media, stranger):
        s.close()
    figures = check(served, before, tmp_path=tmp_path)
    print("rtp campaign:", seq, "packets from the peer, 3000 from a stranger,", figures)


def test_rate_limit_campaign(serve_factory: ServeFactory, tmp_path: Path) -> None:
    """With the default limiter: a flood from one source is mostly dropped unanswered, and
    a real call from the same host goes through once the flood stops."""
    served = serve_factory(env={"CALLPORT_SIP_RATE_PER_S": "50", "CALLPORT_SIP_RATE_BURST": "100"})
    before = warm_baseline(served, tmp_path)
    rng = random.Random(SEED + 4)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    options = [(f"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};"
                f"branch=z9hG4bK-r{rng.getrandbits(32):x}\r\nFrom: <sip:a@127.0.0.1>;tag=r\r\n"
                f"To: <sip:x@127.0.0.1>\r\nCall-ID: r{i}\r\nCSeq: 1 OPTIONS\r\n"
                "Content-Length: 0\r\n\r\n").encode() for i in range(3000)]
    sock = udp_send(served.sip, options, src_port=port, pace_every=20)  # ~2000 a second
    replies = drain(sock, wait=0.5)
    sock.close()
    dropped = served.metric("callport_sip_dropped_messages_total")
    # 100 at once and 50 a second after that; what the kernel dropped never arrived at all.
    assert len(replies) <= 400 and dropped >= 1000, (len(replies), dropped)
    time.sleep(2.5)  # the bucket refills
    figures = check(served, before, tmp_path=tmp_path)
    print("rate-limit campaign: 3000 OPTIONS,", len(replies), "answered,", figures)
