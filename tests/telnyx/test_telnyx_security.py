"""Replayed, expired and forged Telnyx stream tokens, and a channel with no public key.

The attacker's side against the real channel on a Starlette test client (signed webhooks,
a Call Control stand-in, a clock the test moves): nothing may start a call flow unless
Telnyx, after a webhook signed with the configured key (or our own dial), was handed the
stream token, and then only once and only in time.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from starlette.websockets import WebSocketDisconnect
from telnyx_channel_sim import CCID, NOW, Sim, make_sim
from telnyx_sim import connected_frame, event_body, start_frame

from callport.channels.telnyx import channel as telnyx_channel
from callport.channels.telnyx import tokens


def answered(sim: Sim, ccid: str = CCID, caller: str = "+15550001111") -> tuple[str, str]:
    """Ring an inbound call; (our call id, the stream token Telnyx was given)."""
    r = sim.post(event_body("call.initiated", ccid, direction="incoming",
                            **{"from": caller, "to": "+15550002222"}))
    assert r.status_code == 200, r.text
    path, answer = sim.api.requests[-1]
    assert path == f"/v2/calls/{ccid}/actions/answer"
    return base64.b64decode(str(answer["client_state"])).decode(), str(answer["stream_auth_token"])


def start(ccid: str, call_id: str, *, caller: str = "+15550001111",
          callee: str = "+15550002222") -> str:
    doc = json.loads(start_frame(ccid=ccid, client_state=call_id, encoding="PCMU", rate=8000))
    doc["start"].update({"from": caller, "to": callee})
    return json.dumps(doc)


HASH = json.dumps({"event": "dtmf", "sequence_number": "2", "stream_id": "st-1",
                   "dtmf": {"digit": "#"}})


def refused(sim: Sim, token: str, call_id: str, ccid: str = CCID) -> None:
    with sim.client.websocket_connect("/telnyx/media") as ws:
        ws.send_text(connected_frame(token))
        ws.send_text(start(ccid, call_id))
        ws.send_text(HASH)  # were it admitted, the echo flow would hang up (1000), not hang
        with pytest.raises(WebSocketDisconnect) as err:
            ws.receive_text()
        assert err.value.code == 1008


def streamed(sim: Sim, token: str, call_id: str, ccid: str = CCID, **who: str) -> None:
    """One admitted stream, ended by the caller pressing # (the echo flow hangs up)."""
    with sim.client.websocket_connect("/telnyx/media") as ws:
        ws.send_text(connected_frame(token))
        ws.send_text(start(ccid, call_id, **who))
        ws.send_text(HASH)
        with pytest.raises(WebSocketDisconnect):
            while True:
                ws.receive_text()


def hung_up(sim: Sim, call_id: str, ccid: str = CCID) -> None:
    r = sim.post(event_body("call.hangup", ccid, client_state=call_id,
                            hangup_cause="normal_clearing"))
    assert r.status_code == 200


@pytest.mark.parametrize("ttl", [120, 3600])
def test_a_token_replayed_after_the_call_was_pruned_is_refused(ttl: int) -> None:
    sim = make_sim(token_ttl_s=ttl)
    call_id, token = answered(sim)
    streamed(sim, token, call_id)
    hung_up(sim, call_id)
    refused(sim, token, call_id)  # the call ended
    sim.clock.now += 900  # past the book's keep_ended_s (600): the call is forgotten
    sim.channel.book.prune(sim.clock.now)
    assert sim.channel.book.get(call_id) is None
    refused(sim, token, call_id)  # and is not re-created from the replayed token
    assert sim.channel.book.get(call_id) is None
    assert len(sim.runner.infos) == 1


def test_an_expired_token_is_refused() -> None:
    sim = make_sim()
    call_id, token = answered(sim)
    sim.clock.now += 121  # telnyx.token_ttl_s = 120
    refused(sim, token, call_id)
    assert sim.runner.infos == []
    fresh = make_sim()
    call_id, token = answered(fresh)
    fresh.clock.now += 119  # within the ttl: admitted
    streamed(fresh, token, call_id)
    assert len(fresh.runner.infos) == 1


