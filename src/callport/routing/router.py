"""``Router``: least-cost routing with failover, itself a ``callport.call.dial.Dialer``.

``dial(target, caller_id, options, via=...)``:

1. the outbound rules (``rules.OutboundRules``: do-not-call, calling hours in the callee's
   zone) and the global calls-per-second limit are checked; a refusal is a ``DialFailed``
   (carrier ``routing``, cause ``rejected``, ``provider_code`` the rule) and nothing is dialled;
2. the carriers are ranked (``rank.rank``: price for ``expected_s``, health, load, pins);
3. each usable carrier is tried in turn, claiming its breaker (a half-open one lets this call
   be its probe). An answer (or a placed call) closes the breaker and ends the search; a
   failure is judged (``causes.judge``): carrier trouble counts against its breaker and moves
   on to the next carrier, the callee's answer (busy, declined, no answer) or anything after
   ringing/early media ends the search: nobody is rung twice.

Every attempt is kept as an ``Attempt`` (carrier, outcome, cause); ``last`` holds the route
taken by the latest call (``RouteOutcome``) and ``on_outcome`` is told each one, so the
composition root can write carrier, attempts, disposition and price onto the call record.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callport.call.dial import (
    Answered,
    DialCause,
    Dialer,
    DialFailed,
    DialOptions,
    DialResult,
    Placed,
)
from callport.routing.causes import Failure, Verdict, judge
from callport.routing.health import HealthBoard
from callport.routing.rank import Carrier, Choice, Pin, rank
from callport.routing.rates import Rate
from callport.routing.rules import CallRate, OutboundRules

__all__ = ["Attempt", "RouteOutcome", "Router", "failure_of"]

log = logging.getLogger(__name__)

GLOBAL = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    carrier: str
    outcome: str  # answered, placed, failed
    cause: str = ""  # the failure as judged ("sip 503 Service Unavailable")
    failed_over: bool = False


@dataclass(slots=True, kw_only=True)
class RouteOutcome:
    target: str
    result: DialResult
    attempts: list[Attempt] = field(default_factory=list)
    rate: Rate | None = None  # the rate of the carrier that carried the call
    disposition: str = ""  # answered, placed, busy, no-answer, refused, failed, ...

    @property
    def carrier(self) -> str:
        return self.result.carrier


_CAUSE_STATUS = {DialCause.BUSY: 486, DialCause.REJECTED: 603, DialCause.BAD_TARGET: 404}


def failure_of(failed: DialFailed) -> Failure:
    """A dialer's typed failure as the neutral ``causes.Failure`` that ``judge`` reads."""
    alerted = failed.early_media
    reason = failed.detail
    if failed.sip_status:
        return Failure(kind="sip", status=failed.sip_status, reason=reason, alerted=alerted)
    if failed.http_status:
        return Failure(kind="http", status=failed.http_status, reason=reason, alerted=alerted)
    match failed.cause:
        case DialCause.TIMEOUT:
            return Failure(kind="timeout", reason=reason, alerted=alerted)
        case DialCause.UNREACHABLE | DialCause.NOT_CONFIGURED:
            return Failure(kind="connection", reason=reason, alerted=alerted)
        case DialCause.NO_ANSWER:
            return Failure(kind="no-answer", reason=reason, alerted=alerted)
        case DialCause.CANCELED:
            return Failure(kind="canceled", reason=reason, alerted=alerted)
        case DialCause.AUTH_ERROR:
            return Failure(kind="http", status=401, reason=reason, alerted=alerted)
        case DialCause.CARRIER_ERROR:
            return Failure(kind="http", status=500, reason=reason, alerted=alerted)
        case _:
            status = _CAUSE_STATUS.get(failed.cause, 0)
            return Failure(kind="sip", status=status, reason=reason or failed.cause.value,
                           alerted=alerted)


