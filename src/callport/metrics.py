"""Process metrics in Prometheus text format (no client library needed).

A ground-floor module: the call core, channels and the server all count into one ``Metrics``,
so it depends on nothing of callport's. ``callport.server.metrics`` re-exports it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0)
JITTER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)
LOSS_BUCKETS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
RTT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


@dataclass(slots=True)
class Counter:
    name: str
    help: str
    value: float = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def render(self) -> list[str]:
        return [
            f"# HELP {self.name} {self.help}",
            f"# TYPE {self.name} counter",
            f"{self.name} {self.value:g}",
        ]


@dataclass(slots=True)
class Gauge:
    name: str
    help: str
    value: float = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def render(self) -> list[str]:
        return [
            f"# HELP {self.name} {self.help}",
            f"# TYPE {self.name} gauge",
            f"{self.name} {self.value:g}",
        ]


@dataclass(slots=True)
class Histogram:
    name: str
    help: str
    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, n in zip(self.buckets, self.counts, strict=False):
            running += n
            lines.append(f'{self.name}_bucket{{le="{bound:g}"}} {running}')
        lines.append(f'{self.name}_bucket{{le="+Inf"}} {self.count}')
        lines.append(f"{self.name}_sum {self.total:g}")
        lines.append(f"{self.name}_count {self.count}")
        return lines


@dataclass(slots=True)
class Metrics:
    active_calls: Gauge = field(
        default_factory=lambda: Gauge("callport_active_calls", "Calls in progress.")
    )
    calls_total: Counter = field(
        default_factory=lambda: Counter("callport_calls_total", "Calls started.")
    )
    frames_in: Counter = field(
        default_factory=lambda: Counter("callport_frames_in_total", "Caller audio frames received.")
    )
    frames_out: Counter = field(
        default_factory=lambda: Counter("callport_frames_out_total", "Agent audio frames sent.")
    )
    barge_ins: Counter = field(
        default_factory=lambda: Counter("callport_barge_ins_total", "Caller barge-ins.")
    )
    vad_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_vad_seconds", "VAD scoring time per batch (all calls of one tick)."
        )
    )
    vad_batch_size: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_vad_batch_size",
            "Calls scored together per VAD inference (one per 32 ms tick).", BATCH_BUCKETS)
    )
    turn_latency_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_turn_latency_seconds", "End of caller speech to first reply audio."
        )
    )
    stt_seconds: Histogram = field(
        default_factory=lambda: Histogram("callport_stt_seconds", "Speech-to-text time per turn.")
    )
    # SIP media quality from RTCP (RFC 3550 §6.4): what we measure on the RTP we receive
    # (observed per report we send) and what the peer reports about the RTP we send.
    sip_rtcp_jitter_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_sip_rtcp_jitter_seconds",
            "Interarrival jitter of received SIP RTP, per RTCP report sent.", JITTER_BUCKETS)
    )
    sip_rtcp_fraction_lost: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_sip_rtcp_fraction_lost",
            "Fraction of received SIP RTP lost since the last report (0-1).", LOSS_BUCKETS)
    )
    sip_rtp_lost: Counter = field(
        default_factory=lambda: Counter(
            "callport_sip_rtp_lost_total", "Received SIP RTP packets lost (RTCP cumulative).")
    )
    sip_rtcp_remote_jitter_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_sip_rtcp_remote_jitter_seconds",
            "Jitter the SIP peer reports on the RTP we send.", JITTER_BUCKETS)
    )
    sip_rtcp_remote_fraction_lost: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_sip_rtcp_remote_fraction_lost",
            "Fraction lost the SIP peer reports on the RTP we send (0-1).", LOSS_BUCKETS)
    )
    # Hostile input (issue 20): what the SIP driver refused to carry.
    sip_rtp_dropped: Counter = field(
        default_factory=lambda: Counter(
            "callport_sip_rtp_dropped_total",
            "RTP dropped: from a source the SDP did not name, oversized, or past the bounded "
            "inbound queue.")
    )
    sip_dropped_messages: Counter = field(
        default_factory=lambda: Counter(
            "callport_sip_dropped_messages_total",
            "SIP messages dropped unanswered: over sip.rate_per_s from one source.")
    )
    sip_malformed: Counter = field(
        default_factory=lambda: Counter(
            "callport_sip_malformed_total",
            "SIP messages that did not parse (answered 400 when possible) and bad TCP frames.")
    )
    sip_source_capped: Counter = field(
        default_factory=lambda: Counter(
            "callport_sip_source_capped_total",
            "INVITEs answered 503: their source IP already had sip.max_calls_per_source calls.")
    )
    browser_user_capped: Counter = field(
        default_factory=lambda: Counter(
            "callport_browser_user_capped_total",
            "Browser calls refused: their user already had browser.max_calls_per_user calls.")
    )
    sip_rtt_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_sip_rtt_seconds",
            "Round-trip time from RTCP reports echoing our SR (LSR/DLSR).", RTT_BUCKETS)
    )
    # The process heap (``callport.server.heap``): collector pauses stop the event loop.
    gc_pause_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "callport_gc_pause_seconds",
            "Python garbage collection pauses (each stops the event loop).", GC_BUCKETS)
    )
    gc_frozen_objects: Gauge = field(
        default_factory=lambda: Gauge(
            "callport_gc_frozen_objects",
            "Objects of the loaded server moved out of the collector's sight at start.")
    )

    def render(self) -> str:
        lines: list[str] = []
        for metric in (
            self.active_calls,
            self.calls_total,
            self.frames_in,
            self.frames_out,
            self.barge_ins,
            self.vad_seconds,
            self.vad_batch_size,
            self.turn_latency_seconds,
            self.stt_seconds,
            self.sip_rtcp_jitter_seconds,
            self.sip_rtcp_fraction_lost,
            self.sip_rtp_lost,
            self.sip_rtcp_remote_jitter_seconds,
            self.sip_rtcp_remote_fraction_lost,
            self.sip_rtt_seconds,
            self.sip_rtp_dropped,
            self.sip_dropped_messages,
            self.sip_malformed,
            self.sip_source_capped,
            self.browser_user_capped,
            self.gc_pause_seconds,
            self.gc_frozen_objects,
        ):
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"
