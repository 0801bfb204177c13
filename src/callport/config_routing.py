"""Settings for carriers and outbound routing: ``[sip.trunks.NAME]`` and ``[routing]`` with
``[routing.carriers.NAME]`` (see docs/configuration.md, "Routing").

Named tables become tuples of frozen dataclasses whose ``name`` is the table's key; they are
read from the TOML file only (no environment variables).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time


@dataclass(frozen=True, slots=True, kw_only=True)
class SipTrunk:
    """``[sip.trunks.NAME]``: one more SIP trunk outbound calls may use (a routing carrier)."""

    name: str
    address: str = ""  # host[:port]; a name is resolved by RFC 3263 (SRV, then A)
    transport: str = ""  # udp, tcp, or "" (RFC 3263 probing)
    username: str = ""  # digest credentials answered on 401/407
    password: str = ""
    caller_id: str = ""  # the From user part (our number on this trunk)
    max_calls: int = 0  # concurrent calls this trunk takes; 0: no limit of ours
    options_ping_s: float = 30.0  # SIP OPTIONS health check interval; 0: no pings

    def problems(self, key: str) -> list[str]:
        out = []
        if not self.address:
            out.append(f"{key}.address: required (host[:port])")
        else:
            host, _, port = self.address.rpartition(":")
            if port and host and not (port.isdigit() and 0 < int(port) < 65536):
                out.append(f"{key}.address={self.address!r}: use host[:port]")
        if self.transport.lower() not in ("", "udp", "tcp"):
            out.append(f"{key}.transport={self.transport!r}: use udp, tcp or empty")
        if self.max_calls < 0:
            out.append(f"{key}.max_calls: must be >= 0")
        if self.options_ping_s < 0:
            out.append(f"{key}.options_ping_s: must be >= 0")
        if not self.name.replace("-", "").replace("_", "").isalnum():
            out.append(f"{key}: trunk names use letters, digits, - and _")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CarrierRoute:
    """``[routing.carriers.NAME]``: a carrier routing may use. NAME is ``twilio``, ``telnyx``,
    ``sip`` (the ``[sip]`` trunk) or a ``[sip.trunks.NAME]`` trunk."""

    name: str
    rates: str = ""  # CSV rate deck (callport.routing.rates); empty: any number, price unknown
    cps: float = 0.0  # calls started per second on this carrier; 0: no limit
    max_calls: int = 0  # concurrent calls; 0: the trunk's max_calls (or no limit)
    caller_id: str = ""  # our number on this carrier; empty: the carrier's default

    def problems(self, key: str) -> list[str]:
        out = []
        if self.cps < 0 or self.max_calls < 0:
            out.append(f"{key}: cps and max_calls must be >= 0")
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingSettings:
    """``[routing]``: least-cost routing with failover, health and outbound rules."""

    carriers: tuple[CarrierRoute, ...] = ()  # [routing.carriers.NAME]; empty: no routing
    routes: tuple[str, ...] = ()  # pins: "+44=trunk-b,twilio" (longest prefix wins)
    expected_duration_s: float = 120.0  # the call length prices are compared for
    max_attempts: int = 3  # carriers tried for one call at most
    ring_timeout_s: float = 30.0  # how long a callee may ring
    cps: float = 0.0  # calls started per second over all carriers; 0: no limit
    dnc: tuple[str, ...] = ()  # numbers never called
    dnc_file: str = ""  # more of them, one a line (# comments)
    calling_hours: str = ""  # "08:00-21:00" in the callee's zone; empty: any time
    hours_unknown: str = "refuse"  # callee zone unknown while calling_hours is set: or allow
    breaker_failures: int = 3  # consecutive carrier failures that open its breaker
    breaker_open_s: float = 60.0  # how long an open breaker waits before a probe
    check_interval_s: float = 60.0  # provider API health checks (Twilio, Telnyx); 0: none
    # answering-machine detection on answered outbound calls (callport.flows.amd):
    amd: str = "off"  # off, hangup, leave-message, continue
    amd_message: str = ""  # leave-message: what is said after the beep
    amd_beep_timeout_s: float = 20.0  # after a machine verdict: longest wait for the beep

    def problems(self) -> list[str]:
        out = []
        names = [c.name for c in self.carriers]
        for pin in self.routes:
            prefix, sep, listed = pin.partition("=")
            carriers = [n.strip() for n in listed.split(",") if n.strip()]
            if not sep or not carriers or not any(ch.isdigit() for ch in prefix):
                out.append(f"routing.routes: {pin!r}: use +PREFIX=carrier[,carrier...]")
                continue
            for name in carriers:
                if name not in names:
                    out.append(f"routing.routes: {pin!r} names {name!r}, not a "
                               "[routing.carriers.NAME]")
        if self.calling_hours and not _hours_ok(self.calling_hours):
            out.append(f"routing.calling_hours={self.calling_hours!r}: use HH:MM-HH:MM")
        if self.hours_unknown not in ("refuse", "allow"):
            out.append(f"routing.hours_unknown={self.hours_unknown!r}: use refuse or allow")
        if self.max_attempts < 1:
            out.append("routing.max_attempts: must be >= 1")
        if self.breaker_failures < 1:
            out.append("routing.breaker_failures: must be >= 1")
        if self.amd not in AMD_POLICIES:
            out.append(f"routing.amd={self.amd!r}: use {', '.join(AMD_POLICIES)}")
        if self.amd == "leave-message" and not self.amd_message.strip():
            out.append("routing.amd_message: required when routing.amd is leave-message")
        return out


AMD_POLICIES = ("off", "hangup", "leave-message", "continue")


def _hours_ok(text: str) -> bool:
    start, sep, end = text.partition("-")
    try:
        time.fromisoformat(start.strip())
        time.fromisoformat(end.strip())
    except ValueError:
        return False
    return bool(sep)
