"""Rate tables: longest-prefix match, increments, minimums and connection fees, CSV decks."""

from __future__ import annotations

from decimal import Decimal

import pytest

from callport.routing.rates import Rate, RateError, RateTable, parse_rates_csv

DECK = """\
prefix,destination,rate,increment,minimum,connection_fee,currency
1,USA/Canada,0.0100,6,30,0,USD
1212,New York,0.0080,1,1,0.002,usd
44,United Kingdom,0.0200,60,60,,
4420,London,0.0150,60,,,
"""


def test_longest_prefix_wins() -> None:
    table = parse_rates_csv(DECK)
    assert len(table) == 4
    rate = table.lookup("+1 212 555 0100")
    assert rate is not None and rate.prefix == "1212" and rate.description == "New York"
    rate = table.lookup("+13125550100")
    assert rate is not None and rate.prefix == "1"
    rate = table.lookup("tel:+442071234567")
    assert rate is not None and rate.prefix == "4420"
    assert table.lookup("+33123456789") is None


def test_increments_minimums_and_fees() -> None:
    rate = Rate(prefix="1", per_minute=Decimal("0.01"), increment_s=6, minimum_s=30)
    assert rate.billable_seconds(0) == 0  # unanswered: nothing billed
    assert rate.billable_seconds(1) == 30  # the minimum
    assert rate.billable_seconds(31) == 36  # rounded up to the increment
    assert rate.billable_seconds(36) == 36  # already on a step
    assert rate.cost(36) == Decimal("0.006")
    ny = parse_rates_csv(DECK).lookup("+12125550100")
    assert ny is not None and ny.currency == "USD" and ny.minimum_s == 1
    assert ny.cost(61) == Decimal("0.002") + Decimal("0.0080") * 61 / 60
    london = parse_rates_csv(DECK).lookup("+442071234567")
    assert london is not None and london.minimum_s == 60  # minimum defaults to the increment
    assert london.cost(61) == Decimal("0.0300")  # two whole minutes
    assert london.cost(0) == Decimal(0)


def test_exact_money() -> None:
    rate = Rate(prefix="1", per_minute=Decimal("0.1"), increment_s=1, minimum_s=1)
    assert rate.cost(30) + rate.cost(30) == rate.cost(60) == Decimal("0.1")


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty rate table"),
    ("prefix,increment\n1,6\n", "per_minute"),
    ("prefix,rate\nabc,0.1\n", "no digits"),
    ("prefix,rate\n1,cheap\n", "not a number"),
    ("prefix,rate\n1,-0.1\n", ">= 0"),
    ("prefix,rate,increment\n1,0.1,0\n", "at least 1"),
    ("prefix,rate,currency\n1,0.1,dollars\n", "ISO 4217"),
])
def test_bad_decks_name_the_line(text: str, message: str) -> None:
    with pytest.raises(RateError, match=message):
        parse_rates_csv(text, source="deck.csv")


def test_comments_bom_and_later_rows_win() -> None:
    table = parse_rates_csv("\ufeff# a carrier deck\nPrefix,Per_Minute\n44,0.02\n44,0.03\n")
    rate = table.lookup("+447700900000")
    assert rate is not None and rate.per_minute == Decimal("0.03")
    assert RateTable(rates=[]).lookup("+1") is None
