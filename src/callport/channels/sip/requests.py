"""Small SIP message helpers shared by the UA core: Via building, rport, salvage, sipfrag."""

from __future__ import annotations

from dataclasses import replace

from callport.channels.sip.message import (
    NameAddr,
    SipParseError,
    SipRequest,
    Via,
    canonical,
)

Addr = tuple[str, int]
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO, UPDATE"


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def via(transport: str, host: str, port: int, branch: str) -> str:
    return f"SIP/2.0/{transport} {hostport(host, port)};branch={branch};rport"


def capabilities() -> tuple[tuple[str, str], ...]:
    return (("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", "replaces, timer"))


def stamp_via(req: SipRequest, addr: Addr) -> SipRequest:
    """RFC 3261 §18.2.1 ``received`` and RFC 3581 ``rport`` on the top Via."""
    headers = list(req.headers)
    for i, (name, value) in enumerate(headers):
        if name.lower() != "via":
            continue
        first, sep, rest = value.partition(",")
        top = Via.parse(first)
        params = dict(top.params)
        if top.host != addr[0]:
            params["received"] = addr[0]
        if "rport" in params:
            params["rport"] = str(addr[1])
            params["received"] = addr[0]
        new = str(replace(top, params=params))
        headers[i] = (name, new + (sep + rest if sep else ""))
        break
    return replace(req, headers=tuple(headers))


def salvage_request(data: bytes) -> SipRequest | None:
    """Best effort: enough of a bad request (start line + Via/From/To/Call-ID/CSeq) to answer."""
    try:
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
        lines = head.split("\r\n")
        method, uri, version = lines[0].split(" ")
        if version != "SIP/2.0" or not method.isalpha():
            return None
        headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            name = canonical(name)
            if colon and name in {"Via", "From", "To", "Call-ID", "CSeq"}:
                headers.append((name, value.strip()))
        names = {n for n, _ in headers}
        if names != {"Via", "From", "To", "Call-ID", "CSeq"}:
            return None
        req = SipRequest(method=method.upper(), uri=uri, headers=tuple(headers))
        vias = req.get_all("Via")
        if not vias:  # "Via: ," and the like
            return None
        Via.parse(vias[0])
        NameAddr.parse(req.get("To") or "")
        return req
    except (ValueError, SipParseError):
        return None


def sipfrag_status(body: bytes) -> int | None:
    """``SIP/2.0 200 OK`` (RFC 3420 message/sipfrag) -> 200."""
    first = body.decode("utf-8", errors="replace").strip().split("\r\n")[0].split("\n")[0]
    parts = first.split(" ")
    if len(parts) >= 2 and parts[0] == "SIP/2.0" and parts[1].isdigit():
        return int(parts[1])
    return None
