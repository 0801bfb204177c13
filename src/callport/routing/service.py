"""``RoutingService``: the configured router (``[routing]``, ``[sip.trunks.NAME]``) and what
it writes on call records.

``RoutingService.build(settings, dialers, calls, clock)`` loads the rate decks and the
do-not-call file, builds the ``Carrier`` list (``max_calls`` from the carrier table, else the
trunk's) and a ``Router`` over the carrier dialers given (names as in
``[routing.carriers.NAME]``). A carrier named in the configuration but without a dialer here
(its channel is not running) stays in the ranking and is skipped ("no dialer").

Records: when a routed call fails, its record (the dialer's own, or a new one when nothing was
dialled or the dialer made none) gets the carrier, every attempt with its cause and the
disposition, and is ended. An answered call's route is kept until ``finished(call_id)`` (the
runtime calls it when the call ends): then carrier, attempts, disposition ``answered``,
billable seconds and cost (from the carrier's rate and the answered duration) are written.

``health_lines`` and ``render_metrics`` show each carrier's breaker; ``probe`` feeds health
checks (SIP OPTIONS pings, provider API checks) into the breakers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from callport.call.dial import Answered, Dialer, DialFailed, Placed
from callport.config import ConfigError, Settings
from callport.routing.failed import attempts_of, record_failure
from callport.routing.health import HealthBoard
from callport.routing.rank import Carrier, Choice, parse_pin
from callport.routing.rates import RateError, RateTable, parse_rates_csv
from callport.routing.router import RouteOutcome, Router
from callport.routing.rules import OutboundRules, parse_hours
from callport.store.calls import CallStore
from callport.store.tasks import local_now

__all__ = ["RoutingService", "load_carriers"]

log = logging.getLogger(__name__)


def load_carriers(settings: Settings) -> list[Carrier]:
    """The ``[routing.carriers.NAME]`` carriers with their rate decks (``ConfigError`` for a
    deck that does not load or a name that is no carrier)."""
    trunks = {t.name: t for t in settings.sip.trunks}
    out = []
    for route in settings.routing.carriers:
        if route.name in ("twilio", "telnyx", "sip"):
            kind = route.name
        elif route.name in trunks:
            kind = "sip"
        else:
            raise ConfigError(f"routing.carriers.{route.name}: no such carrier (use twilio, "
                              "telnyx, sip or a [sip.trunks.NAME] name)")
        rates: RateTable | None = None
        if route.rates:
            try:
                rates = parse_rates_csv(Path(route.rates).read_text(encoding="utf-8"),
                                        source=route.rates)
            except OSError as exc:
                raise ConfigError(f"routing.carriers.{route.name}.rates: cannot read "
                                  f"{route.rates}: {exc.strerror}") from None
            except RateError as exc:
                raise ConfigError(f"routing.carriers.{route.name}.rates: {exc}") from None
        trunk = trunks.get(route.name)
        max_calls = route.max_calls or (trunk.max_calls if trunk else 0)
        caller_id = route.caller_id or (trunk.caller_id if trunk else "")
        out.append(Carrier(name=route.name, kind=kind, rates=rates, max_calls=max_calls,
                           cps=route.cps, caller_id=caller_id))
    return out


def _rules(settings: Settings) -> OutboundRules:
    r = settings.routing
    lines = list(r.dnc)
    if r.dnc_file:
        try:
            lines += Path(r.dnc_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"routing.dnc_file: cannot read {r.dnc_file}: "
                              f"{exc.strerror}") from None
    return OutboundRules(dnc=OutboundRules.dnc_from(lines), hours=parse_hours(r.calling_hours),
                         hours_unknown=r.hours_unknown)


@dataclass(slots=True)
class _Live:
    outcome: RouteOutcome
    answered: float | None = None  # router clock at the answer (None: placed, not answered)


class RoutingService:
    """The router, its health board, and the call-record side of routing."""

    def __init__(self, *, router: Router, calls: CallStore | None,
                 now: Callable[[], datetime] = local_now) -> None:
        self.router = router
        self.calls = calls
        self._now = now
        self._live: dict[str, _Live] = {}
        router.on_outcome = self._record

    @classmethod
    def build(cls, settings: Settings, *, dialers: Mapping[str, Dialer],
              calls: CallStore | None, clock: Callable[[], float]) -> RoutingService:
        r = settings.routing
        router = Router(
            carriers=load_carriers(settings), dialers=dialers,
            health=HealthBoard(failures=r.breaker_failures, open_s=r.breaker_open_s),
            rules=_rules(settings), cps=r.cps, pins=[parse_pin(p) for p in r.routes],
            expected_s=r.expected_duration_s, max_attempts=r.max_attempts, clock=clock)
        return cls(router=router, calls=calls)

    @property
    def health(self) -> HealthBoard:
        return self.router.health

    def explain(self, target: str, *, via: str = "",
                available: Collection[str] | None = None) -> list[Choice]:
        """The ranked choices; a carrier with no dialer here (not in ``available``, by
        default the router's dialers) is skipped as not running."""
        known = self.router.dialers if available is None else available
        choices = self.router.explain(target, via=via)
        usable = [c for c in choices if c.skip or c.carrier in known]
        missing = [_skipped(c, "not configured or not running here") for c in choices
                   if not c.skip and c.carrier not in known]
        return usable[:len([c for c in usable if not c.skip])] + missing + [
            c for c in usable if c.skip]

    def probe(self, carrier: str, ok: bool, error: str = "") -> None:
        """A health check answered (``ok``) or failed."""
        self.router.health.probe_result(carrier, ok, self.router.clock(), error)

    # ---------------------------------------------------------------- records

    async def _record(self, outcome: RouteOutcome) -> None:
        result = outcome.result
        if isinstance(result, Answered | Placed):
            answered = self.router.clock() if isinstance(result, Answered) else None
            self._live[result.call_id] = _Live(outcome, answered)
            await self._amend(result.call_id, outcome, disposition="")
            return
        assert isinstance(result, DialFailed)
        if self.calls is None:
            return
        kind = next((c.kind for c in self.router.carriers if c.name == result.carrier),
                    "routing")
        await record_failure(self.calls, outcome, channel=kind, now=self._now)

    async def _amend(self, call_id: str, outcome: RouteOutcome, *, disposition: str) -> None:
        if self.calls is None:
            return
        await self.calls.amend(call_id, carrier=outcome.carrier, attempts=attempts_of(outcome),
                               disposition=disposition or None)

    async def finished(self, call_id: str) -> None:
        """A routed call ended: its carrier has one call less, and its record gets the
        disposition and price (billable seconds of the answered duration at the rate)."""
        self.router.call_ended(call_id)
        live = self._live.pop(call_id, None)
        if live is None or self.calls is None:
            return
        record = await self.calls.get(call_id)
        if record is None:
            return
        await self._amend(call_id, live.outcome, disposition="")  # a record made after dial
        rate = live.outcome.rate
        answered = record.answered_at is not None or live.answered is not None
        duration = record.duration_s  # the stored times have whole seconds: measure it too
        if live.answered is not None:
            duration = max(duration, self.router.clock() - live.answered)
        await self.calls.amend(
            call_id, disposition=record.disposition or ("answered" if answered else None),
            billable_s=rate.billable_seconds(duration) if rate else None,
            cost=rate.cost(duration) if rate else None,
            currency=rate.currency if rate else None)

    # ---------------------------------------------------------------- health

    def health_lines(self) -> list[str]:
        now = self.router.clock()
        out = []
        for carrier in self.router.carriers:
            b = self.router.health.of(carrier.name)
            state = b.current(now)
            extra = f" ({b.last_error})" if b.last_error and state != "closed" else ""
            dialer = "" if carrier.name in self.router.dialers else ", not running here"
            out.append(f"{carrier.name} [{carrier.kind}]: {state}{extra}{dialer}")
        return out

    def render_metrics(self) -> str:
        """``callport_carrier_up{carrier=...}`` (1 closed, 0.5 half-open, 0 open)."""
        now = self.router.clock()
        lines = ["# HELP callport_carrier_up Carrier health: 1 closed breaker, 0.5 half-open, "
                 "0 open", "# TYPE callport_carrier_up gauge"]
        value = {"closed": "1", "half-open": "0.5", "open": "0"}
        for carrier in self.router.carriers:
            state = self.router.health.of(carrier.name).current(now)
            lines.append(f'callport_carrier_up{{carrier="{carrier.name}"}} {value[state]}')
        return "\n".join(lines) + "\n"


def _skipped(choice: Choice, why: str) -> Choice:
    from dataclasses import replace

    return replace(choice, skip=why)
