"""One JSON loader for every edge a peer can reach: bounded length, depth and numbers. Pure.

``json.loads`` on peer input has three ways out that are not ``JSONDecodeError``: deep
nesting (``[[[[...``) raises ``RecursionError``, an integer past Python's digit limit raises
a plain ``ValueError``, and ``NaN``/``Infinity`` are accepted although JSON has no such
values. ``loads`` turns every one of them into ``JsonRejected`` (a ``ValueError``, so older
``except ValueError`` call sites still catch it), and refuses before parsing:

- text longer than ``max_length`` characters (bytes are decoded as UTF-8 first);
- nesting deeper than ``max_depth`` (counted over brackets outside strings);
- an integer literal with more than ``max_int_digits`` digits, a float that is not finite.

``JsonRejected.reason`` is a short, safe sentence for a 400 answer or a counter label: it
never echoes the input.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["DEFAULT_MAX_DEPTH", "DEFAULT_MAX_INT_DIGITS", "DEFAULT_MAX_LENGTH", "JsonRejected",
           "loads", "loads_object"]

DEFAULT_MAX_DEPTH = 32
DEFAULT_MAX_INT_DIGITS = 32  # 10**32: more than any id, counter or amount a peer sends us
DEFAULT_MAX_LENGTH = 1 << 20

# A JSON string literal (escapes included): brackets inside one are not nesting.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


class JsonRejected(ValueError):
    """The text is not JSON we accept; ``reason`` says why without quoting it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _depth(text: str) -> int:
    """The deepest bracket nesting of ``text`` outside string literals."""
    deepest = depth = 0
    for match in _BRACKETS.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads(
    data: str | bytes | bytearray,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_int_digits: int = DEFAULT_MAX_INT_DIGITS,
) -> Any:
    """Parse ``data`` like ``json.loads`` within the bounds; ``JsonRejected`` otherwise."""
    if isinstance(data, bytes | bytearray):
        if len(data) > max_length * 4:
            raise JsonRejected(f"longer than {max_length} characters")
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRejected("malformed JSON: not UTF-8") from None
    else:
        text = data
    if len(text) > max_length:
        raise JsonRejected(f"longer than {max_length} characters")
    # Cheap first: few brackets cannot nest deeply (every media frame takes this path).
    if text.count("[") + text.count("{") > max_depth and _depth(text) > max_depth:
        raise JsonRejected(f"nested deeper than {max_depth} levels")

    def parse_int(literal: str) -> int:
        if len(literal.lstrip("-")) > max_int_digits:
            raise JsonRejected(f"an integer longer than {max_int_digits} digits")
        return int(literal)

    # The default bounds (every media frame) reuse one decoder: json.loads with hooks builds
    # a new decoder and scanner per call, most of this function's cost on a 20 ms frame.
    decoder = (_DEFAULT_DECODER if max_int_digits == DEFAULT_MAX_INT_DIGITS else
               json.JSONDecoder(parse_int=parse_int, parse_float=_parse_float,
                                parse_constant=_parse_constant))
    try:
        return decoder.decode(text)
    except JsonRejected:
        raise
    except json.JSONDecodeError as exc:
        raise JsonRejected(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                           ) from None
    except RecursionError:  # belt and braces: the depth check should have caught it
        raise JsonRejected(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonRejected(f"malformed JSON ({type(exc).__name__})") from None


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JsonRejected("a number out of range")
    return value


def _parse_constant(name: str) -> Any:
    raise JsonRejected(f"{name} is not JSON")


def _parse_default_int(literal: str) -> int:
    if len(literal.lstrip("-")) > DEFAULT_MAX_INT_DIGITS:
        raise JsonRejected(f"an integer longer than {DEFAULT_MAX_INT_DIGITS} digits")
    return int(literal)


_DEFAULT_DECODER = json.JSONDecoder(parse_int=_parse_default_int, parse_float=_parse_float,
                                    parse_constant=_parse_constant)


def loads_object(data: str | bytes | bytearray, **bounds: int) -> dict[str, Any]:
    """``loads`` that also insists on a JSON object at the top."""
    value = loads(data, **bounds)
    if not isinstance(value, dict):
        raise JsonRejected("expected a JSON object")
    return value
