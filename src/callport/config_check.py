"""Checks ``load_settings`` runs on every setting: numeric ranges and unknown variables.

Every numeric setting has an allowed range here (``RANGES``; a test keeps it complete), so a
value such as ``CALLPORT_TURN_END_OF_TURN_MS=-5`` is refused at start with the range to use
instead of making a call spin. ``CALLPORT_*`` variables that name no setting are refused
with the nearest real name (``CALLPORT_PORTT`` -> ``CALLPORT_PORT``); the few that are not
settings are listed in ``NOT_SETTINGS``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

# CALLPORT_* variables that are not settings: where the configuration file is, and the
# test suite's switches (CALLPORT_TEST_* are all reserved for tests).
NOT_SETTINGS = frozenset({
    "CALLPORT_CONFIG",
    "CALLPORT_UPDATE_SCREENSHOT",
    "CALLPORT_LOGIN_SCREENSHOT",
})
TEST_PREFIX = "CALLPORT_TEST_"

DAY = 24 * 3600

# "section.field": (lowest, highest) allowed, both inclusive.
RANGES: dict[str, tuple[float, float]] = {
    "server.port": (0, 65535),
    "server.shutdown_grace_s": (0.1, 60),
    "server.node_ttl_s": (1, 600),  # a node silent this long is lost (server.ownership)
    "limits.body_bytes": (1024, 1 << 30),
    "limits.body_timeout_s": (0.5, 3600),
    "limits.header_timeout_s": (0.5, 600),
    "limits.keepalive_s": (1, 3600),
    "limits.ws_max_bytes": (4096, 1 << 26),
    "limits.ws_admission_s": (0.5, 120),
    "limits.rtc_connect_s": (1, 300),
    "limits.rate_per_s": (0, 100000),  # 0: no limiter
    "limits.rate_burst": (1, 1000000),
    "limits.rate_sources": (100, 10000000),
    "limits.stale_call_s": (60, 30 * DAY),
    "identity.pin_attempts": (1, 10),
    "identity.pin_timeout_s": (0.1, 600),
    "identity.session_ttl_s": (1, 365 * DAY),
    "identity.signin_ttl_s": (1, 30 * DAY),
    "recording.retention_days": (0, 3650),  # 0: kept until erased
    "speech.whisper_threads": (1, 64),
    "speech.stt_workers": (1, 64),
    "speech.stt_batch": (1, 64),
    "speech.whisper_window_s": (5, 30),  # shorter windows lose words (bench/README.md)
    "speech.tts_threads": (1, 64),
    "turn.start_threshold": (0.01, 0.99),
    "turn.stop_threshold": (0.01, 0.99),
    "turn.min_speech_ms": (0, 5000),
    "turn.end_of_turn_ms": (50, 10000),
    "turn.barge_in_ms": (0, 5000),
    "turn.end_lookback_ms": (0, 1000),
    "twilio.token_ttl_s": (1, DAY),
    "telnyx.token_ttl_s": (1, DAY),
    "sip.port": (0, 65535),
    "sip.rtp_port_min": (1024, 65535),
    "sip.rtp_port_max": (1024, 65535),
    "sip.max_calls": (1, 100000),
    "sip.max_calls_per_source": (1, 100000),  # no 0: there is no "unlimited"
    "sip.media_timeout_s": (0.1, 3600),
    "sip.answer_delay_ms": (0, 60000),
    "sip.target_timeout_s": (0.1, 120),
    "sip.register_expires_s": (1, DAY),
    "sip.held_timeout_s": (1, DAY),
    "sip.session_expires_s": (0, DAY),  # 0: no session timers
    "sip.min_se_s": (90, DAY),  # RFC 4028 §4: never below 90
    "sip.rate_per_s": (0, 100000),  # 0: no limiter
    "sip.rate_burst": (1, 1000000),
    "sip.rate_sources": (100, 10000000),
    "server.max_call_s": (0, 7 * DAY),  # 0: no limit
    "server.max_conversations": (0, 100000),  # 0: automatic
    "server.backlog_age_s": (0, 600),  # 0: the backlog is not checked
    "server.busy_retry_after_s": (1, 86400),
    "sip.registrar_min_expires_s": (1, DAY),
    "sip.registrar_max_expires_s": (1, 7 * DAY),
    "browser.token_ttl_s": (1, DAY),
    "browser.lead_ms": (20, 2000),
    "browser.max_calls": (1, 100000),
    "browser.max_calls_per_user": (1, 100000),
    "agent.connect_timeout_s": (0.1, 120),
    "agent.reply_timeout_s": (0.1, 600),
    "routing.expected_duration_s": (1, DAY),
    "routing.max_attempts": (1, 10),
    "routing.ring_timeout_s": (1, 600),
    "routing.cps": (0, 10000),
    "routing.breaker_failures": (1, 1000),
    "routing.breaker_open_s": (0.1, DAY),
    "routing.check_interval_s": (0, DAY),
    "routing.amd_beep_timeout_s": (1, 300),
    "queues.ring_timeout_s": (1, 600),  # [queues] and every [queues.NAME]
    "queues.wrap_up_s": (0, 3600),
    "queues.max_wait_s": (0, DAY),  # 0: wait for ever
    "queues.announce_every_s": (0, 3600),  # 0: never
    "queues.expected_handle_s": (1, DAY),
    "queues.choose_s": (1, 120),
    "recording.answer_s": (0.5, 120),
    "recording.stay_s": (0, 120),
}


def env_name(section: str, name: str) -> str:
    """The environment variable of ``section.name`` (server fields have no section part)."""
    prefix = "CALLPORT_" if section == "server" else f"CALLPORT_{section.upper()}_"
    return prefix + name.upper()


def _fmt(x: float) -> str:
    return f"{x:g}"


def range_problems(section: str, values: Any, sources: Mapping[str, str],
                   own: Iterable[str] = ()) -> list[str]:
    """The problems of one section: out-of-range numeric fields, named as the user wrote them
    (``sources``: field -> the TOML key or variable it came from), then the section's ``own``
    checks that are not about a field already reported out of range."""
    out = []
    ranged: list[str] = []
    for f in dataclasses.fields(values):
        value = getattr(values, f.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        key = f"{section}.{f.name}"
        lo, hi = RANGES.get(key, (0, float("inf")))
        if lo <= value <= hi:
            continue
        ranged.append(key)
        where = sources.get(f.name, key)
        allowed = f"at least {_fmt(lo)}" if hi == float("inf") else f"{_fmt(lo)}-{_fmt(hi)}"
        out.append(f"{where}={_fmt(value)}: out of range, use {allowed}")
    out.extend(p for p in own if not any(p.startswith((f"{k}=", f"{k}:")) for k in ranged))
    return out


def unknown_variables(env: Mapping[str, str], known: Iterable[str]) -> list[str]:
    """``CALLPORT_*`` variables that are no setting, each with the nearest real name."""
    names = sorted(set(known) | NOT_SETTINGS)
    out = []
    for var in sorted(env):
        if not var.startswith("CALLPORT_") or var in names or var.startswith(TEST_PREFIX):
            continue
        near = difflib.get_close_matches(var, names, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]}?" if near else "see docs/configuration.md"
        out.append(f"{var}: no such setting; {hint} (unset it)")
    return out
