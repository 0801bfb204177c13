"""Least-cost ranking: which carriers may carry a call to a number, cheapest first, and why
each other one is skipped. Pure: health, load and the clock come in as arguments.

For each carrier, in order:

- ``--via`` names one carrier: every other one is skipped ("not the --via carrier");
- a carrier with a rate table must have a rate for the number (longest prefix); one without a
  table serves any number at an unknown price;
- an open breaker (or a half-open one whose probe is out) is skipped as unhealthy, a carrier
  at ``max_calls`` live calls as full, one past its calls-per-second as rate-limited.

The usable carriers are ordered: pinned ones first (the longest ``routing.routes`` prefix that
matches, in the order it names them), then by the cost of a call of ``expected_s`` seconds
(connection fee, increments and minimum included), priced before unpriced; equal costs keep
the configured carrier order. Prices in different currencies are compared as numbers (keep
one currency across tables).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from callport.routing.health import BreakerState, HealthBoard
from callport.routing.rates import Rate, RateTable, digits
from callport.routing.rules import CallRate

__all__ = ["Carrier", "Choice", "Pin", "parse_pin", "rank"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Carrier:
    name: str
    kind: str  # twilio, telnyx, sip
    rates: RateTable | None = None
    max_calls: int = 0  # live calls at once; 0: unlimited
    cps: float = 0.0  # calls started per second; 0: unlimited
    caller_id: str = ""


@dataclass(frozen=True, slots=True)
class Pin:
    prefix: str  # digits
    carriers: tuple[str, ...]


def parse_pin(text: str) -> Pin:
    """``"+44=trunk-b,twilio"`` -> Pin("44", ("trunk-b", "twilio")); ``ValueError`` if bad."""
    prefix, sep, names = text.partition("=")
    carriers = tuple(n.strip() for n in names.split(",") if n.strip())
    if not sep or not carriers:
        raise ValueError(f"route {text!r}: use +PREFIX=carrier[,carrier...]")
    return Pin(digits(prefix), carriers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    carrier: str
    kind: str
    rate: Rate | None
    cost: Decimal | None  # for the expected duration; None: no rate table
    health: BreakerState
    active: int
    pinned: bool = False
    skip: str = ""  # why it will not be tried; empty: usable

    @property
    def usable(self) -> bool:
        return not self.skip


def _pin_for(number: str, pins: Sequence[Pin]) -> Pin | None:
    d = digits(number)
    best: Pin | None = None
    for pin in pins:
        if d.startswith(pin.prefix) and (best is None or len(pin.prefix) > len(best.prefix)):
            best = pin
    return best


def rank(
    number: str,
    carriers: Sequence[Carrier],
    *,
    health: HealthBoard,
    now: float,
    expected_s: float,
    active: Mapping[str, int] | None = None,
    rate: CallRate | None = None,
    pins: Sequence[Pin] = (),
    via: str = "",
) -> list[Choice]:
    """Every carrier as a ``Choice``: the usable ones in the order to try, then the skipped."""
    active = active or {}
    pin = None if via else _pin_for(number, pins)
    pinned = pin.carriers if pin else ()
    choices: list[tuple[tuple[int, int, Decimal, int], Choice]] = []
    for order, carrier in enumerate(carriers):
        breaker = health.of(carrier.name)
        found = carrier.rates.lookup(number) if carrier.rates is not None else None
        cost = found.cost(expected_s) if found is not None else None
        live = active.get(carrier.name, 0)
        skip = ""
        if via and carrier.name != via:
            skip = f"not the --via carrier ({via})"
        elif carrier.rates is not None and found is None:
            skip = f"no rate for +{digits(number)}"
        elif not breaker.allows(now):
            state = breaker.current(now)
            detail = f": {breaker.last_error}" if breaker.last_error else ""
            skip = f"unhealthy ({state}{detail})"
        elif carrier.max_calls and live >= carrier.max_calls:
            skip = f"full ({live}/{carrier.max_calls} calls)"
        elif rate is not None and not rate.allows(carrier.name, now):
            skip = f"calls-per-second limit ({carrier.cps:g}/s)"
        is_pinned = carrier.name in pinned
        choice = Choice(carrier=carrier.name, kind=carrier.kind, rate=found, cost=cost,
                        health=breaker.current(now), active=live, pinned=is_pinned, skip=skip)
        key = (
            1 if skip else 0,
            pinned.index(carrier.name) if is_pinned else len(pinned),
            cost if cost is not None else Decimal("Infinity"),
            order,
        )
        choices.append((key, choice))
    return [choice for _, choice in sorted(choices, key=lambda kc: kc[0])]
