"""Admission by capacity (pure core, simulated time): may one more conversation start?

The embedded speech stack (Whisper, Piper) answers only so many talking callers at once;
past that every caller waits longer for every reply, and a caller who hears nothing hangs
up. So a new call is admitted only while both hold:

* fewer conversations are active than ``server.max_conversations`` (0: automatic: the CPU
  count times :data:`CONVERSATIONS_PER_CORE`, :func:`auto_max_conversations`, and, once
  the speech engines have run, no more than their measured cost leaves room for,
  :func:`capacity_from_cost`);
* the speech backlog's oldest job has waited less than ``server.backlog_age_s`` (the
  measured sign of overload, whatever the configured number says).

Once the backlog made the machine saturated, it stays so until the backlog is back under
half the limit and ``hold_s`` has passed (no flapping at the edge). The driver
(``callport.server.capacity``) feeds :meth:`Admission.decide` the live figures; channels
refuse before answering where they can (SIP 503 + Retry-After, Twilio/Telnyx HTTP 503,
the browser's busy message) and readiness reports false while saturated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BUSY_PHRASE", "CONVERSATIONS_PER_CORE", "TURN_CYCLE_S", "UTILIZATION", "Admission",
           "Load", "Verdict", "auto_max_conversations", "capacity_from_cost"]

BUSY_PHRASE = "Sorry, all our lines are busy right now. Please call again later. Goodbye."
# Talking callers one core answers within the reply-time target with Whisper tiny.en and
# Piper (bench/bench_conversations.py on the 2-core dev box, bench/README.md).
CONVERSATIONS_PER_CORE = 5


# A talking caller's turn cycle: speaking (~2 s), the reply (~2-3 s), a pause (~1 s): one
# utterance to transcribe and one reply to synthesize per cycle (bench_conversations.py).
TURN_CYCLE_S = 6.0
# The share of the speech workers' time conversations may fill: a queue past about half
# busy makes the slowest replies wait several decodes (M/D/1: at 0.5 the mean wait is half
# a decode, at 0.8 two).
UTILIZATION = 0.5


def capacity_from_cost(turn_cost_s: float, *, cycle_s: float = TURN_CYCLE_S,
                       utilization: float = UTILIZATION) -> int | None:
    """Talking conversations the speech workers answer in time when one turn costs them
    ``turn_cost_s`` (measured: seconds of STT plus TTS work per turn); None before any
    was measured."""
    if turn_cost_s <= 0:
        return None
    return max(1, math.floor(utilization * cycle_s / turn_cost_s))


def auto_max_conversations(cpu_count: int | None, *,
                           per_core: float = CONVERSATIONS_PER_CORE) -> int:
    """The automatic ``server.max_conversations``: cores x measured conversations per core."""
    cores = cpu_count if cpu_count and cpu_count > 0 else 1
    return max(1, math.floor(cores * per_core))


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    """What the machine is doing now: conversations and the speech backlog."""

    active: int  # conversations in progress
    queued: int = 0  # speech jobs waiting for a worker
    oldest_s: float = 0.0  # how long the oldest of them has waited


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    admit: bool
    reason: str  # "ok", "max-conversations", "backlog", "draining" (server.drain)
    retry_after_s: int = 0  # what to tell the caller's side (SIP/HTTP Retry-After)


class Admission:
    """Decides from :class:`Load` against the capacity settings; holds the saturation."""

    def __init__(self, *, max_conversations: int, backlog_age_s: float,
                 hold_s: float = 5.0, retry_after_s: int = 30) -> None:
        if max_conversations < 1:
            raise ValueError("max_conversations must be >= 1")
        self.max_conversations = max_conversations
        self.backlog_age_s = backlog_age_s  # 0: the backlog is not checked
        self._hold_s = hold_s
        self.retry_after_s = retry_after_s
        self._backlogged_since: float | None = None  # when the backlog last went past
        self.refused = 0

    def saturated(self, load: Load, *, now: float) -> str:
        """Why no new conversation fits now ("" when one does)."""
        limit = self.backlog_age_s
        if limit > 0:
            if load.oldest_s >= limit:
                self._backlogged_since = now
            elif self._backlogged_since is not None and (
                    load.oldest_s < limit / 2 and now - self._backlogged_since >= self._hold_s):
                self._backlogged_since = None
        if self._backlogged_since is not None:
            return "backlog"
        if load.active >= self.max_conversations:
            return "max-conversations"
        return ""

    def decide(self, load: Load, *, now: float) -> Verdict:
        """Admit one more conversation, or refuse it (counted in :attr:`refused`)."""
        reason = self.saturated(load, now=now)
        if not reason:
            return Verdict(admit=True, reason="ok")
        self.refused += 1
        return Verdict(admit=False, reason=reason, retry_after_s=self.retry_after_s)
