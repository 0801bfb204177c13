"""Admission by capacity on the live runtime: the load, the verdict, and what it shows.

The decisions are :mod:`callport.server.admission` (pure); this module reads the live
figures (``runtime.active``, the speech pools of :mod:`callport.speech.jobs`), builds the
runtime's :class:`~callport.server.admission.Admission` from ``server.max_conversations``
and ``server.backlog_age_s``, and renders the speech backlog for ``/metrics``.

Channels ask :func:`refusal` before they answer (SIP 503 with Retry-After, Twilio/Telnyx
HTTP 503, the browser's busy message); a call that reaches ``callrun.run_call`` anyway (a
provider stream already on its way, the memory leg) hears :data:`BUSY_PHRASE` and is hung
up (cause ``busy``): no caller past capacity is left in silence.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from callport.server.admission import (
    BUSY_PHRASE,
    Admission,
    Load,
    Verdict,
    auto_max_conversations,
    capacity_from_cost,
)
from callport.speech.jobs import speech_backlog

if TYPE_CHECKING:
    from callport.server.runtime import Runtime

__all__ = ["BUSY_CAUSE", "BUSY_PHRASE", "DRAINING", "admission_of", "backlog_lines", "current_load",
           "fixed_phrases", "max_conversations", "refusal", "saturated"]

BUSY_CAUSE = "busy"  # the hang-up cause of a caller turned away at capacity
DRAINING = "draining"  # the refusal's reason while the node is in drain mode
NO_LIMIT = 1_000_000  # max_conversations when neither the setting nor the embedded stack caps


def fixed_phrases() -> tuple[str, ...]:
    """What every call (or every turned-away caller) hears: cached once synthesized."""
    from callport.flows.default import GOODBYE, GREETING, SORRY

    return (GREETING, BUSY_PHRASE, SORRY, GOODBYE)


def _embedded(runtime: Runtime) -> bool:
    """The runtime transcribes with the embedded Whisper (the cost auto was measured on);
    a runtime whose flows never made an STT (an echo flow, a relay agent) is not capped."""
    return type(getattr(runtime, "_stt", None)).__name__ == "WhisperSTT"


def turn_cost_s() -> float:
    """Seconds of speech work one conversation turn costs now: the STT and TTS workers'
    measured seconds per job (0 until they have run). A reply is a few TTS jobs (clauses)
    but cached phrases cost none, so one TTS job a turn is counted."""
    pools = speech_backlog()
    return sum(pools[name].service_s for name in ("stt", "tts") if name in pools)


def max_conversations(runtime: Runtime) -> int:
    """``server.max_conversations``, or the automatic figure for what the runtime runs: the
    cores' share, lowered to what the speech engines' measured cost leaves room for (a
    machine that other work slows admits fewer)."""
    limit = runtime.settings.server.max_conversations
    if limit > 0:
        return limit
    if not _embedded(runtime):
        return NO_LIMIT
    auto = auto_max_conversations(os.cpu_count())
    measured = capacity_from_cost(turn_cost_s())
    return auto if measured is None else min(auto, measured)


def admission_of(runtime: Runtime) -> Admission:
    """The runtime's admission controller, built once from its settings (the automatic
    conversation limit follows the STT in use)."""
    admission: Admission | None = getattr(runtime, "_admission", None)
    if admission is None:
        server = runtime.settings.server
        admission = Admission(max_conversations=max_conversations(runtime),
                              backlog_age_s=server.backlog_age_s,
                              retry_after_s=server.busy_retry_after_s)
        runtime._admission = admission  # type: ignore[attr-defined]
    else:
        admission.max_conversations = max_conversations(runtime)
    return admission


def current_load(runtime: Runtime) -> Load:
    pools = speech_backlog().values()
    return Load(active=len(runtime.active), queued=sum(b.queued for b in pools),
                oldest_s=max((b.oldest_s for b in pools), default=0.0))


def refusal(runtime: Runtime) -> Verdict | None:
    """None when one more conversation fits; else the refusal (counted). A node in drain
    mode (``callport.server.drain``) refuses every new call the same way."""
    if runtime.drained:
        admission = admission_of(runtime)
        admission.refused += 1
        return Verdict(admit=False, reason=DRAINING, retry_after_s=admission.retry_after_s)
    verdict = admission_of(runtime).decide(current_load(runtime), now=time.monotonic())
    return None if verdict.admit else verdict


def saturated(runtime: Runtime) -> str:
    """Why readiness is false now ("" when the machine takes calls); counts nothing."""
    return admission_of(runtime).saturated(current_load(runtime), now=time.monotonic())


def backlog_lines(runtime: Runtime) -> list[str]:
    """The speech backlog and admission figures in the Prometheus text format."""
    admission = admission_of(runtime)
    pools = speech_backlog()
    lines = ["# HELP callport_speech_backlog Speech jobs waiting for a worker, per engine.",
             "# TYPE callport_speech_backlog gauge"]
    lines += [f'callport_speech_backlog{{engine="{n}"}} {b.queued}' for n, b in pools.items()]
    lines += ["# HELP callport_speech_backlog_age_seconds How long the oldest waiting speech "
              "job has waited.", "# TYPE callport_speech_backlog_age_seconds gauge"]
    lines += [f'callport_speech_backlog_age_seconds{{engine="{n}"}} {b.oldest_s:.3f}'
              for n, b in pools.items()]
    lines += ["# HELP callport_speech_dropped_total Speech jobs dropped unrun: their call "
              "had ended.", "# TYPE callport_speech_dropped_total counter"]
    lines += [f'callport_speech_dropped_total{{engine="{n}"}} {b.dropped}'
              for n, b in pools.items()]
    lines += ["# HELP callport_speech_service_seconds Recent seconds of work per speech job "
              "(admission's measured cost).", "# TYPE callport_speech_service_seconds gauge"]
    lines += [f'callport_speech_service_seconds{{engine="{n}"}} {b.service_s:.3f}'
              for n, b in pools.items()]
    lines += ["# HELP callport_speech_largest_batch Most jobs one engine call has run.",
              "# TYPE callport_speech_largest_batch gauge"]
    lines += [f'callport_speech_largest_batch{{engine="{n}"}} {b.largest_batch}'
              for n, b in pools.items()]
    reason = saturated(runtime)
    lines += ["# HELP callport_max_conversations Conversations admitted at once.",
              "# TYPE callport_max_conversations gauge",
              f"callport_max_conversations {admission.max_conversations}",
              "# HELP callport_saturated 1 while new callers are turned away (capacity).",
              "# TYPE callport_saturated gauge", f"callport_saturated {int(bool(reason))}",
              "# HELP callport_calls_refused_total Callers turned away at capacity.",
              "# TYPE callport_calls_refused_total counter",
              f"callport_calls_refused_total {admission.refused}",
              "# HELP callport_draining 1 while the node is in drain mode (no new calls).",
              "# TYPE callport_draining gauge",
              f"callport_draining {int(runtime.drained or runtime.draining)}"]
    return lines
