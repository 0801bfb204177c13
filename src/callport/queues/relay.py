"""The node-to-node queue relay: how a caller waiting on node A is offered to, and bridged with,
an agent whose device is on node B. Sans-IO here (the wire format, the HMAC door, the leg over
any message link); ``queues.cluster`` runs it over a WebSocket.

One relay connection is one offer. Node A (the caller's) opens
``/internal/queues/ring`` on node B, proving it is a node of this deployment with the shared
secret (``sign``/``verify``: HMAC-SHA256 over the path, its node name, a timestamp within
``MAX_SKEW_S`` and a one-time nonce, in the ``X-Callport-Node`` / ``-Time`` / ``-Nonce`` /
``-Sign`` headers). Then, as JSON text messages:

- A -> B ``{"type": "offer", "agent", "call_id", "queue", "caller", "callee", "channel",
  "summary", "transcript", "waited_s", "callback", "timeout_s", "sample_rate"}``;
- B -> A ``{"type": "answered"}`` or ``{"type": "not-reached", "cause", "detail"}`` (then B
  closes). A closing the connection before the answer withdraws the offer.

After ``answered`` the connection carries the call's audio both ways as binary messages, one
20 ms frame of PCM16 little-endian mono at ``sample_rate`` each; ``{"type": "dtmf", "digit"}``
carries a key, ``{"type": "hangup", "reason"}`` (or the connection closing) ends it. Each end
sees the other party through a ``RelayLeg``: A bridges it to the caller, B to the agent's
device. So the caller's media never moves: the agent's audio comes to the node that owns the
call (docs/scale-out.md says why this design).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from callport.call.controls import Accepted, Capability, ControlResult, Refusal, Refused
from callport.call.events import PCM16, AudioIn, Dtmf, LegEvent
from callport.call.inbox import EventInbox
from callport.queues.reach import Offer
from callport.types import CallInfo

__all__ = [
    "MAX_SKEW_S", "RING_PATH", "Link", "MemoryLink", "RelayError", "RelayLeg", "decode_offer",
    "encode_offer", "memory_links", "sign", "verify",
]

RING_PATH = "/internal/queues/ring"
MAX_SKEW_S = 30.0  # a signed request older (or newer) than this is refused
FRAME_MS = 20
_DIGITS = set("0123456789*#ABCD")


class RelayError(ValueError):
    """A relay request or message that is not acceptable (the reason is safe to log)."""


# ---- the door ---------------------------------------------------------------------------


def _mac(secret: str, path: str, node: str, ts: str, nonce: str) -> str:
    text = f"callport-relay\n{path}\n{node}\n{ts}\n{nonce}".encode()
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()


def sign(secret: str, *, path: str, node: str, now: float) -> dict[str, str]:
    """The headers node ``node`` sends to open ``path`` on another node."""
    if not secret:
        raise RelayError("no node secret: set server.node_secret (CALLPORT_NODE_SECRET)")
    ts, nonce = f"{now:.3f}", secrets.token_hex(16)
    return {"X-Callport-Node": node, "X-Callport-Time": ts, "X-Callport-Nonce": nonce,
            "X-Callport-Sign": _mac(secret, path, node, ts, nonce)}


def verify(secret: str, headers: Mapping[str, str], *, path: str, now: float,
           seen: dict[str, float]) -> str:
    """The calling node's name, or ``RelayError`` (no secret here, missing or bad signature,
    too old, a nonce used before). ``seen`` remembers nonces -> when (only within the skew
    window can one be replayed, so they are kept that long)."""
    for old in [n for n, at in seen.items() if at < now - 2 * MAX_SKEW_S]:
        del seen[old]
    if not secret:
        raise RelayError("this node has no node secret")
    lower = {k.lower(): v for k, v in headers.items()}
    node, ts = lower.get("x-callport-node", ""), lower.get("x-callport-time", "")
    nonce, mac = lower.get("x-callport-nonce", ""), lower.get("x-callport-sign", "")
    if not (node and ts and nonce and mac):
        raise RelayError("unsigned relay request")
    try:
        when = float(ts)
    except ValueError:
        raise RelayError("bad relay timestamp") from None
    if not math.isfinite(when) or abs(now - when) > MAX_SKEW_S:
        raise RelayError("relay request outside the time window")
    if not hmac.compare_digest(_mac(secret, path, node, ts, nonce), mac):
        raise RelayError("bad relay signature")
    if nonce in seen:
        raise RelayError("relay nonce used before")
    seen[nonce] = now
    return node


# ---- the offer --------------------------------------------------------------------------


def encode_offer(agent: str, offer: Offer, *, timeout_s: float, sample_rate: int) -> str:
    info = offer.caller
    return json.dumps({
        "type": "offer", "agent": agent, "call_id": offer.call_id, "queue": offer.queue,
        "caller": info.caller, "callee": info.callee, "channel": info.channel,
        "summary": offer.summary, "transcript": [list(t) for t in offer.transcript],
        "waited_s": offer.waited_s, "callback": offer.callback, "timeout_s": timeout_s,
        "sample_rate": sample_rate})


def _text(body: Mapping[str, Any], key: str, limit: int = 500) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise RelayError(f"offer: bad {key}")
    return value


def decode_offer(text: str) -> tuple[str, Offer, float, int]:
    """``(agent, offer, timeout_s, sample_rate)`` from an offer message, or ``RelayError``."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise RelayError("offer: not JSON") from None
    if not isinstance(body, dict) or body.get("type") != "offer":
        raise RelayError("offer: expected an offer")
    agent, call_id = _text(body, "agent", 100), _text(body, "call_id", 200)
    if not agent or not call_id:
        raise RelayError("offer: agent and call_id are required")
    timeout, rate, waited = body.get("timeout_s"), body.get("sample_rate"), body.get("waited_s")
    if not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise RelayError("offer: bad timeout_s")
    if rate not in (8000, 16000, 24000, 48000):
        raise RelayError("offer: bad sample_rate")
    raw = body.get("transcript", [])
    if not isinstance(raw, list) or len(raw) > 500 or not all(
            isinstance(t, list) and len(t) == 2 and t[0] in ("caller", "agent")
            and isinstance(t[1], str) and len(t[1]) <= 4000 for t in raw):
        raise RelayError("offer: bad transcript")
    info = CallInfo(call_id=call_id, channel=_text(body, "channel", 50),
                    caller=_text(body, "caller", 200), callee=_text(body, "callee", 200))
    offer = Offer(call_id=call_id, queue=_text(body, "queue", 100), caller=info,
                  summary=_text(body, "summary", 2000),
                  transcript=tuple((str(s), str(t)) for s, t in raw),
                  waited_s=float(waited) if isinstance(waited, int | float) else 0.0,
                  callback=body.get("callback") is True)
    return agent, offer, float(timeout), int(rate)


