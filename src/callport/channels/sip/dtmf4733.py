"""RFC 4733 telephone-event payloads: decode with end-packet de-duplication, encode digits;
and the key a SIP INFO body carries (``info_digit``), the other way a SIP peer sends keys.

Payload (§2.3): event (8 bits), E (end) bit, R bit, volume (6 bits), duration (16 bits,
timestamp units). One event keeps one RTP timestamp; the end packet is sent three times.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

EVENTS = "0123456789*#ABCD"
_PAYLOAD = struct.Struct("!BBH")


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    digit: str
    duration: int  # samples
    timestamp: int


def digit_code(digit: str) -> int:
    code = EVENTS.find(digit.upper())
    if len(digit) != 1 or code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return code


class DtmfDecoder:
    """Reports each event once, when its first end packet arrives (§2.5.1.4)."""

    def __init__(self) -> None:
        self._done: list[int] = []  # timestamps of finished events (small ring)
        self._started: int | None = None

    def feed(self, payload: bytes, timestamp: int) -> DtmfEvent | None:
        if len(payload) < 4:
            return None
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        if event >= len(EVENTS):
            return None  # tones/flash etc.: not DTMF
        if timestamp in self._done:
            return None  # retransmitted end packet or late update of a finished event
        if not flags & 0x80:
            self._started = timestamp
            return None
        self._done.append(timestamp)
        del self._done[:-16]
        self._started = None
        return DtmfEvent(EVENTS[event], duration, timestamp)


def encode_event(digit: str, *, duration_ms: int = 100, packet_ms: int = 20,
                 volume: int = 10, rate: int = 8000) -> list[bytes]:
    """Payloads for one digit: updates every ``packet_ms``, then the end packet three times."""
    code = digit_code(digit)
    step = rate * packet_ms // 1000
    total = max(step, rate * duration_ms // 1000)
    out: list[bytes] = []
    elapsed = step
    while elapsed < total:
        out.append(_PAYLOAD.pack(code, volume & 0x3F, elapsed))
        elapsed += step
    end = _PAYLOAD.pack(code, 0x80 | (volume & 0x3F), min(total, 0xFFFF))
    out.extend([end, end, end])
    return out


_INFO_SIGNALS = {"10": "*", "11": "#", "12": "A", "13": "B", "14": "C", "15": "D"}
_INFO_DIGITS = frozenset(EVENTS)


def info_digit(content_type: str, body: bytes) -> str:
    """The key a SIP INFO carries (the de-facto formats; RFC 6086 leaves them to packages):
    ``application/dtmf-relay`` (``Signal=5`` and ``Duration=160`` lines; some phones send
    ``10``/``11`` for ``*``/``#``) or ``application/dtmf`` (the digit alone). Anything else,
    or an unknown key, is no digit ("")."""
    media = content_type.split(";", 1)[0].strip().lower()
    text = body[:256].decode("latin-1").strip()
    if media == "application/dtmf-relay":
        for line in text.splitlines():
            name, sep, value = line.partition("=")
            if sep and name.strip().lower() == "signal":
                text = value.strip()
                break
        else:
            return ""
    elif media != "application/dtmf":
        return ""
    key = _INFO_SIGNALS.get(text, text.upper())
    return key if len(key) == 1 and key in _INFO_DIGITS else ""
