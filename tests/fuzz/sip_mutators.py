"""SIP, SDP and RTP/RTCP inputs for the fuzz campaigns: well-formed seeds with every hostile
case of issue 20 named, and the seeded byte mutations of ``fuzz_support.Mutator`` on top.

Hostile cases: ``a=inactive`` / ``a=recvonly`` SDP (calls that never end), Call-IDs with NULs
or 30,000 characters (log hygiene), Via / Contact / Record-Route and SDP ``c=`` naming a
victim address (reflection), oversized, truncated and garbage messages, and for RTP: wrong
sources, huge payloads and floods."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

from fuzz_support import Mutator

DIRECTIONS = ("sendrecv", "inactive", "recvonly", "sendonly")


def sdp(*, host: str = "127.0.0.1", port: int = 40000, direction: str = "sendrecv",
        formats: str = "0 8 101") -> str:
    return ("v=0\r\n"
            f"o=- 1 1 IN IP4 {host}\r\n"
            "s=-\r\n"
            f"c=IN IP4 {host}\r\n"
            "t=0 0\r\n"
            f"m=audio {port} RTP/AVP {formats}\r\n"
            "a=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:8 PCMA/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
            f"a={direction}\r\n")


def invite(*, call_id: str, branch: str, from_tag: str, target: tuple[str, int],
           src_port: int, via_host: str = "127.0.0.1", contact_host: str = "127.0.0.1",
           record_route: str = "", body: str | None = None, transport: str = "UDP",
           extra: str = "") -> bytes:
    payload = (sdp() if body is None else body).encode("utf-8", "surrogateescape")
    route = f"Record-Route: <sip:{record_route};lr>\r\n" if record_route else ""
    head = (f"INVITE sip:fuzz@{target[0]}:{target[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {via_host}:{src_port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:+15550100@{via_host}>;tag={from_tag}\r\n"
            f"To: <sip:fuzz@{target[0]}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 INVITE\r\n"
            f"Contact: <sip:fuzz@{contact_host}:{src_port}>\r\n"
            f"{route}{extra}"
            "Content-Type: application/sdp\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n")
    return head.encode("utf-8", "surrogateescape") + payload


def hostile_invites(rng: random.Random, *, target: tuple[str, int], src_port: int,
                    victim: tuple[str, int], transport: str = "UDP") -> Iterator[bytes]:
    """Well-formed INVITEs, each with one of the issue's hostile traits (cycling)."""
    i = 0
    while True:
        i += 1
        branch, tag = f"z9hG4bK-f{rng.getrandbits(40):x}", f"t{rng.getrandbits(32):x}"
        call_id = f"fuzz-{rng.getrandbits(48):x}@127.0.0.1"
        kind = i % 8
        kw: dict[str, str] = {}
        body: str | None = None
        if kind == 0:
            body = sdp(direction="inactive")
        elif kind == 1:
            body = sdp(direction="recvonly")
        elif kind == 2:
            call_id = "nul\x00" + call_id + "\x00\x01"
        elif kind == 3:
            call_id = "L" * 30000
        elif kind == 4:
            kw = {"via_host": victim[0], "contact_host": victim[0],
                  "record_route": f"{victim[0]}:{victim[1]}"}
        elif kind == 5:
            body = sdp(host=victim[0], port=victim[1])  # media to a third host
        elif kind == 6:
            body = sdp(direction=rng.choice(DIRECTIONS), formats="0")
        else:
            body = sdp(host="0.0.0.0", direction="sendonly")  # RFC 2543 hold
        yield invite(call_id=call_id, branch=branch, from_tag=tag, target=target,
                     src_port=src_port, body=body, transport=transport, **kw)


def mutated(mutator: Mutator, seeds: Iterator[bytes], count: int) -> list[bytes]:
    """``count`` messages: a third seeds as they are, the rest mutated (flips, truncation,
    NULs, 1-20 kB runs, garbage, two glued), and every tenth one oversized (64 kB)."""
    out: list[bytes] = []
    for i in range(count):
        seed = next(seeds)
        if i % 10 == 9:
            out.append(seed + b"X" * (65000 - len(seed)))
        elif i % 3 == 0:
            out.append(seed)
        else:
            out.append(mutator.any(seed))
    return out


def sdp_bodies(rng: random.Random, mutator: Mutator, count: int) -> list[str]:
    """SDP bodies: valid in every direction, then broken every way we can think of."""
    broken = [
        "", "v=0\r\n", "v=0\r\nm=audio 0 RTP/AVP 0\r\n",
        sdp(port=70000), sdp(port=-1), sdp(formats=" ".join(str(n) for n in range(128))),
        sdp(formats="96 97 98"), sdp(host="::1"), sdp(host="not-an-ip"), sdp(host="a" * 5000),
        sdp().replace("c=IN IP4 127.0.0.1\r\n", ""), sdp().replace("m=audio", "m=video"),
        sdp() + "m=audio 40002 RTP/AVP 0\r\n" * 200, sdp().replace("RTP/AVP", "RTP/SAVP"),
        sdp() + "a=rtpmap:0 " + "X" * 10000 + "\r\n", sdp().replace("\r\n", "\n"),
        sdp().replace("\r\n", "\x00\r\n"), "\xff\xfe" * 100,
    ]
    out = []
    for i in range(count):
        if i < len(broken):
            out.append(broken[i])
        elif i % 2:
            out.append(sdp(direction=rng.choice(DIRECTIONS)))
        else:
            out.append(mutator.any(sdp(direction=rng.choice(DIRECTIONS)).encode())
                       .decode("utf-8", "surrogateescape"))
    return out


def rtp(seq: int, *, ssrc: int = 0x1234, payload: bytes = b"\xff" * 160, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF,
                       ssrc) + payload


def rtcp_rr(ssrc: int = 0x4321) -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)
