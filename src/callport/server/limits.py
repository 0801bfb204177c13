"""ASGI guards at the HTTP edge: request bodies bounded before they are read, and anonymous
requests rate-limited per client address.

- ``BodyLimitMiddleware`` (outermost): a request whose ``Content-Length`` is over its route's
  limit is answered 413 before a byte of the body is read (the app never runs); a body sent
  without a length (chunked) is counted as it is received and cut off at the limit: the app's
  ``receive`` raises ``BodyTooLarge``, whatever the app answers after that is dropped and the
  client gets 413. A body that takes longer than ``limits.body_timeout_s`` gets 408. Limits
  are per path prefix (``limits``, longest prefix wins) over ``limits.body_bytes``.
- ``RateLimitMiddleware`` (inside ``AuthMiddleware``, so it knows who is signed in): a request
  or WebSocket handshake without a user (webhooks, ``/login``, ``/browser/offer``, the page)
  takes a token from its client address's bucket (a ``store.live.SharedRateLimiter``:
  ``runtime.rate_limiter``, in memory on one node, on Redis with ``server.redis`` so a burst
  split over the nodes is limited as one); an empty bucket is answered 429 with
  ``Retry-After``. When the shared limiter cannot be reached (Redis down, or no answer within
  ``store.live.ANSWER_WITHIN_S``) the request is let
  through (fail open: an outage must not take the webhooks down with it), with a warning in
  the log and ``callport_edge_events_total{kind="rate-limit-unavailable"}`` counted.

Each refusal is counted in ``callport.edgelog.EDGE`` (``/metrics``) and logged a few times a
minute at most.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callport.config_limits import LimitSettings
from callport.edgelog import EDGE
from callport.store import live as live_state
from callport.store.live import MemoryRateLimiter, SharedRateLimiter

__all__ = ["BodyLimitMiddleware", "BodyTooLarge", "RateLimitMiddleware"]

log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a request body passes its limit (answered 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


def _report(kind: str, detail: str, scope: Scope) -> None:
    allowed, suppressed = EDGE.report("http", kind, now=time.monotonic())
    if allowed:
        client = scope.get("client") or ("?", 0)
        more = f" ({suppressed} more suppressed)" if suppressed else ""
        log.warning("http %s from %s: %s%s", kind, client[0], detail, more)


async def _answer(send: Send, status: int, message: str,
                  headers: Mapping[str, str] | None = None) -> None:
    body = ('{"error": "' + message + '"}').encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           (b"connection", b"close")]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | str | None:
    """The declared length; None when absent; "bad" when it is not one decimal number."""
    values = [v for k, v in scope.get("headers", ()) if k == b"content-length"]
    if not values:
        return None
    if len(set(values)) != 1 or not values[0].isdigit() or len(values[0]) > 18:
        return "bad"
    return int(values[0])


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, settings: LimitSettings,
                 limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default = settings.body_bytes
        self.timeout_s = settings.body_timeout_s
        # Longest prefix first, so "/api/recordings" can differ from "/api".
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared == "bad":
            _report("bad-length", "unreadable Content-Length", scope)
            await _answer(send, 400, "Content-Length must be one decimal number")
            return
        if isinstance(declared, int) and declared > limit:
            _report("body-too-large", f"Content-Length {declared} > {limit}", scope)
            await _answer(send, 413, f"request body is larger than {limit} bytes")
            return
        state = _BodyState()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s

        async def limited_receive() -> Message:
            if state.done:
                return await receive()  # after the body: only http.disconnect is left
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                state.failed = (408, f"request body not received within {self.timeout_s:g} s")
                raise BodyTooLarge(limit) from None
            if message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                if state.received > limit:
                    state.failed = (413, f"request body is larger than {limit} bytes")
                    raise BodyTooLarge(limit)
                state.done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            if state.failed is not None:
                return  # the app's answer after a refused body is not the client's answer
            if message["type"] == "http.response.start":
                state.started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if state.failed is None:
                raise
        if state.failed is not None and not state.started:
            status, message = state.failed
            _report("body-too-large" if status == 413 else "body-timeout", message, scope)
            await _answer(send, status, message)


class _BodyState:
    __slots__ = ("done", "failed", "received", "started")

    def __init__(self) -> None:
        self.received = 0
        self.done = False
        self.started = False
        self.failed: tuple[int, str] | None = None


class RateLimitMiddleware:
    """Per-address token buckets for requests that carry no signed-in user (see module)."""

    def __init__(self, app: ASGIApp, *, settings: LimitSettings,
                 limiter: SharedRateLimiter | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.limiter: SharedRateLimiter = limiter or MemoryRateLimiter(
            rate_per_s=settings.rate_per_s, burst=settings.rate_burst,
            max_keys=settings.rate_sources)
        self._clock = clock  # wall clock: shared buckets on Redis are timed by every node

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("user") is not None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("?", 0)
        key = str(client[0])
        try:
            async with asyncio.timeout(live_state.ANSWER_WITHIN_S):
                allowed = await self.limiter.allow(key, now=self._clock())
        except Exception as exc:  # the shared limiter (Redis) is unreachable: fail open
            _report("rate-limit-unavailable", f"let through ({type(exc).__name__}: {exc})",
                    scope)
            allowed = True
        if allowed:
            await self.app(scope, receive, send)
            return
        _report("rate-limited", f"over {self.limiter.rate_per_s:g}/s", scope)
        # An empty bucket holds under one token: one refill interval at most.
        retry = str(max(1, math.ceil(1.0 / self.limiter.rate_per_s)))
        if scope["type"] == "http":
            await _answer(send, 429, "too many requests from this address",
                          {"retry-after": retry})
            return
        await _refuse_websocket(scope, receive, send, retry)


async def _refuse_websocket(scope: Scope, receive: Receive, send: Send, retry: str) -> None:
    message: dict[str, Any] = dict(await receive())  # websocket.connect
    del message
    if "websocket.http.response" in scope.get("extensions", {}):
        body = b'{"error": "too many requests from this address"}'
        await send({"type": "websocket.http.response.start", "status": 429,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"retry-after", retry.encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})