class Router:
    """Least-cost routing with failover over named carrier dialers (module docstring)."""

    name = "routing"

    def __init__(
        self,
        *,
        carriers: Sequence[Carrier],
        dialers: Mapping[str, Dialer],
        health: HealthBoard | None = None,
        rules: OutboundRules | None = None,
        cps: float = 0.0,
        pins: Sequence[Pin] = (),
        expected_s: float = 120.0,
        max_attempts: int = 3,
        clock: Callable[[], float],
        wallclock: Callable[[], datetime] = lambda: datetime.now(UTC),
        active: Callable[[], Mapping[str, int]] | None = None,
        on_outcome: Callable[[RouteOutcome], object] | None = None,
    ) -> None:
        self.carriers = list(carriers)
        self.dialers = dict(dialers)
        self.health = health or HealthBoard()
        self.rules = rules or OutboundRules()
        limits = {c.name: c.cps for c in self.carriers if c.cps > 0}
        if cps > 0:
            limits[GLOBAL] = cps
        self.rate = CallRate(limits=limits)
        self.pins = list(pins)
        self.expected_s = expected_s
        self.max_attempts = max_attempts
        self.clock = clock
        self.wallclock = wallclock
        self._active = active
        self.live: dict[str, str] = {}  # call_id -> carrier, for calls this router placed
        self.on_outcome = on_outcome
        self.last: RouteOutcome | None = None

    # ---------------------------------------------------------------- load

    def active(self) -> Mapping[str, int]:
        if self._active is not None:
            return self._active()
        counts: dict[str, int] = {}
        for carrier in self.live.values():
            counts[carrier] = counts.get(carrier, 0) + 1
        return counts

    def call_ended(self, call_id: str) -> None:
        """A call this router placed is over: its carrier has one call less."""
        self.live.pop(call_id, None)

    # ---------------------------------------------------------------- explain

    def explain(self, target: str, *, via: str = "") -> list[Choice]:
        """The ranked choices for ``target`` now, skipped ones last with their reason."""
        return rank(target, self.carriers, health=self.health, now=self.clock(),
                    expected_s=self.expected_s, active=self.active(), rate=self.rate,
                    pins=self.pins, via=via)

    def refusal(self, target: str) -> str:
        """Why the rules refuse ``target`` now ("" when they do not)."""
        refused = self.rules.check(target, now=self.wallclock())
        return f"{refused.rule}: {refused.reason}" if refused else ""

    # ---------------------------------------------------------------- dial

    async def dial(
        self, target: str, caller_id: str = "", options: DialOptions | None = None,
        *, via: str = "",
    ) -> DialResult:
        """Route ``target`` (module docstring); never raises for what carriers did."""
        outcome = await self._dial(target, caller_id, options, via)
        self.last = outcome
        if self.on_outcome is not None:
            try:
                pending = self.on_outcome(outcome)
                if inspect.isawaitable(pending):
                    await pending
            except Exception:
                log.exception("routing: recording the route of %s failed", target)
        return outcome.result

    def _refused(self, target: str, rule: str, reason: str) -> RouteOutcome:
        log.info("routing: %s refused (%s): %s", target, rule, reason)
        failed = DialFailed(carrier=self.name, cause=DialCause.REJECTED, detail=reason,
                            provider_code=rule)
        return RouteOutcome(target=target, result=failed, disposition="refused")

    async def _dial(self, target: str, caller_id: str, options: DialOptions | None,
                    via: str) -> RouteOutcome:
        refused = self.rules.check(target, now=self.wallclock())
        if refused is not None:
            return self._refused(target, refused.rule, refused.reason)
        if via and via not in self.dialers:
            return self._refused(target, "no-route", f"no carrier named {via!r} "
                                 f"(known: {', '.join(sorted(self.dialers)) or 'none'})")
        now = self.clock()
        if not self.rate.allows(GLOBAL, now):
            return self._refused(target, "cps", f"global calls-per-second limit "
                                 f"({self.rate.limits[GLOBAL]:g}/s) reached; try again")
        self.rate.take(GLOBAL, now)
        choices = self.explain(target, via=via)
        usable = [c for c in choices if c.usable and c.carrier in self.dialers]
        if not usable:
            why = "; ".join(f"{c.carrier}: {c.skip or 'no dialer'}" for c in choices)
            return self._refused(target, "no-route", f"no usable carrier for {target}"
                                 + (f" ({why})" if why else ""))
        attempts: list[Attempt] = []
        last: DialFailed | None = None
        verdict: Verdict | None = None
        for choice in usable[: max(self.max_attempts, 1)]:
            breaker = self.health.of(choice.carrier)
            now = self.clock()
            if not breaker.acquire(now):
                continue  # its half-open probe was taken meanwhile
            self.rate.take(choice.carrier, now)
            dialer = self.dialers[choice.carrier]
            carrier = next(c for c in self.carriers if c.name == choice.carrier)
            try:
                result = await dialer.dial(target, caller_id or carrier.caller_id, options)
            except Exception as exc:  # a dialer must not raise; treat it as carrier trouble
                log.exception("routing: %s raised while dialling", choice.carrier)
                result = DialFailed(carrier=choice.carrier, cause=DialCause.CARRIER_ERROR,
                                    detail=repr(exc))
            if isinstance(result, Answered | Placed):
                breaker.success(self.clock())
                attempts.append(Attempt(carrier=choice.carrier,
                                        outcome="answered" if isinstance(result, Answered)
                                        else "placed"))
                self.live[result.call_id] = choice.carrier
                return RouteOutcome(target=target, result=result, attempts=attempts,
                                    rate=choice.rate, disposition=attempts[-1].outcome)
            verdict = judge(failure_of(result))
            last = result
            if verdict.carrier_trouble:
                breaker.failure(self.clock(), verdict.cause)
            else:
                breaker.success(self.clock())  # it reached the callee: the carrier works
            attempts.append(Attempt(carrier=choice.carrier, outcome="failed",
                                    cause=verdict.cause, failed_over=verdict.fail_over))
            log.info("routing: %s via %s failed (%s)%s", target, choice.carrier,
                     verdict.cause, ", trying the next carrier" if verdict.fail_over else "")
            if not verdict.fail_over:
                break
        if last is None:
            return self._refused(target, "no-route", f"no usable carrier for {target}")
        assert verdict is not None
        return RouteOutcome(target=target, result=last, attempts=attempts,
                            disposition=verdict.disposition)
