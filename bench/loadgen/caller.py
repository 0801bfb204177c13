"""A generator process: paces its calls' frames in real time and measures what comes back.

Every call sends one 20 ms frame per 20 ms on the monotonic clock (call ``i`` of ``N`` at phase
``20 ms * i / N``, so arrivals spread like real calls); one loop serves all of a process's
calls. The lateness of every send against its ideal time is kept: a generator that is late
(p99 over the limit) measured itself, not the server, and the run is marked invalid. A frame
coming back is matched to the frame sent by its content (the echo flow returns the caller's
own bytes), giving the added latency frame-in to frame-out; the spacing of returned frames
gives their jitter against the 20 ms grid.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

FRAME_S = 0.020


@dataclass
class Plan:
    channel: str
    base: str
    sip_port: int
    first: int  # global index of this process's first call
    count: int  # calls in this process
    total: int  # calls in the whole run
    frames: list[bytes]
    telnyx_private: bytes = b""


@dataclass
class Result:
    sent: int = 0  # frames sent inside the window
    matched: int = 0  # of those, echoed back
    late_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    jitter_ms: list[float] = field(default_factory=list)
    failed: int = 0  # calls that could not be set up
    errors: list[str] = field(default_factory=list)  # why (the first few)
    cpu_s: float = 0.0  # the generator's own CPU (process_time) over the window


class _Call:
    def __init__(self, adapter_factory: Any, phase: float, offset: int) -> None:
        self.phase, self.offset = phase, offset
        self.sent: dict[bytes, deque[float]] = {}
        self.window = (0.0, 0.0)
        self.last_rx = 0.0
        self.result = Result()
        self.adapter = adapter_factory(self.on_frame)

    def on_frame(self, payload: bytes, now: float) -> None:
        times = self.sent.get(payload)
        if times:
            at = times.popleft()
            lo, hi = self.window
            if lo <= at <= hi:
                self.result.matched += 1
                self.result.latency_ms.append((now - at) * 1000)
                if self.last_rx:
                    self.result.jitter_ms.append(abs(now - self.last_rx - FRAME_S) * 1000)
                self.last_rx = now


async def _run(plan: Plan, conn: Connection) -> Result:
    import httpx

    from loadgen.channels import BrowserCall, TelnyxCall, TwilioCall, browser_sign_in
    from loadgen.sip import SipCall, SipUa

    loop = asyncio.get_running_loop()
    http = httpx.AsyncClient(timeout=30)
    ua = await SipUa.open() if plan.channel == "sip" else None
    if plan.channel == "browser":
        await browser_sign_in(http, plan.base)

    def factory(on_frame: Any) -> Any:
        if plan.channel == "twilio":
            return TwilioCall(plan.base, http, on_frame)
        if plan.channel == "browser":
            return BrowserCall(plan.base, http, on_frame)
        if plan.channel == "telnyx":
            return TelnyxCall(plan.base, http, plan.telnyx_private, on_frame)
        assert ua is not None
        return SipCall(ua, ("127.0.0.1", plan.sip_port), on_frame)

    calls = [_Call(factory, FRAME_S * (plan.first + i) / plan.total, 37 * (plan.first + i))
             for i in range(plan.count)]
    live: list[_Call] = []
    errors: list[str] = []
    for k in range(0, len(calls), 10):  # ten set-ups at a time
        chunk = calls[k:k + 10]
        outcomes = await asyncio.gather(*(c.adapter.connect() for c in chunk),
                                        return_exceptions=True)
        live += [c for c, o in zip(chunk, outcomes, strict=True) if o is None]
        errors += [repr(o)[:200] for o in outcomes if o is not None][:3]
    failed = len(calls) - len(live)
    conn.send("ready")
    start, lo, hi = await loop.run_in_executor(None, conn.recv)
    for c in live:
        c.window = (lo, hi)
    order = sorted(live, key=lambda c: c.phase)
    frames, n = plan.frames, len(plan.frames)
    k = 0
    cpu_lo = cpu_hi = None
    while True:
        tick = start + k * FRAME_S
        if cpu_lo is None and tick >= lo:
            cpu_lo = time.process_time()
        if cpu_hi is None and tick >= hi:
            cpu_hi = time.process_time()
        if tick > hi + 0.3:
            break
        for c in order:
            target = tick + c.phase
            now = time.monotonic()
            if target - now > 0.0005:
                await asyncio.sleep(target - now)
                now = time.monotonic()
            payload = frames[(k + c.offset) % n]
            if lo <= target <= hi:
                c.result.sent += 1
                c.result.late_ms.append(max(0.0, now - target) * 1000)
            c.sent.setdefault(payload, deque()).append(now)
            with contextlib.suppress(Exception):
                await c.adapter.send(payload)
        k += 1
    await asyncio.sleep(0.3)  # the last echoes
    await asyncio.gather(*(c.adapter.hangup() for c in live), return_exceptions=True)
    await http.aclose()
    total = Result(failed=failed, errors=errors,
                   cpu_s=(cpu_hi or 0.0) - (cpu_lo or 0.0))
    for c in live:
        total.sent += c.result.sent
        total.matched += c.result.matched
        total.late_ms += c.result.late_ms
        total.latency_ms += c.result.latency_ms
        total.jitter_ms += c.result.jitter_ms
    return total


def worker(plan: Plan, conn: Connection) -> None:
    """Process entry: set up the calls, say ready, stream on ``(start, lo, hi)``, report."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        result = asyncio.run(_run(plan, conn))
    except Exception as exc:  # the parent prints it and stops
        conn.send(f"generator failed: {exc!r}")
        return
    conn.send(result)
