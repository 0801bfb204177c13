"""uvicorn's sans-IO WebSocket protocol with a short path for whole data frames.

A media stream is 50 small frames a second each way per call. uvicorn's
``websockets-sansio`` protocol runs every frame through the websockets parser (a generator
stepped three times per frame, a ``Frame`` object, an enum look-up, ``Frame.check``) and
every send through ``Frame.serialize``; per call-second that is most of what the socket
layer costs. ``FastWebSocketProtocol`` frames the stream itself once the handshake is done:

- a complete, unfragmented, masked text or binary frame within ``ws_max_size`` (the media
  frames) is unmasked (websockets' C ``apply_mask``) and handed to uvicorn's own delivery
  (``send_receive_event_to_app``: UTF-8 check and 1007, the ASGI queue, back-pressure);
- a complete control frame (ping, pong, close) is handed, whole, to the websockets parser,
  which answers it exactly as before (pong, close echo, 1002 for a bad one);
- anything else (a fragment, reserved bits, an unmasked frame, a frame over the size limit,
  a connection no longer open, an extension negotiated) hands the rest of the stream to the
  websockets parser for good: the same closes (1002, 1009, ...) as the stock protocol.

Only whole frames ever reach the websockets parser, so it always sits on a frame boundary
when the short path hands over. Outbound, a text or binary message on an open connection
without extensions is one header plus the payload (a server does not mask); every other
message (accept, close, an HTTP response) takes uvicorn's path. Delivery pauses reading only
once ``PAUSE_AT`` messages wait for the app (uvicorn pauses after every message: two
``epoll_ctl`` calls per frame).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import OPEN

try:  # websockets' C masking; its pure-Python twin where the extension was not built
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover
    from websockets.utils import apply_mask

__all__ = ["PAUSE_AT", "FastWebSocketProtocol"]

PAUSE_AT = 16  # messages queued for the app before the socket stops being read
_TEXT, _BINARY = 0x1, 0x2
_FIN = 0x80
_RSV = 0x70
_MASKED = 0x80


def frame_header(opcode: int, length: int) -> bytes:
    """An unmasked, final frame's header (RFC 6455 section 5.2)."""
    if length < 126:
        return bytes((_FIN | opcode, length))
    if length < 1 << 16:
        return bytes((_FIN | opcode, 126)) + length.to_bytes(2, "big")
    return bytes((_FIN | opcode, 127)) + length.to_bytes(8, "big")


class FastWebSocketProtocol(WebSocketsSansIOProtocol):
    """See the module docstring. A drop-in ``uvicorn.Config(ws=...)`` class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._framing = False  # True: this class frames the stream (see module docstring)
        self._pending = bytearray()  # an incomplete frame's bytes, while framing
        self._max = self.conn.max_message_size

    # ------------------------------------------------------------------ inbound

    def data_received(self, data: bytes) -> None:
        if not self._framing:
            super().data_received(data)
            return
        buf = self._pending
        buf += data
        pos, size = 0, len(buf)
        while size - pos >= 2:
            head1, head2 = buf[pos], buf[pos + 1]
            length, start = head2 & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2:pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2:pos + 10], "big"), pos + 10
            if not head2 & _MASKED or (self._max is not None and length > self._max):
                return self._hand_over(buf, pos)  # websockets refuses it (1002, 1009)
            end = start + 4 + length
            if end > size:
                break  # the rest of this frame has not come yet
            opcode = head1 & 0x0F
            if head1 & (_FIN | _RSV) == _FIN and opcode in (_TEXT, _BINARY):
                self._deliver(opcode, apply_mask(buf[start + 4:end], buf[start:start + 4]))
                if self.conn.state is not OPEN:  # a bad UTF-8 text frame closed it (1007)
                    self._framing = False
                    del buf[:]
                    return None
            elif opcode >= 0x8 and head1 & (_FIN | _RSV) == _FIN:  # ping, pong, close
                super().data_received(bytes(buf[pos:end]))
                if self.conn.state is not OPEN or self.conn.parser_exc is not None:
                    return self._hand_over(buf, end)
            else:  # a fragment, reserved bits, an unknown opcode: the parser's business
                return self._hand_over(buf, pos)
            pos = end
        del buf[:pos]
        return None

    def _hand_over(self, buf: bytearray, pos: int) -> None:
        """Give the stream from ``pos`` on to the websockets parser, for good."""
        self._framing = False
        rest = bytes(buf[pos:])
        del buf[:]
        if rest:
            super().data_received(rest)

    def _deliver(self, opcode: int, payload: bytes) -> None:
        """uvicorn's ``send_receive_event_to_app`` for one whole frame, pausing reads only
        once ``PAUSE_AT`` messages wait (``receive`` resumes them when the queue empties)."""
        if self.close_sent:
            return  # past websocket.close: reads stay on until the peer's close reply
        if opcode == _TEXT:
            try:
                text = payload.decode()
            except UnicodeDecodeError:
                self.logger.info("Invalid UTF-8 sequence received from client.")
                self.conn.send_close(1007)
                self.handle_parser_exception()
                return
            self.queue.put_nowait({"type": "websocket.receive", "text": text})
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": payload})
        if not self.read_paused and self.queue.qsize() >= PAUSE_AT:
            self.read_paused = True
            self.transport.pause_reading()

    # ------------------------------------------------------------------ outbound

    async def send(self, message: Any) -> None:
        if (self._framing and message["type"] == "websocket.send" and not self.close_sent
                and not self.disconnected and self.writable.is_set()
                and self.conn.state is OPEN):
            text = message.get("text")
            if text is not None:
                payload = text.encode()
                self.transport.write(frame_header(_TEXT, len(payload)) + payload)
                return
            data = message.get("bytes")
            if data is not None:
                self.transport.write(frame_header(_BINARY, len(data)) + bytes(data))
                return
        await super().send(message)
        if (not self._framing and self.handshake_complete and not self.close_sent
                and self.initial_response is None and self.conn.state is OPEN
                and not self.conn.extensions and not self.conn.reader.buffer
                and not self.disconnected):
            self._framing = True  # just accepted: the parser waits on a frame boundary
