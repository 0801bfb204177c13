"""Admission by capacity on Twilio: past ``server.max_conversations`` a new call's voice
webhook answers ``<Reject reason="busy"/>`` (the caller hears a busy tone, the call is never
answered), its record ends with cause ``busy`` and no stream is offered."""

from __future__ import annotations

from twilio_sim import call_params
from twilio_support import Server

from callport.server.admission import Admission, Load, Verdict


def at_capacity(server: Server, active: list[int]) -> None:
    """The runtime's ``refusal`` from a real Admission of one conversation."""
    admission = Admission(max_conversations=1, backlog_age_s=0.0)

    def refusal() -> Verdict | None:
        verdict = admission.decide(Load(active=active[0]), now=0.0)
        return None if verdict.admit else verdict

    server.runtime.refusal = refusal  # type: ignore[attr-defined]


async def test_a_new_call_past_capacity_is_rejected_busy_not_left_silent(server: Server) -> None:
    active = [0]
    at_capacity(server, active)
    admitted = await server.post_signed("/twilio/voice", call_params("CA" + "a" * 32))
    assert admitted.status_code == 200 and "<Stream" in admitted.text
    active[0] = 1  # the first call is talking: the machine is full
    busy = await server.post_signed("/twilio/voice", call_params("CA" + "b" * 32))
    assert busy.status_code == 200
    assert '<Reject reason="busy"' in busy.text and "<Stream" not in busy.text
    call = server.channel.book.by_provider_id("CA" + "b" * 32)
    assert call is not None and call.ended
    assert server.runtime.started == []  # nothing ran for the refused caller
