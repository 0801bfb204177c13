"""SIP transactions, RFC 3261 §17 (with the RFC 6026 Accepted state for 2xx).

Each transaction is a small state machine fed with messages and ``now``; it returns the
datagrams to (re)transmit and exposes ``deadline`` (the earliest timer) for the driver.
Timer names follow the RFC: A/B/D (client INVITE), E/F/K (client non-INVITE), G/H/I/L
(server INVITE), J (server non-INVITE). ``reliable`` transports (TCP) never retransmit and
zero the wait timers (§17.1.1.2, §17.2.1).
"""

from __future__ import annotations

import enum

from callport.channels.sip.message import SipRequest, SipResponse

T1 = 0.5
T2 = 4.0
T4 = 5.0


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class _Timers:
    def __init__(self) -> None:
        self.timers: dict[str, float] = {}
        self.intervals: dict[str, float] = {}
        self.timed_out = False

    @property
    def deadline(self) -> float | None:
        return min(self.timers.values()) if self.timers else None

    def abandon(self) -> None:
        """The transport failed before any response (§8.1.3.1): end as if timed out."""
        self.timed_out = True
        self.timers.clear()

    def _due(self, now: float) -> list[str]:
        due = sorted((t, name) for name, t in self.timers.items() if t <= now)
        for _, name in due:
            self.timers.pop(name, None)
        return [name for _, name in due]


