"""Outbound rules: do-not-call, calling hours in the callee's zone, calls per second."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callport.routing.rules import CallRate, OutboundRules, parse_hours
from callport.routing.zones import zone_of


def test_zones_from_the_number() -> None:
    assert zone_of("+12125550100") == "America/New_York"
    assert zone_of("+14155550100") == "America/Los_Angeles"
    assert zone_of("+16045550100") == "America/Vancouver"
    assert zone_of("+442071234567") == "Europe/London"
    assert zone_of("+35318000000") == "Europe/Dublin"  # 353 before 35/3
    assert zone_of("+19995550100") is None  # an area code not in the table
    assert zone_of("+99912345") is None


def test_do_not_call() -> None:
    rules = OutboundRules(dnc=OutboundRules.dnc_from(["# list", "+1 (212) 555-0100", ""]))
    refused = rules.check("+12125550100", now=datetime(2026, 1, 5, 15, tzinfo=UTC))
    assert refused is not None and refused.rule == "dnc"
    assert "do-not-call" in refused.reason
    assert rules.check("+12125550101", now=datetime(2026, 1, 5, 15, tzinfo=UTC)) is None


def test_calling_hours_in_the_callees_zone() -> None:
    rules = OutboundRules(hours=parse_hours("08:00-21:00"))
    # 02:00 UTC on 6 Jan is 21:00 in New York (EST, UTC-5) and 18:00 in Los Angeles
    at = datetime(2026, 1, 6, 2, 0, tzinfo=UTC)
    refused = rules.check("+12125550100", now=at)
    assert refused is not None and refused.rule == "hours"
    assert "21:00 in America/New_York" in refused.reason
    assert rules.check("+14155550100", now=at) is None
    # 13:00 UTC: 08:00 in New York (allowed), 05:00 in Los Angeles (not)
    at = datetime(2026, 1, 6, 13, 0, tzinfo=UTC)
    assert rules.check("+12125550100", now=at) is None
    assert rules.check("+14155550100", now=at) is not None
    # summer time: 12:00 UTC in July is 08:00 EDT
    assert rules.check("+12125550100", now=datetime(2026, 7, 6, 12, tzinfo=UTC)) is None


def test_unknown_zone_and_overnight_hours() -> None:
    at = datetime(2026, 1, 6, 12, tzinfo=UTC)
    refused = OutboundRules(hours=parse_hours("08:00-21:00")).check("+19995550100", now=at)
    assert refused is not None and "unknown" in refused.reason
    allow = OutboundRules(hours=parse_hours("08:00-21:00"), hours_unknown="allow")
    assert allow.check("+19995550100", now=at) is None
    night = OutboundRules(hours=parse_hours("22:00-06:00"))
    assert night.check("+442071234567", now=datetime(2026, 1, 6, 23, tzinfo=UTC)) is None
    assert night.check("+442071234567", now=at) is not None
    with pytest.raises(ValueError):
        parse_hours("8 to 9")
    assert parse_hours("") is None


def test_calls_per_second_window() -> None:
    rate = CallRate(limits={"*": 2, "a": 1})
    assert rate.allows("*", 0.0)
    rate.take("*", 0.0)
    rate.take("*", 0.5)
    assert not rate.allows("*", 0.9)
    assert rate.allows("*", 1.0)  # the first start left the window
    rate.take("a", 0.0)
    assert not rate.allows("a", 0.5) and rate.allows("a", 1.0)
    assert rate.allows("unlimited", 0.0)
