"""SIP message model, parser and serializer (RFC 3261 §7, §20, §25).

Sans-IO: ``parse_message(bytes)`` gives a ``SipRequest`` or ``SipResponse`` or raises
``SipParseError`` (with the status a UAS should answer, usually 400); ``bytes(msg)``
serializes, always writing a correct ``Content-Length``. Compact header forms are expanded,
folded header lines are unfolded, header order is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from callport.channels.sip.errors import SipParseError
from callport.channels.sip.headers import (
    NameAddr,
    SipUri,
    Via,
    format_params,
    parse_cseq,
    parse_params,
    split_hostport,
    split_list,
)

__all__ = [  # header-value names stay importable from here, where callers expect them
    "MAX_MESSAGE",
    "NameAddr",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "Via",
    "canonical",
    "format_params",
    "headers_from",
    "make_response",
    "parse_cseq",
    "parse_message",
    "parse_params",
    "split_hostport",
    "split_list",
]

COMPACT: dict[str, str] = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
}
_CANON: dict[str, str] = {
    name.lower(): name
    for name in (
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type",
        "Max-Forwards", "Route", "Record-Route", "Allow", "Accept", "Supported", "Require",
        "Unsupported", "User-Agent", "Server", "Event", "Refer-To", "Referred-By",
        "Subscription-State", "WWW-Authenticate", "Authorization", "Proxy-Authenticate",
        "Proxy-Authorization", "Expires", "Min-Expires", "Allow-Events", "Subject",
        "Reason", "Content-Encoding", "Retry-After", "Timestamp",
    )
}
# Headers whose values may be comma-joined lists (RFC 3261 §7.3.1).
_LIST_HEADERS = frozenset({"via", "route", "record-route", "contact", "allow", "supported",
                           "require", "accept"})
_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
MAX_MESSAGE = 65535


def canonical(name: str) -> str:
    low = name.strip().lower()
    if low in COMPACT:
        return COMPACT[low]
    return _CANON.get(low, name.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class SipMessage:
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def get(self, name: str) -> str | None:
        want = canonical(name).lower()
        for key, value in self.headers:
            if key.lower() == want:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, comma-lists split for the headers that allow them."""
        want = canonical(name).lower()
        out: list[str] = []
        for key, value in self.headers:
            if key.lower() != want:
                continue
            if want in _LIST_HEADERS:
                out.extend(split_list(value))
            else:
                out.append(value)
        return out

    def with_headers(self, *pairs: tuple[str, str]) -> SipMessage:
        return replace(self, headers=self.headers + tuple(pairs))

    def without(self, *names: str) -> tuple[tuple[str, str], ...]:
        drop = {canonical(n).lower() for n in names}
        return tuple((k, v) for k, v in self.headers if k.lower() not in drop)

    def _head_lines(self) -> list[str]:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        lines = self._head_lines()
        for key, value in self.headers:
            if key.lower() == "content-length":
                continue
            lines.append(f"{key}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    # Convenience accessors for the mandatory headers (validated by the parser).
    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.get("CSeq") or "")

    @property
    def from_tag(self) -> str:
        return NameAddr.parse(self.get("From") or "<sip:invalid>").params.get("tag", "") or ""

    @property
    def to_tag(self) -> str:
        return NameAddr.parse(self.get("To") or "<sip:invalid>").params.get("tag", "") or ""

    @property
    def top_via(self) -> Via:
        vias = self.get_all("Via")
        if not vias:
            raise SipParseError("no Via")
        return Via.parse(vias[0])


@dataclass(frozen=True, slots=True, kw_only=True)
class SipRequest(SipMessage):
    method: str
    uri: str

    def _head_lines(self) -> list[str]:
        return [f"{self.method} {self.uri} SIP/2.0"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SipResponse(SipMessage):
    status: int
    reason: str

    def _head_lines(self) -> list[str]:
        return [f"SIP/2.0 {self.status} {self.reason}"]


_REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")


def parse_message(data: bytes) -> SipRequest | SipResponse:
    """Parse one datagram (or one framed stream message). Raises SipParseError."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError("message too large", 513)
    sep = data.find(b"\r\n\r\n")
    if sep >= 0:
        head_bytes, body = data[:sep], data[sep + 4:]
    else:
        sep = data.find(b"\n\n")
        if sep < 0:
            raise SipParseError("no end of headers")
        head_bytes, body = data[:sep], data[sep + 2:]
    head = head_bytes.decode("utf-8", errors="replace").lstrip("\r\n")
    raw_lines = head.replace("\r\n", "\n").split("\n")
    if not raw_lines or not raw_lines[0]:
        raise SipParseError("empty start line")
    start = raw_lines[0]
    headers: list[tuple[str, str]] = []
    for line in raw_lines[1:]:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("continuation before first header")
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise SipParseError(f"bad header line {line[:60]!r}")
        headers.append((canonical(name), value.strip()))
    msg = _start_line(start, tuple(headers))
    length_text = msg.get("Content-Length")
    if length_text is not None:
        if not length_text.isdigit():
            raise SipParseError("bad Content-Length")
        length = int(length_text)
        if length > len(body):
            raise SipParseError("body shorter than Content-Length")
        body = body[:length]
    msg = replace(msg, body=bytes(body))
    for name in _REQUIRED:
        if msg.get(name) is None:
            raise SipParseError(f"missing {name}")
    num, method = msg.cseq
    del num
    if isinstance(msg, SipRequest) and method != msg.method:
        raise SipParseError("CSeq method does not match request method")
    Via.parse(msg.get_all("Via")[0])
    NameAddr.parse(msg.get("From") or "")
    NameAddr.parse(msg.get("To") or "")
    return msg


def _start_line(line: str, headers: tuple[tuple[str, str], ...]) -> SipRequest | SipResponse:
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] != "SIP/2.0":
            raise SipParseError("bad status line")
        if not parts[1].isdigit() or not 100 <= int(parts[1]) <= 699:
            raise SipParseError("bad status code")
        return SipResponse(status=int(parts[1]), reason=parts[2] if len(parts) > 2 else "",
                           headers=headers)
    parts = line.split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0":
        raise SipParseError("bad request line")
    method, uri = parts[0], parts[1]
    if not _TOKEN.match(method):
        raise SipParseError("bad method")
    if ":" not in uri:
        raise SipParseError("bad request URI")
    return SipRequest(method=method.upper(), uri=uri, headers=headers)


REASONS: dict[int, str] = {
    100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 202: "Accepted",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 407: "Proxy Authentication Required", 408: "Request Timeout",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here",
    491: "Request Pending", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable", 513: "Message Too Large", 603: "Decline",
}


def make_response(
    request: SipRequest,
    status: int,
    *,
    to_tag: str = "",
    extra: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
    reason: str | None = None,
) -> SipResponse:
    """A response copying Via/From/To/Call-ID/CSeq (and Record-Route for dialogs, §12.1.1)."""
    headers: list[tuple[str, str]] = []
    for key, value in request.headers:
        low = key.lower()
        if low in {"via", "from", "call-id", "cseq"}:
            headers.append((key, value))
        elif low == "to":
            if to_tag and not request.to_tag and status != 100:
                value = str(NameAddr.parse(value).with_tag(to_tag))
            headers.append((key, value))
        elif low == "record-route" and 100 < status < 300:
            headers.append((key, value))
    headers.extend(extra)
    return SipResponse(status=status, reason=reason or REASONS.get(status, "Unknown"),
                       headers=tuple(headers), body=body)


def headers_from(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((canonical(k), v) for k, v in pairs)
