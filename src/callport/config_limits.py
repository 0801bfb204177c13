"""``[limits]`` settings: what a peer may make the HTTP/WebSocket edge wait for or hold
(part of ``callport.config``, which re-exports them). Ranges live in ``config_check.RANGES``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitSettings:
    # Request bodies (every POST/PUT/PATCH): refused by Content-Length before any byte is read,
    # and a chunked body is cut off at the limit (413).
    body_bytes: int = 64 * 1024
    body_timeout_s: float = 10.0  # the whole body must arrive within this (408)
    header_timeout_s: float = 10.0  # a connection's request line and headers, each request
    keepalive_s: int = 5  # an idle keep-alive connection is closed after this
    ws_max_bytes: int = 256 * 1024  # one WebSocket message; larger closes the socket (1009)
    ws_admission_s: float = 5.0  # a media WebSocket without a valid start by then is closed
    rtc_connect_s: float = 15.0  # an answered WebRTC offer whose peer has not connected: ended
    # Anonymous HTTP requests and WebSocket handshakes per client address (token bucket);
    # 0 turns the limiter off. Signed-in users and API tokens are not limited.
    rate_per_s: float = 50.0
    rate_burst: int = 200
    rate_sources: int = 10_000  # client addresses remembered (least recent forgotten first)
    # A stored call still ringing/in progress this long after it started, and not live in
    # this process, is closed (cause "stale"): a lost status callback cannot leave it open.
    stale_call_s: float = 4 * 3600.0

    def problems(self) -> list[str]:
        return []
