"""Byte fixtures for SIP unit tests (a Twilio-like INVITE with SDP)."""

from __future__ import annotations

SDP_OFFER = (
    "v=0\r\n"
    "o=- 1 1 IN IP4 10.0.0.9\r\n"
    "s=-\r\n"
    "c=IN IP4 10.0.0.9\r\n"
    "t=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
)


def invite(*, branch: str = "z9hG4bK-1", call_id: str = "call-1@10.0.0.9", cseq: int = 1,
           sdp: str = SDP_OFFER, to_tag: str = "", extra: str = "",
           method: str = "INVITE") -> bytes:
    body = sdp.encode()
    to = "<sip:bot@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    ctype = "Content-Type: application/sdp\r\n" if body else ""
    head = (
        f"{method} sip:bot@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.9:5062;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: \"Alice\" <sip:+15550001@10.0.0.9>;tag=from1\r\n"
        f"To: {to}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:alice@10.0.0.9:5062>\r\n"
        "Record-Route: <sip:proxy.example;lr>\r\n"
        f"{extra}{ctype}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def request(method: str, *, branch: str, to_tag: str, cseq: int, call_id: str = "call-1@10.0.0.9",
            body: bytes = b"", extra: str = "") -> bytes:
    head = (
        f"{method} sip:bot@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 10.0.0.9:5062;branch={branch}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:+15550001@10.0.0.9>;tag=from1\r\n"
        f"To: <sip:bot@127.0.0.1>{';tag=' + to_tag if to_tag else ''}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
