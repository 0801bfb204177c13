"""Per-source cap on concurrent SIP calls (issue 20): one source IP holds at most
``sip.max_calls_per_source`` inbound calls (ringing or answered, UDP and TCP together); one
more INVITE from it gets ``503`` with ``Retry-After`` before any dialog or media, counted in
``callport_sip_source_capped_total``. Other sources, and sources in ``sip.allow_from``, are
not affected; a call that ends frees its place. There is no "unlimited" (0 is refused)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sip_fixtures import invite, request
from sip_support import RecordingRuntime, free_udp_port, needs_sipp, open_channel, run_sipp

from callport.channels.sip.events import CallEnded, IncomingCall, SipEvent, Transmit
from callport.channels.sip.message import SipResponse, parse_message
from callport.channels.sip.useragent import UaConfig, UserAgent
from callport.config import ConfigError, SipSettings, load_settings

Addr = tuple[str, int]


def ua(**kw: object) -> UserAgent:
    return UserAgent(config=UaConfig(host="127.0.0.1", port=5060, **kw))  # type: ignore[arg-type]


def call_from(agent: UserAgent, addr: Addr, n: int) -> tuple[list[SipEvent], int]:
    """INVITE number ``n`` (own Call-ID and branch) from ``addr``: (events, final status)."""
    events = agent.receive(invite(branch=f"z9hG4bK-cap{n}", call_id=f"cap-{n}@{addr[0]}"),
                           addr, float(n))
    finals = [m.status for e in events if isinstance(e, Transmit)
              if isinstance(m := parse_message(e.data), SipResponse) and m.status >= 200]
    return events, finals[0] if finals else 0


def incoming(events: list[SipEvent]) -> list[IncomingCall]:
    return [e for e in events if isinstance(e, IncomingCall)]


def test_a_source_at_its_cap_gets_503_with_retry_after_and_no_dialog() -> None:
    agent = ua(max_calls_per_source=2)
    one, two, other = ("10.0.0.9", 5062), ("10.0.0.9", 6000), ("10.0.0.10", 5062)
    assert incoming(call_from(agent, one, 1)[0]) and incoming(call_from(agent, two, 2)[0])
    events, status = call_from(agent, one, 3)  # a third call from 10.0.0.9, any port
    assert status == 503 and not incoming(events)
    [resp] = [parse_message(e.data) for e in events if isinstance(e, Transmit)]
    assert isinstance(resp, SipResponse) and resp.get("Retry-After") == "5"
    assert len(agent.dialogs) == 2 and agent.stats["source_capped"] == 1
    assert incoming(call_from(agent, other, 4)[0])  # another source is not affected
    assert len(agent.dialogs) == 3


def test_a_call_that_ends_frees_its_place() -> None:
    agent = ua(max_calls_per_source=1)
    peer = ("10.0.0.9", 5062)
    [first] = incoming(call_from(agent, peer, 1)[0])
    assert call_from(agent, peer, 2)[1] == 503
    # The caller gives up its ringing call (CANCEL): its place is free again.
    cancel = invite(branch="z9hG4bK-cap1", call_id="cap-1@10.0.0.9", method="CANCEL", sdp="")
    ended = [e for e in agent.receive(cancel, peer, 3.0) if isinstance(e, CallEnded)]
    assert [e.key for e in ended] == [first.key]
    [second] = incoming(call_from(agent, peer, 4)[0])
    ok = agent.answer(second.key, media_host="127.0.0.1", media_port=20000, now=4.0)
    [resp] = [parse_message(e.data) for e in ok if isinstance(e, Transmit)]
    assert isinstance(resp, SipResponse) and resp.status == 200
    bye = request("BYE", branch="z9hG4bK-bye", to_tag=resp.to_tag, cseq=2,
                  call_id="cap-4@10.0.0.9")
    agent.receive(request("ACK", branch="z9hG4bK-ack", to_tag=resp.to_tag, cseq=1,
                          call_id="cap-4@10.0.0.9"), peer, 4.1)
    agent.receive(bye, peer, 5.0)
    assert agent.dialogs == {}
    assert incoming(call_from(agent, peer, 6)[0])
    assert agent.stats["source_capped"] == 1


def test_sources_in_allow_from_are_not_capped() -> None:
    agent = ua(max_calls_per_source=1, allow_from=("10.0.0.0/24",))
    carrier = ("10.0.0.9", 5060)
    assert all(incoming(call_from(agent, carrier, n)[0]) for n in range(1, 5))
    assert len(agent.dialogs) == 4 and agent.stats["source_capped"] == 0


def test_the_cap_counts_udp_and_tcp_together_once_linked() -> None:
    udp, tcp = ua(max_calls_per_source=2), ua(max_calls_per_source=2, transport="TCP")
    tcp.link(udp)
    peer = ("10.0.0.9", 5062)
    assert incoming(call_from(udp, peer, 1)[0]) and incoming(call_from(tcp, peer, 2)[0])
    assert call_from(tcp, peer, 3)[1] == 503 and call_from(udp, peer, 4)[1] == 503
    assert udp.stats["source_capped"] == 1 and tcp.stats["source_capped"] == 1


def test_total_cap_still_applies_below_the_source_cap() -> None:
    agent = ua(max_calls=2, max_calls_per_source=20)
    for n, host in enumerate(("10.0.0.1", "10.0.0.2"), start=1):
        assert incoming(call_from(agent, (host, 5060), n)[0])
    assert call_from(agent, ("10.0.0.3", 5060), 3)[1] == 503
    assert agent.stats["source_capped"] == 0  # the total, not a source, was full


def test_the_setting_defaults_to_20_and_refuses_0(tmp_path: Path) -> None:
    assert SipSettings().max_calls_per_source == 20
    assert load_settings(None, env={"CALLPORT_SIP_MAX_CALLS_PER_SOURCE": "3"}
                         ).sip.max_calls_per_source == 3
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError, match=r"(?i)max_calls_per_source=.*out of range"):
            load_settings(None, env={"CALLPORT_SIP_MAX_CALLS_PER_SOURCE": bad})
    path = tmp_path / "c.toml"
    path.write_text("[sip]\nmax_calls_per_source = 0\n")
    with pytest.raises(ConfigError, match=r"sip\.max_calls_per_source=0: out of range"):
        load_settings(path, env={})


@pytest.mark.slow
@pytest.mark.interop
@needs_sipp
async def test_sipp_three_concurrent_calls_from_one_source_cap_2(
        tmp_path: Path) -> None:
    """sipp places three overlapping calls from 127.0.0.1: two are answered and talk for
    2 s, the third gets 503 (no call reaches the runtime for it), counted in /metrics."""
    runtime = RecordingRuntime(echo=False)  # each call lasts until sipp's BYE
    async with open_channel(runtime, max_calls_per_source=2) as ch:
        rc, out = await run_sipp("-sn", "uac", f"127.0.0.1:{ch.port}", "-i", "127.0.0.1",
                                 "-p", str(free_udp_port()), "-m", "3", "-r", "20", "-l", "3",
                                 "-d", "2000", cwd=tmp_path, timeout=20)
        await asyncio.sleep(0.3)
        assert rc != 0, out[-2000:]  # sipp counts the refused call as failed
        assert "503" in out or "Failed call" in out, out[-2000:]
        assert len(runtime.calls) == 2, out[-2000:]
        assert all(c.hangup == "remote-bye" for c in runtime.calls)
        assert ch.ua is not None and ch.ua.stats["source_capped"] == 1
        # The housekeeping tick (each second, the calls lasted 2 s) copied it to /metrics.
        assert "callport_sip_source_capped_total 1" in ch.metrics.render()
        assert ch.calls == {} and ch.pool.in_use == set()
