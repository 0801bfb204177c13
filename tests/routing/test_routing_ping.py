"""SIP OPTIONS health checks of trunks on loopback: a trunk answering 200 (or 404) is alive,
one answering 503 or not at all is not; the results open and close the breaker, and doctor
reports them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from callport.channels.sip.message import SipRequest, make_response, parse_message
from callport.channels.sip.trunks import ping
from callport.config import Settings, SipSettings
from callport.config_routing import CarrierRoute, RoutingSettings, SipTrunk
from callport.doctor_routing import routing_checks
from callport.routing.health import HealthBoard


class Options(asyncio.DatagramProtocol):
    def __init__(self, status: int | None) -> None:
        self.status = status
        self.seen: list[SipRequest] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = parse_message(data)
        assert isinstance(msg, SipRequest) and msg.method == "OPTIONS"
        self.seen.append(msg)
        if self.status is not None and self.transport is not None:
            self.transport.sendto(bytes(make_response(msg, self.status, to_tag="t")), addr)


Make = Callable[[int | None], Awaitable[tuple[Options, int]]]


@pytest.fixture
async def trunk_peer() -> AsyncIterator[Make]:
    made: list[asyncio.DatagramTransport] = []

    async def make(status: int | None) -> tuple[Options, int]:
        transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: Options(status), local_addr=("127.0.0.1", 0))
        made.append(transport)
        return proto, int(transport.get_extra_info("sockname")[1])

    yield make
    for t in made:
        t.close()


def trunk(port: int) -> SipTrunk:
    return SipTrunk(name="t", address=f"127.0.0.1:{port}", transport="udp")


async def test_ping_answers(trunk_peer: Make) -> None:
    base = SipSettings()
    ok, ok_port = await trunk_peer(200)
    alive, detail = await ping(trunk(ok_port), base=base, resolver=None, timeout_s=2)
    assert alive and detail == "OPTIONS 200 OK"
    assert ok.seen[0].uri == f"sip:127.0.0.1:{ok_port}" and ok.seen[0].get("CSeq") == "1 OPTIONS"
    _, nf_port = await trunk_peer(404)
    assert (await ping(trunk(nf_port), base=base, resolver=None, timeout_s=2))[0]
    _, down_port = await trunk_peer(503)
    alive, detail = await ping(trunk(down_port), base=base, resolver=None, timeout_s=2)
    assert not alive and detail.startswith("OPTIONS 503")
    _, silent_port = await trunk_peer(None)
    alive, detail = await ping(trunk(silent_port), base=base, resolver=None, timeout_s=0.3)
    assert not alive and "no answer" in detail


async def test_pings_move_the_breaker(trunk_peer: Make) -> None:
    board = HealthBoard(failures=2, open_s=30)
    peer, port = await trunk_peer(503)
    for at in (0.0, 10.0):
        alive, detail = await ping(trunk(port), base=SipSettings(), resolver=None, timeout_s=1)
        board.probe_result("t", alive, at, detail)
    assert board.snapshot(11.0) == {"t": "open"}
    peer.status = 200
    alive, _ = await ping(trunk(port), base=SipSettings(), resolver=None, timeout_s=1)
    board.probe_result("t", alive, 20.0)
    assert board.snapshot(20.0) == {"t": "closed"}


def test_doctor_reports_trunk_health(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("prefix,rate\n1,0.01\n44,0.02\n")
    settings = replace(Settings(), sip=SipSettings(trunks=(trunk(9),)),
                       routing=RoutingSettings(carriers=(
                           CarrierRoute(name="t", rates=str(tmp_path / "r.csv")),
                           CarrierRoute(name="twilio"))))
    checks = routing_checks(settings, timeout_s=0.3)
    assert checks[0][0] == "routing: t" and not checks[0][1]
    assert "2 rates" in checks[0][2] and "no answer" in checks[0][2]
    assert checks[1] == ("routing: twilio", True, "twilio, no rate deck (price unknown)")
    bad = replace(settings, routing=RoutingSettings(carriers=(CarrierRoute(name="nope"),)))
    assert not routing_checks(bad)[0][1]
    assert routing_checks(Settings())[0][1]
