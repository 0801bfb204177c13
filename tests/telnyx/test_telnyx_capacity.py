"""Admission by capacity on Telnyx: past ``server.max_conversations`` a ringing call is hung
up unanswered (the caller is not left in silence on an answered line), its record ends with
cause ``busy`` and no stream is offered."""

from __future__ import annotations

from telnyx_channel_sim import CCID, make_sim
from telnyx_sim import event_body

from callport.server.admission import Admission, Load, Verdict


def test_a_call_ringing_past_capacity_is_hung_up_not_answered() -> None:
    sim = make_sim()
    admission = Admission(max_conversations=1, backlog_age_s=0.0)

    def refusal() -> Verdict | None:
        verdict = admission.decide(Load(active=1), now=0.0)  # one talking: full
        return None if verdict.admit else verdict

    sim.runner.refusal = refusal  # type: ignore[attr-defined]
    r = sim.post(event_body("call.initiated", CCID, direction="incoming",
                            **{"from": "+15550001111", "to": "+15550002222"}))
    assert r.status_code == 200
    assert sim.api.paths == [f"/v2/calls/{CCID}/actions/hangup"]  # never answered
    call = sim.channel.book.by_provider_id(CCID)
    assert call is not None and call.ended and sim.runner.infos == []
    assert admission.refused == 1
