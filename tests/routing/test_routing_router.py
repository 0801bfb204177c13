"""Least-cost ranking and the Router (a Dialer over carrier dialers) in simulated time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from callport.call.dial import Answered, DialCause, DialFailed, DialOptions, DialResult
from callport.routing.causes import judge
from callport.routing.health import HealthBoard
from callport.routing.rank import Carrier, parse_pin, rank
from callport.routing.rates import parse_rates_csv
from callport.routing.router import RouteOutcome, Router, failure_of
from callport.routing.rules import CallRate, OutboundRules

A = parse_rates_csv("prefix,rate,increment,minimum\n1,0.010,60,60\n44,0.030,60,60\n")
B = parse_rates_csv("prefix,rate,increment,minimum\n1,0.008,60,60\n1212,0.012,1,1\n")
C = parse_rates_csv("prefix,rate,increment,minimum,connection_fee\n1,0.009,6,6,0.01\n")


def carriers() -> list[Carrier]:
    return [Carrier(name="a", kind="sip", rates=A), Carrier(name="b", kind="sip", rates=B),
            Carrier(name="c", kind="twilio", rates=C)]


def test_cheapest_first_with_increments_minimums_and_fees() -> None:
    choices = rank("+13125550100", carriers(), health=HealthBoard(), now=0.0, expected_s=60)
    assert [c.carrier for c in choices] == ["b", "a", "c"]  # c: 0.009 + 0.01 fee
    assert [c.cost for c in choices] == [Decimal("0.008"), Decimal("0.010"), Decimal("0.019")]
    # New York on b: per-second 0.012/min beats a's minute at 0.010 for 10 s calls
    short = rank("+12125550100", carriers(), health=HealthBoard(), now=0.0, expected_s=10)
    assert short[0].carrier == "b" and short[0].cost == Decimal("0.002")
    long = rank("+12125550100", carriers(), health=HealthBoard(), now=0.0, expected_s=120)
    assert [c.carrier for c in long] == ["a", "b", "c"]  # 0.020, 0.024, 0.018 + 0.01 fee


def test_ties_keep_the_configured_order_and_unpriced_go_last() -> None:
    same = parse_rates_csv("prefix,rate\n1,0.01\n")
    listed = [Carrier(name="z", kind="sip"), Carrier(name="y", kind="sip", rates=same),
              Carrier(name="x", kind="sip", rates=same)]
    choices = rank("+13125550100", listed, health=HealthBoard(), now=0.0, expected_s=60)
    assert [c.carrier for c in choices] == ["y", "x", "z"]
    assert choices[2].cost is None and choices[2].usable


def test_skips_say_why() -> None:
    health = HealthBoard(failures=1, open_s=60)
    health.of("b").failure(0.0, "sip 503")
    limited = [Carrier(name="a", kind="sip", rates=A, max_calls=2),
               Carrier(name="b", kind="sip", rates=B),
               Carrier(name="c", kind="twilio", rates=C, cps=1)]
    rate = CallRate(limits={"c": 1})
    rate.take("c", 0.5)
    choices = rank("+13125550100", limited, health=health, now=1.0, expected_s=60,
                   active={"a": 2}, rate=rate)
    skips = {c.carrier: c.skip for c in choices}
    assert skips["a"] == "full (2/2 calls)"
    assert skips["b"] == "unhealthy (open: sip 503)"
    assert skips["c"] == "calls-per-second limit (1/s)"
    french = rank("+33123456789", carriers(), health=HealthBoard(), now=0, expected_s=60)
    assert all(c.skip == "no rate for +33123456789" for c in french)


def test_pins_and_via() -> None:
    pins = [parse_pin("+1=c"), parse_pin("+1212=a,c")]
    choices = rank("+12125550100", carriers(), health=HealthBoard(), now=0, expected_s=60,
                   pins=pins)
    assert [c.carrier for c in choices] == ["a", "c", "b"]  # the longest pin, its order
    assert choices[0].pinned and not choices[2].pinned
    via = rank("+13125550100", carriers(), health=HealthBoard(), now=0, expected_s=60, via="c")
    assert via[0].carrier == "c" and via[0].usable
    assert all(c.skip.startswith("not the --via") for c in via[1:])


@dataclass(slots=True)
class Scripted:
    """A carrier dialer answering from a script (one result per dial)."""

    name: str
    script: list[DialResult]
    dialled: list[tuple[str, str]] = field(default_factory=list)

    async def dial(self, target: str, caller_id: str = "",
                   options: DialOptions | None = None) -> DialResult:
        self.dialled.append((target, caller_id))
        return self.script.pop(0)


def answered(name: str) -> Answered:
    return Answered(carrier=name, call_id=f"call-{name}")


def failed(name: str, cause: DialCause, sip: int = 0, http: int = 0,
           early: bool = False) -> DialFailed:
    return DialFailed(carrier=name, cause=cause, sip_status=sip, http_status=http,
                      early_media=early)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def router(dialers: dict[str, Scripted], **kw: object) -> tuple[Router, list[RouteOutcome]]:
    seen: list[RouteOutcome] = []
    r = Router(carriers=carriers(), dialers=dialers, clock=kw.pop("clock", Clock()),  # type: ignore[arg-type]
               wallclock=lambda: datetime(2026, 1, 6, 15, tzinfo=UTC),
               on_outcome=seen.append, expected_s=60, **kw)  # type: ignore[arg-type]
    return r, seen


async def test_503_fails_over_to_the_next_cheapest() -> None:
    b = Scripted("b", [failed("b", DialCause.CARRIER_ERROR, sip=503)])
    a = Scripted("a", [answered("a")])
    r, seen = router({"a": a, "b": b, "c": Scripted("c", [])})
    result = await r.dial("+13125550100", "+15550001")
    assert isinstance(result, Answered) and result.carrier == "a"
    assert b.dialled == a.dialled == [("+13125550100", "+15550001")]
    outcome = seen[0]
    assert [(t.carrier, t.outcome, t.failed_over) for t in outcome.attempts] == [
        ("b", "failed", True), ("a", "answered", False)]
    assert outcome.attempts[0].cause == "sip 503"
    assert outcome.rate is not None and outcome.rate.per_minute == Decimal("0.010")
    assert r.active() == {"a": 1}
    r.call_ended("call-a")
    assert r.active() == {}


async def test_busy_is_final() -> None:
    b = Scripted("b", [failed("b", DialCause.BUSY, sip=486)])
    a = Scripted("a", [answered("a")])
    r, seen = router({"a": a, "b": b})
    result = await r.dial("+13125550100")
    assert isinstance(result, DialFailed) and result.cause is DialCause.BUSY
    assert a.dialled == [] and seen[0].disposition == "busy"
    assert r.health.of("b").consecutive == 0  # the carrier did its job


async def test_early_media_then_failure_is_final() -> None:
    b = Scripted("b", [failed("b", DialCause.CARRIER_ERROR, sip=503, early=True)])
    a = Scripted("a", [answered("a")])
    r, seen = router({"a": a, "b": b})
    assert isinstance(await r.dial("+13125550100"), DialFailed)
    assert a.dialled == [] and len(seen[0].attempts) == 1


async def test_http_500_and_timeout_walk_the_whole_list() -> None:
    b = Scripted("b", [failed("b", DialCause.CARRIER_ERROR, http=500)])
    a = Scripted("a", [failed("a", DialCause.TIMEOUT)])
    c = Scripted("c", [answered("c")])
    r, seen = router({"a": a, "b": b, "c": c})
    result = await r.dial("+13125550100")
    assert isinstance(result, Answered) and result.carrier == "c"
    assert [t.cause for t in seen[0].attempts] == ["http 500", "timeout", ""]


async def test_breaker_opens_skips_then_probes_in_simulated_time() -> None:
    clock = Clock()
    b = Scripted("b", [failed("b", DialCause.CARRIER_ERROR, sip=503), answered("b")])
    a = Scripted("a", [answered("a"), answered("a")])
    r, _ = router({"a": a, "b": b}, clock=clock, health=HealthBoard(failures=1, open_s=30))
    await r.dial("+13125550100")  # b fails (opens), a answers
    clock.now = 10.0
    await r.dial("+13125550100")
    assert len(b.dialled) == 1 and len(a.dialled) == 2  # b skipped while open
    explained = {c.carrier: c for c in r.explain("+13125550100")}
    assert explained["b"].skip.startswith("unhealthy (open")
    clock.now = 31.0  # half-open: this call is b's probe, and it answers
    result = await r.dial("+13125550100")
    assert isinstance(result, Answered) and result.carrier == "b"
    assert r.health.of("b").current(31.0) == "closed"


async def test_rules_refuse_before_any_dial() -> None:
    a = Scripted("a", [answered("a")])
    rules = OutboundRules(dnc=frozenset({"13125550100"}))
    r, seen = router({"a": a}, rules=rules)
    result = await r.dial("+13125550100")
    assert isinstance(result, DialFailed) and result.provider_code == "dnc"
    assert "do-not-call" in result.detail and a.dialled == []
    assert seen[0].disposition == "refused"
    r2, _ = router({"a": a}, cps=1)
    await r2.dial("+13135550100")
    again = await r2.dial("+13135550100")
    assert isinstance(again, DialFailed) and again.provider_code == "cps"
    none = await r2.dial("+33123456789", via="")
    assert isinstance(none, DialFailed)


async def test_no_route_names_every_skip() -> None:
    r, _ = router({"a": Scripted("a", [])})
    result = await r.dial("+33123456789")
    assert isinstance(result, DialFailed) and result.provider_code == "no-route"
    assert "a: no rate for +33123456789" in result.detail
    unknown = await r.dial("+13125550100", via="nope")
    assert isinstance(unknown, DialFailed) and "no carrier named 'nope'" in unknown.detail


@pytest.mark.parametrize(("failed", "fail_over", "disposition"), [
    (DialFailed(carrier="a", cause=DialCause.CARRIER_ERROR, sip_status=503), True, "failed"),
    (DialFailed(carrier="a", cause=DialCause.BUSY, sip_status=486), False, "busy"),
    (DialFailed(carrier="a", cause=DialCause.CARRIER_ERROR, http_status=500), True, "failed"),
    (DialFailed(carrier="a", cause=DialCause.TIMEOUT), True, "failed"),
    (DialFailed(carrier="a", cause=DialCause.UNREACHABLE), True, "failed"),
    (DialFailed(carrier="a", cause=DialCause.NOT_CONFIGURED), True, "failed"),
    (DialFailed(carrier="a", cause=DialCause.AUTH_ERROR), True, "failed"),
    (DialFailed(carrier="a", cause=DialCause.BUSY), False, "busy"),
    (DialFailed(carrier="a", cause=DialCause.NO_ANSWER), False, "no-answer"),
    (DialFailed(carrier="a", cause=DialCause.REJECTED), False, "declined"),
    (DialFailed(carrier="a", cause=DialCause.BAD_TARGET), False, "invalid-number"),
    (DialFailed(carrier="a", cause=DialCause.CARRIER_ERROR, sip_status=503,
                early_media=True), False, "failed"),
])
def test_dial_failures_map_onto_the_verdicts(failed: DialFailed, fail_over: bool,
                                             disposition: str) -> None:
    verdict = judge(failure_of(failed))
    assert (verdict.fail_over, verdict.disposition) == (fail_over, disposition)
