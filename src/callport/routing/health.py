"""Carrier health: one circuit breaker per carrier, in simulated time (``now`` is an argument).

States (Nygard's circuit breaker, as Jambonz's OPTIONS-ping blacklist but with recovery):

- ``closed``: calls flow; ``failures`` consecutive carrier failures open it.
- ``open``: the carrier is skipped until ``open_s`` has passed since it opened.
- ``half-open``: after that, one probe is let through (a real call, or a health check such as
  a SIP OPTIONS ping); its success closes the breaker, its failure opens it again for another
  ``open_s``. While the probe is out, other calls skip the carrier.

A success in ``closed`` resets the failure count. Only carrier trouble counts (see
``callport.routing.causes``): a busy callee is not the carrier's fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Breaker", "BreakerState", "HealthBoard"]

BreakerState = Literal["closed", "open", "half-open"]


@dataclass(slots=True, kw_only=True)
class Breaker:
    failures: int = 3  # consecutive failures that open it
    open_s: float = 60.0  # how long it stays open before a probe
    state: BreakerState = "closed"
    consecutive: int = 0
    opened_at: float = 0.0
    probing: bool = False
    last_error: str = ""
    last_ok_at: float | None = None

    def current(self, now: float) -> BreakerState:
        """The state at ``now`` (an open breaker past ``open_s`` reads half-open)."""
        if self.state == "open" and now - self.opened_at >= self.open_s:
            return "half-open"
        return self.state

    def allows(self, now: float) -> bool:
        """May a call use the carrier now (without claiming the probe)?"""
        state = self.current(now)
        return state == "closed" or (state == "half-open" and not self.probing)

    def acquire(self, now: float) -> bool:
        """Claim the right to try the carrier; in half-open this takes the one probe."""
        state = self.current(now)
        if state == "closed":
            return True
        if state == "half-open" and not self.probing:
            self.state, self.probing = "half-open", True
            return True
        return False

    def success(self, now: float) -> None:
        self.state, self.consecutive, self.probing = "closed", 0, False
        self.last_ok_at = now

    def failure(self, now: float, error: str = "") -> None:
        self.last_error = error
        if self.current(now) == "half-open" or self.probing:
            self._open(now)
            return
        self.consecutive += 1
        if self.state == "closed" and self.consecutive >= self.failures:
            self._open(now)

    def release(self) -> None:
        """The claimed attempt ended without saying anything about the carrier (the callee
        was busy): a half-open probe may be taken again."""
        self.probing = False

    def _open(self, now: float) -> None:
        self.state, self.opened_at, self.probing = "open", now, False


class HealthBoard:
    """The breakers of every carrier, created on first use with the board's thresholds."""

    def __init__(self, *, failures: int = 3, open_s: float = 60.0) -> None:
        self.failures = failures
        self.open_s = open_s
        self.breakers: dict[str, Breaker] = {}

    def of(self, carrier: str) -> Breaker:
        breaker = self.breakers.get(carrier)
        if breaker is None:
            breaker = Breaker(failures=self.failures, open_s=self.open_s)
            self.breakers[carrier] = breaker
        return breaker

    def probe_result(self, carrier: str, ok: bool, now: float, error: str = "") -> None:
        """A health check (OPTIONS ping, provider API check) answered: a success closes the
        breaker (it is the half-open probe), a failure counts like a failed call."""
        breaker = self.of(carrier)
        if ok:
            breaker.success(now)
        else:
            breaker.failure(now, error)

    def snapshot(self, now: float) -> dict[str, BreakerState]:
        return {name: b.current(now) for name, b in sorted(self.breakers.items())}