def control(text: str) -> dict[str, Any]:
    """A control message (``answered``, ``not-reached``, ``dtmf``, ``hangup``), or
    ``RelayError``."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise RelayError("relay: not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("type"), str):
        raise RelayError("relay: expected a typed message")
    return body


# ---- the leg ----------------------------------------------------------------------------


class Link(Protocol):
    """One relay connection, whatever carries it (a WebSocket; a pair of queues in tests)."""

    async def send(self, message: str | bytes) -> None:
        """Send one message; a closed link drops it."""
        ...

    async def receive(self) -> str | bytes | None:
        """The next message; None once the link is closed."""
        ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _State:
    samples: int = 0
    reason: str = ""


class RelayLeg:
    """The party at the other end of a relay link, as a ``Leg``: their audio arrives as
    ``AudioIn``, ours goes out frame by frame; keys both ways; hang-up either way. No remote
    buffer (marks are answered once sent); no transfer or hold of its own (the bridge's owner
    does those on the caller's leg)."""

    def __init__(self, link: Link, *, call_id: str, sample_rate: int) -> None:
        self._link, self._call_id, self._rate = link, call_id, sample_rate
        self._inbox = EventInbox()
        self._state = _State()
        self._reader = asyncio.get_running_loop().create_task(
            self._read(), name=f"relay-leg:{call_id}")

    @property
    def call_id(self) -> str:
        return self._call_id

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def frame_ms(self) -> int:
        return FRAME_MS

    @property
    def lead_ms(self) -> float:
        return 0.0

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.SEND_DTMF})

    async def _read(self) -> None:
        reason = "relay-closed"
        try:
            while (message := await self._link.receive()) is not None:
                if isinstance(message, bytes):
                    if len(message) % 2 or len(message) > self._rate * 2:  # > 1 s: not a frame
                        continue
                    pcm = np.frombuffer(message, dtype="<i2").astype(np.int16)
                    self._state.samples += len(pcm)
                    self._inbox.put(AudioIn(pcm=pcm, at=self._state.samples / self._rate))
                    continue
                try:
                    body = control(message)
                except RelayError:
                    continue
                if body["type"] == "dtmf" and body.get("digit") in _DIGITS:
                    self._inbox.put(Dtmf(str(body["digit"]), at=self._state.samples / self._rate))
                elif body["type"] == "hangup":
                    reason = str(body.get("reason", "normal"))[:100]
                    break
        finally:
            self._inbox.close(self._state.reason or reason)

    async def recv(self) -> LegEvent:
        return await self._inbox.get()

    async def send_audio(self, pcm: PCM16) -> None:
        if not self._inbox.closed:
            await self._link.send(np.asarray(pcm, dtype="<i2").tobytes())

    async def mark(self, name: str) -> None:
        token = self._inbox.mark(name)
        if token is not None:
            self._inbox.mark_played(token)

    async def clear(self) -> None:
        self._inbox.clear_marks()

    async def hangup(self, reason: str = "normal") -> None:
        if self._inbox.closed:
            return
        self._state.reason = reason
        await self._link.send(json.dumps({"type": "hangup", "reason": reason}))
        await self._link.close()
        self._inbox.close(reason)
        self._reader.cancel()

    async def send_dtmf(self, digits: str) -> ControlResult:
        if self._inbox.closed:
            return Refused(Capability.SEND_DTMF, Refusal.ENDED, "the call has ended")
        if not digits or not set(digits) <= _DIGITS:
            return Refused(Capability.SEND_DTMF, Refusal.BAD_TARGET, f"not DTMF: {digits!r}")
        for digit in digits:
            await self._link.send(json.dumps({"type": "dtmf", "digit": digit}))
        return Accepted()

    async def transfer(self, target: str) -> ControlResult:
        return Refused(Capability.TRANSFER, Refusal.UNSUPPORTED, "a relayed party")

    async def hold(self) -> ControlResult:
        return Refused(Capability.HOLD, Refusal.UNSUPPORTED, "a relayed party")

    async def resume(self) -> ControlResult:
        return Refused(Capability.HOLD, Refusal.UNSUPPORTED, "a relayed party")


class MemoryLink:
    """One end of an in-process ``Link`` pair (``memory_links``): tests, one-process runs."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.peer: MemoryLink | None = None
        self.closed = False

    async def send(self, message: str | bytes) -> None:
        if not self.closed and self.peer is not None and not self.peer.closed:
            self.peer.inbox.put_nowait(message)

    async def receive(self) -> str | bytes | None:
        if self.closed:
            return None
        got = await self.inbox.get()
        if got is None:
            self.closed = True
        return got

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.peer is not None:
                self.peer.inbox.put_nowait(None)
            self.inbox.put_nowait(None)


def memory_links() -> tuple[MemoryLink, MemoryLink]:
    """Two connected ``MemoryLink`` ends."""
    a, b = MemoryLink(), MemoryLink()
    a.peer, b.peer = b, a
    return a, b
