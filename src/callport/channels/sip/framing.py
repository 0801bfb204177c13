"""Sans-IO SIP message framing on a byte stream (TCP), RFC 3261 §18.3.

On a stream every message carries ``Content-Length``; the head ends at the first empty line.
``StreamFramer.feed(data)`` returns the complete messages found so far (bytes) and keeps the
partial tail. Keep-alive CRLFs between messages (RFC 5626 §3.5.1) are skipped. A bad frame
(no or invalid Content-Length, a head or body over the limits) yields one ``FrameError`` and
the framer refuses further input: the driver closes that connection, nothing raises.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class FrameError:
    reason: str


def _content_length(head: bytes) -> int | None:
    """The Content-Length (or compact ``l``) value; ``None`` if missing or not a number."""
    value: int | None = None
    for line in head.split(b"\r\n")[1:]:
        name, sep, rest = line.partition(b":")
        if not sep:
            continue
        if name.strip().lower() in (b"content-length", b"l"):
            text = rest.strip()
            if not text.isdigit():
                return None
            value = int(text)
    return value


class StreamFramer:
    def __init__(self, *, max_head: int = MAX_HEAD, max_body: int = MAX_BODY) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self._buf = bytearray()
        self.failed: FrameError | None = None

    @property
    def pending(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        if self.failed is not None:
            return []
        self._buf += data
        out: list[bytes | FrameError] = []
        while True:
            start = 0
            while self._buf[start:start + 2] == b"\r\n":
                start += 2
            if start:
                del self._buf[:start]
            if self._buf == b"\r":
                return out
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self.max_head:
                    return [*out, self._fail("head too long")]
                return out
            if end > self.max_head:
                return [*out, self._fail("head too long")]
            head = bytes(self._buf[:end])
            length = _content_length(head)
            if length is None:
                return [*out, self._fail("missing or invalid Content-Length")]
            if length > self.max_body:
                return [*out, self._fail("body too long")]
            total = end + 4 + length
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]

    def _fail(self, reason: str) -> FrameError:
        self.failed = FrameError(reason)
        self._buf.clear()
        return self.failed
