"""Rate tables: what a carrier charges per number prefix, and what a call of a given length costs.

A ``Rate`` is one row of a carrier's published deck: the number prefix it covers (digits of
the E.164 number, no ``+``), the price per minute, the billing increment and minimum (seconds,
"60/6" means a 60 s minimum then 6 s steps), a connection fee charged once per answered call,
and the currency. ``RateTable.lookup`` is the longest-prefix match.

CSV columns (a header row is required; names are case-insensitive, extra columns ignored):

``prefix``            digits, ``+`` and spaces allowed (``+44 20``, ``4420``)
``per_minute``        price per minute (aliases ``rate``, ``price``)
``increment``         billing increment in seconds, default 60 (alias ``increment_s``)
``minimum``           minimum billed seconds, default = increment (aliases ``minimum_s``,
                      ``initial``)
``connection_fee``    once per answered call, default 0 (aliases ``connection``, ``setup``)
``currency``          ISO 4217 code, default USD
``description``       free text (alias ``destination``)

Money is ``Decimal`` throughout, so equal prices compare equal and costs add up exactly.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["Rate", "RateError", "RateTable", "digits", "parse_rates_csv"]


class RateError(ValueError):
    """A rate table is malformed (the message names the line and column)."""


def digits(number: str) -> str:
    """``+1 (212) 555-0100`` -> ``12125550100``; ``tel:`` prefixes are dropped."""
    text = number.removeprefix("tel:")
    return "".join(ch for ch in text if ch.isdigit())


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    prefix: str  # digits only
    per_minute: Decimal
    increment_s: int = 60
    minimum_s: int = 60
    connection_fee: Decimal = Decimal(0)
    currency: str = "USD"
    description: str = ""

    def billable_seconds(self, duration_s: float) -> int:
        """Seconds billed for an answered call of ``duration_s``: rounded up to the increment,
        at least the minimum; an unanswered call (0 s) bills nothing."""
        if duration_s <= 0:
            return 0
        billed = math.ceil(duration_s / self.increment_s - 1e-9) * self.increment_s
        return max(billed, self.minimum_s)

    def cost(self, duration_s: float) -> Decimal:
        """Connection fee plus the billable seconds at ``per_minute``; 0 when unanswered."""
        seconds = self.billable_seconds(duration_s)
        if seconds == 0:
            return Decimal(0)
        return self.connection_fee + self.per_minute * Decimal(seconds) / Decimal(60)


class RateTable:
    """One carrier's rates; ``lookup(number)`` picks the longest matching prefix."""

    def __init__(self, *, rates: tuple[Rate, ...] | list[Rate]) -> None:
        self._by_prefix: dict[str, Rate] = {}
        for rate in rates:
            self._by_prefix[rate.prefix] = rate  # a later row for the same prefix wins
        self._lengths = sorted({len(p) for p in self._by_prefix}, reverse=True)

    def __len__(self) -> int:
        return len(self._by_prefix)

    def lookup(self, number: str) -> Rate | None:
        number = digits(number)
        for n in self._lengths:
            if n <= len(number):
                rate = self._by_prefix.get(number[:n])
                if rate is not None:
                    return rate
        return None


_ALIASES = {
    "prefix": "prefix", "per_minute": "per_minute", "rate": "per_minute", "price": "per_minute",
    "increment": "increment", "increment_s": "increment", "minimum": "minimum",
    "minimum_s": "minimum", "initial": "minimum", "connection_fee": "connection_fee",
    "connection": "connection_fee", "setup": "connection_fee", "currency": "currency",
    "description": "description", "destination": "description",
}


def _money(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text.strip() or "0")
    except InvalidOperation:
        raise RateError(f"{where}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise RateError(f"{where}: {text!r} must be a number >= 0")
    return value


def _seconds(text: str, default: int, where: str) -> int:
    if not text.strip():
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise RateError(f"{where}: {text!r} is not a whole number of seconds") from None
    if value < 1:
        raise RateError(f"{where}: {text!r} must be at least 1 second")
    return value


def parse_rates_csv(text: str, *, source: str = "rates") -> RateTable:
    """A ``RateTable`` from CSV text (columns in the module docstring); ``RateError`` names
    the first bad line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header: list[str] | None = None
    rates: list[Rate] = []
    for lineno, row in enumerate(reader, start=1):
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [_ALIASES.get(cell.strip().lower(), "") for cell in row]
            missing = {"prefix", "per_minute"} - set(header)
            if missing:
                raise RateError(f"{source}:{lineno}: the header needs columns "
                                f"{', '.join(sorted(missing))} (see callport.routing.rates)")
            continue
        cells = {name: row[i] if i < len(row) else "" for i, name in enumerate(header) if name}
        where = f"{source}:{lineno}"
        prefix = digits(cells["prefix"])
        if not prefix:
            raise RateError(f"{where}: prefix {cells['prefix']!r} has no digits")
        increment = _seconds(cells.get("increment", ""), 60, f"{where} increment")
        currency = cells.get("currency", "").strip().upper() or "USD"
        if len(currency) != 3 or not currency.isalpha():
            raise RateError(f"{where}: currency {currency!r} is not an ISO 4217 code")
        rates.append(Rate(
            prefix=prefix,
            per_minute=_money(cells["per_minute"], f"{where} per_minute"),
            increment_s=increment,
            minimum_s=_seconds(cells.get("minimum", ""), increment, f"{where} minimum"),
            connection_fee=_money(cells.get("connection_fee", ""), f"{where} connection_fee"),
            currency=currency,
            description=cells.get("description", "").strip(),
        ))
    if header is None:
        raise RateError(f"{source}: empty rate table (need a header row and rates)")
    return RateTable(rates=rates)