def test_forged_tokens_are_refused() -> None:
    sim = make_sim()
    call_id, token = answered(sim)
    other_id, other_token = answered(sim, "v3:inbound-2")
    expires = str(int(NOW) + 60)
    forged = [
        tokens.mint(b"not our secret", call_id, provider_call_id=CCID, expires_at=NOW + 60),
        token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),  # altered MAC
        str(int(NOW) + 9999) + token[len(expires):],  # a later expiry under the same MAC
        token.replace(".i", ".o", 1),  # rebranded as an unbound (outbound) token
        other_token,  # another call's token
        "",
    ]
    for fake in forged:
        refused(sim, fake, call_id)
    refused(sim, token, call_id, ccid="v3:inbound-2")  # our call id + token on another call
    assert sim.runner.infos == []
    streamed(sim, other_token, other_id, ccid="v3:inbound-2")  # the genuine ones still work
    streamed(sim, token, call_id)
    assert [i.call_id for i in sim.runner.infos] == [other_id, call_id]


def test_inbound_tokens_are_bound_to_the_call_control_id() -> None:
    secret = b"s" * 32
    token = tokens.mint(secret, "tx-1", provider_call_id=CCID, expires_at=NOW + 60)
    assert tokens.check(secret, call_id="tx-1", token=token, provider_call_id=CCID,
                        now=NOW) is not None
    assert tokens.check(secret, call_id="tx-1", token=token, provider_call_id="v3:other",
                        now=NOW) is None
    assert tokens.check(secret, call_id="tx-2", token=token, provider_call_id=CCID,
                        now=NOW) is None
    assert tokens.check(secret, call_id="tx-1", token=token, provider_call_id=CCID,
                        now=NOW + 61) is None


def test_no_public_key_refuses_webhooks_and_every_media_socket() -> None:
    sim = make_sim(public_key=False)
    r = sim.post(event_body("call.initiated", CCID, direction="incoming"))
    assert r.status_code == 403 and sim.api.requests == []
    form = b"CallSid=v3%3Atexml-1&From=%2B15550001111&To=%2B15550002222"
    assert sim.post(form, path="/telnyx/texml").status_code == 403
    # even a genuine token (as `callport call --via telnyx` mints one) opens nothing
    secret = tokens.stream_secret(sim.runner.settings.telnyx)
    genuine = tokens.mint(secret, "tx-cli", expires_at=NOW + 60)
    with (pytest.raises(WebSocketDisconnect) as err,
          sim.client.websocket_connect("/telnyx/media") as ws):  # closed before accept
        ws.send_text(connected_frame(genuine))
        ws.send_text(start("v3:out-1", "tx-cli"))
        ws.send_text(HASH)
        while True:
            ws.receive_text()
    assert err.value.code == 1008
    assert sim.runner.infos == [] and len(sim.channel.book) == 0


async def test_no_public_key_logs_what_to_set(caplog: pytest.LogCaptureFixture) -> None:
    sim = make_sim(public_key=False)
    with caplog.at_level(logging.WARNING):
        await sim.channel.start()
    message = telnyx_channel.UNCONFIGURED
    assert [r.getMessage() for r in caplog.records].count(message) == 1
    assert "CALLPORT_TELNYX_PUBLIC_KEY" in message


def test_caller_id_comes_from_the_signed_webhook_not_the_stream() -> None:
    sim = make_sim()
    call_id, token = answered(sim, caller="+15550003333")
    streamed(sim, token, call_id, caller="+15559999999", callee="+15558888888")
    (info,) = sim.runner.infos
    assert (info.caller, info.callee, info.direction) == (
        "+15550003333", "+15550002222", "inbound")


def test_a_call_we_dialled_names_our_number_as_caller() -> None:
    sim = make_sim()
    secret = tokens.stream_secret(sim.runner.settings.telnyx)
    token = tokens.mint(secret, "tx-out", expires_at=NOW + 60)  # as `callport call` does
    streamed(sim, token, "tx-out", ccid="v3:out-1", caller="+15550002222",
             callee="+15550004444")
    (info,) = sim.runner.infos
    assert (info.caller, info.callee, info.direction) == (
        "+15550002222", "+15550004444", "outbound")
