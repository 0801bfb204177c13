"""SIGTERM draining on the Telnyx channel: a new call is hung up instead of answered, its
record ends with cause ``shutdown``, and no stream is offered."""

from __future__ import annotations

from telnyx_channel_sim import CCID, make_sim
from telnyx_sim import event_body


def test_a_call_ringing_while_draining_is_hung_up_not_answered() -> None:
    sim = make_sim()
    sim.runner.draining = True  # type: ignore[attr-defined]
    r = sim.post(event_body("call.initiated", CCID, direction="incoming",
                            **{"from": "+15550001111", "to": "+15550002222"}))
    assert r.status_code == 200
    assert sim.api.paths == [f"/v2/calls/{CCID}/actions/hangup"]
    call = sim.channel.book.by_provider_id(CCID)
    assert call is not None and call.ended and sim.runner.infos == []