class ServerInviteTransaction(_Timers):
    """§17.2.1 plus RFC 6026 §7.1: 2xx retransmitted until the ACK (Accepted, Timer L)."""

    def __init__(self, request: SipRequest, *, reliable: bool = False) -> None:
        super().__init__()
        self.request = request
        self.reliable = reliable
        self.state = State.PROCEEDING
        self.last: bytes | None = None
        self.final: SipResponse | None = None

    def respond(self, response: SipResponse, now: float) -> list[bytes]:
        if self.state not in (State.PROCEEDING,):
            return []  # final already sent: a late TU response is ignored
        data = bytes(response)
        self.last = data
        if response.status < 200:
            return [data]
        self.final = response
        if response.status < 300:
            self.state = State.ACCEPTED
            self.timers["L"] = now + 64 * T1
        else:
            self.state = State.COMPLETED
            self.timers["H"] = now + 64 * T1
        if not self.reliable:
            self.intervals["G"] = T1
            self.timers["G"] = now + T1
        return [data]

    def on_request_retransmit(self) -> list[bytes]:
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last is not None:
            return [self.last]
        return []

    def on_ack(self, now: float) -> None:
        if self.state is State.COMPLETED:
            self.state = State.CONFIRMED
            self.timers.pop("G", None)
            self.timers.pop("H", None)
            self.timers["I"] = now + (0.0 if self.reliable else T4)
        elif self.state is State.ACCEPTED:
            self.timers.pop("G", None)
            self.state = State.TERMINATED
            self.timers.clear()

    def on_timer(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        for name in self._due(now):
            if name == "G" and self.last is not None and self.state in (State.COMPLETED,
                                                                          State.ACCEPTED):
                out.append(self.last)
                nxt = min(2 * self.intervals["G"], T2)
                self.intervals["G"] = nxt
                self.timers["G"] = now + nxt
            elif name in ("H", "L"):
                self.timed_out = self.state in (State.COMPLETED, State.ACCEPTED)
                self.state = State.TERMINATED
                self.timers.clear()
            elif name == "I":
                self.state = State.TERMINATED
        return out


class ServerNonInviteTransaction(_Timers):
    """§17.2.2: Trying -> Proceeding -> Completed (Timer J) -> Terminated."""

    def __init__(self, request: SipRequest, *, reliable: bool = False) -> None:
        super().__init__()
        self.request = request
        self.reliable = reliable
        self.state = State.TRYING
        self.last: bytes | None = None

    def respond(self, response: SipResponse, now: float) -> list[bytes]:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return []
        data = bytes(response)
        self.last = data
        if response.status < 200:
            self.state = State.PROCEEDING
        else:
            self.state = State.COMPLETED
            self.timers["J"] = now + (0.0 if self.reliable else 64 * T1)
        return [data]

    def on_request_retransmit(self) -> list[bytes]:
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last is not None:
            return [self.last]
        return []

    def on_timer(self, now: float) -> list[bytes]:
        if "J" in self._due(now):
            self.state = State.TERMINATED
        return []


class ClientInviteTransaction(_Timers):
    """§17.1.1: Calling (A, B) -> Proceeding -> Completed (D, we ACK non-2xx) / Terminated.

    ``timeout`` is Timer B (64*T1 by default); a UA with other targets to try sets it lower.
    """

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False,
                 timeout: float = 64 * T1) -> None:
        super().__init__()
        self.request = request
        self.data = bytes(request)
        self.reliable = reliable
        self.state = State.CALLING
        self.ack: bytes | None = None
        if not reliable:
            self.intervals["A"] = T1
            self.timers["A"] = now + T1
        self.timers["B"] = now + timeout

    def on_response(self, response: SipResponse, now: float) -> tuple[list[bytes], bool]:
        """Returns (datagrams to send, whether the TU should see this response)."""
        if self.state in (State.CALLING, State.PROCEEDING):
            self.timers.pop("A", None)
            if response.status < 200:
                self.state = State.PROCEEDING
                self.timers.pop("B", None)
                return [], True
            if response.status < 300:
                self.state = State.TERMINATED  # TU sends the ACK (§13.2.2.4)
                self.timers.clear()
                return [], True
            self.state = State.COMPLETED
            self.timers.pop("B", None)
            self.ack = bytes(self._ack_for(response))
            self.timers["D"] = now + (0.0 if self.reliable else 32.0)
            return [self.ack], True
        if self.state is State.COMPLETED and response.status >= 300 and self.ack is not None:
            return [self.ack], False
        return [], False

    def _ack_for(self, response: SipResponse) -> SipRequest:
        """§17.1.1.3: ACK for a non-2xx shares the INVITE's branch and To-tag of the reply."""
        req = self.request
        headers: list[tuple[str, str]] = []
        for key, value in req.headers:
            low = key.lower()
            if low in {"via", "from", "call-id", "route", "max-forwards"}:
                if low == "via" and any(k.lower() == "via" for k, _ in headers):
                    continue
                headers.append((key, value))
        headers.append(("To", response.get("To") or req.get("To") or ""))
        headers.append(("CSeq", f"{req.cseq[0]} ACK"))
        return SipRequest(method="ACK", uri=req.uri, headers=tuple(headers))

    def on_timer(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        for name in self._due(now):
            if name == "A" and self.state is State.CALLING:
                out.append(self.data)
                self.intervals["A"] *= 2
                self.timers["A"] = now + self.intervals["A"]
            elif name == "B" and self.state is State.CALLING:
                self.timed_out = True
                self.state = State.TERMINATED
                self.timers.clear()
            elif name == "D":
                self.state = State.TERMINATED
        return out

    def abandon(self) -> None:
        super().abandon()
        self.state = State.TERMINATED


class ClientNonInviteTransaction(_Timers):
    """§17.1.2: Trying (E, F) -> Proceeding -> Completed (K) -> Terminated (``timeout``: F)."""

    def __init__(self, request: SipRequest, now: float, *, reliable: bool = False,
                 timeout: float = 64 * T1) -> None:
        super().__init__()
        self.request = request
        self.data = bytes(request)
        self.reliable = reliable
        self.state = State.TRYING
        if not reliable:
            self.intervals["E"] = T1
            self.timers["E"] = now + T1
        self.timers["F"] = now + timeout

    def on_response(self, response: SipResponse, now: float) -> tuple[list[bytes], bool]:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return [], False
        if response.status < 200:
            self.state = State.PROCEEDING
            return [], True
        self.state = State.COMPLETED
        self.timers.pop("E", None)
        self.timers.pop("F", None)
        self.timers["K"] = now + (0.0 if self.reliable else T4)
        return [], True

    def on_timer(self, now: float) -> list[bytes]:
        out: list[bytes] = []
        for name in self._due(now):
            if name == "E" and self.state in (State.TRYING, State.PROCEEDING):
                out.append(self.data)
                nxt = T2 if self.state is State.PROCEEDING else min(2 * self.intervals["E"], T2)
                self.intervals["E"] = nxt
                self.timers["E"] = now + nxt
            elif name == "F" and self.state in (State.TRYING, State.PROCEEDING):
                self.timed_out = True
                self.state = State.TERMINATED
                self.timers.clear()
            elif name == "K":
                self.state = State.TERMINATED
        return out

    def abandon(self) -> None:
        super().abandon()
        self.state = State.TERMINATED
