"""RFC 3263 failover and SIP over TCP for outbound requests, on loopback: fake SRV records
point at local ports (a socket that never answers, one that answers 503, a closed TCP port)
and at a sipp UAS that answers (UDP, or TCP with ``-t t1``)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sip_support import (
    FakeResolver,
    Peer,
    PeerFactory,
    RecordingRuntime,
    finish,
    needs_sipp,
    rtp_range,
    start_sipp_uas,
)

from callport.channels.sip.channel import CallFailed, SipChannel
from callport.channels.sip.message import SipRequest, make_response, parse_message
from callport.channels.sip.srv import SrvRecord
from callport.config import SipSettings

pytestmark = [pytest.mark.slow, pytest.mark.interop]
SCENARIOS = Path(__file__).parent / "scenarios"


def closed_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once this socket is closed


def srv(*ports: int, proto: str = "udp") -> FakeResolver:
    """``_sip._<proto>.trunk.test``: one target per port, in priority order."""
    records = [SrvRecord(i + 1, 10, port, f"t{i}.test.") for i, port in enumerate(ports)]
    return FakeResolver({f"_sip._{proto}.trunk.test": records},
                        {f"t{i}.test": ["127.0.0.1"] for i in range(len(ports))})


@pytest.fixture
async def make_channel(runtime: RecordingRuntime) -> AsyncIterator[object]:
    made: list[SipChannel] = []

    async def make(resolver: FakeResolver, **kw: object) -> SipChannel:
        low, high = rtp_range()
        params: dict[str, object] = {"trunk_address": "trunk.test", "target_timeout_s": 1.0,
                                     **kw}
        settings = SipSettings(host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high,
                               **params)  # type: ignore[arg-type]
        ch = SipChannel(runtime, settings=settings, resolver=resolver)
        await ch.start()
        made.append(ch)
        return ch

    yield make
    for ch in made:
        await ch.stop()


@needs_sipp
async def test_invite_times_out_on_first_srv_target_and_is_answered_by_the_second(
        make_channel: object, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        udp_peer: PeerFactory) -> None:
    silent, silent_port = await udp_peer(None)
    proc, port = await start_sipp_uas(tmp_path, "-sn", "uas")
    ch = await make_channel(srv(silent_port, port))  # type: ignore[operator]
    with caplog.at_level(logging.INFO, logger="callport.channels.sip"):
        leg = await ch.dial("tel:+15550001", timeout=10)
    assert leg.media is not None and leg.media.plan.codec == "PCMU"
    invites = [r for r in silent.requests if r.method == "INVITE"]
    assert len(invites) >= 2  # the first target got the INVITE and its retransmissions
    assert invites[0].uri == "sip:+15550001@trunk.test"
    assert any(f"failing over to 127.0.0.1:{port}" in r.getMessage() for r in caplog.records)
    await leg.hangup()
    assert await finish(proc) == 0  # sipp saw INVITE, ACK and our BYE on the second target


async def test_dial_fails_with_the_last_status_when_every_target_fails(
        make_channel: object, udp_peer: PeerFactory) -> None:
    silent, silent_port = await udp_peer(None)
    busy, busy_port = await udp_peer(503)
    ch = await make_channel(srv(silent_port, busy_port))  # type: ignore[operator]
    with pytest.raises(CallFailed) as info:
        await ch.dial("sip:bob@trunk.test", timeout=10)
    assert info.value.status == 503
    assert [r.method for r in busy.requests] == ["INVITE", "ACK"]
    assert silent.requests and ch.calls == {} and ch.pool.in_use == set()


async def test_register_fails_over_on_503(make_channel: object,
                                          udp_peer: PeerFactory) -> None:
    busy, busy_port = await udp_peer(None)
    ok, ok_port = await udp_peer(None)

    def registrar(proto: Peer, status: int) -> None:
        def answer(data: bytes, addr: tuple[str, int]) -> None:
            msg = parse_message(data)
            assert isinstance(msg, SipRequest)
            proto.requests.append(msg)
            extra = (("Expires", "60"),) if status == 200 else ()
            assert proto.transport is not None
            proto.transport.sendto(bytes(make_response(msg, status, to_tag="r", extra=extra)),
                                   addr)
        proto.datagram_received = answer  # type: ignore[method-assign]

    registrar(busy, 503)
    registrar(ok, 200)
    ch = await make_channel(srv(busy_port, ok_port),  # type: ignore[operator]
                            register_aor="sip:bot@trunk.test")
    for _ in range(50):
        if ch.registration_state:
            break
        await asyncio.sleep(0.05)
    assert ch.registration_state == {"sip:bot@trunk.test": "registered"}
    assert [r.method for r in busy.requests] == ["REGISTER"]
    assert [r.method for r in ok.requests] == ["REGISTER"]


@needs_sipp
async def test_outbound_call_over_tcp_to_sipp(make_channel: object, tmp_path: Path) -> None:
    proc, port = await start_sipp_uas(tmp_path, "-sn", "uas", "-t", "t1")
    ch = await make_channel(FakeResolver({}, {}))  # type: ignore[operator]
    leg = await ch.dial(f"sip:service@127.0.0.1:{port};transport=tcp", timeout=5)
    assert leg.media is not None
    assert ch.tcp_ua is not None and leg.key in ch.tcp_ua.dialogs
    assert ch.ua is not None and ch.ua.active_calls() == 0
    assert ch.tcp is not None and ("127.0.0.1", port) in ch.tcp.connections
    await leg.hangup()
    assert await finish(proc) == 0


@needs_sipp
async def test_tcp_srv_target_refusing_connections_fails_over_at_once(
        make_channel: object, tmp_path: Path) -> None:
    proc, port = await start_sipp_uas(tmp_path, "-sn", "uas", "-t", "t1")
    resolver = srv(closed_tcp_port(), port, proto="tcp")
    ch = await make_channel(resolver, target_timeout_s=30.0)  # type: ignore[operator]
    leg = await ch.dial("tel:+15550002", timeout=5)  # well before Timer B would fire
    assert resolver.queries[:2] == ["SRV _sip._udp.trunk.test", "SRV _sip._tcp.trunk.test"]
    assert ch.tcp_ua is not None and leg.key in ch.tcp_ua.dialogs
    await leg.hangup()
    assert await finish(proc) == 0


@needs_sipp
async def test_register_over_tcp_with_digest(make_channel: object, tmp_path: Path) -> None:
    proc, port = await start_sipp_uas(tmp_path, "-sf", str(SCENARIOS / "uas_register.xml"),
                                      "-t", "t1")
    ch = await make_channel(  # type: ignore[operator]
        FakeResolver({}, {}), trunk_address=f"127.0.0.1:{port}", trunk_transport="tcp",
        trunk_username="trunkuser", trunk_password="trunkpass",
        register_aor="sip:bot@127.0.0.1")
    assert await finish(proc) == 0  # 401, authenticated REGISTER, 200, refresh, 200
    assert ch.registration_state == {"sip:bot@127.0.0.1": "registered"}
    assert ch.tcp_ua is not None and "sip:bot@127.0.0.1" in ch.tcp_ua.registrations
