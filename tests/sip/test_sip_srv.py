"""RFC 3263 server location: SRV ordering (RFC 2782) with fixed records and draws, the
lookup sequence through an injected resolver, and the channel using it for a trunk name."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from sip_support import FakeResolver, RecordingRuntime, rtp_range

from callport.channels.sip.channel import SipChannel
from callport.channels.sip.message import SipRequest, parse_message
from callport.channels.sip.srv import SrvRecord, locate, order_srv
from callport.config import SipSettings


def draws(*values: int) -> Callable[[int], int]:
    seq = iter(values)
    return lambda total: next(seq)


A = SrvRecord(10, 60, 5060, "a.example.")
B = SrvRecord(10, 40, 5070, "b.example.")
C = SrvRecord(20, 0, 5080, "c.example.")
Z = SrvRecord(10, 0, 5090, "z.example.")


def test_priority_first_then_weight() -> None:
    # total 100: the running sums follow the input order within a priority.
    assert order_srv([C, B, A], draws(30, 0, 0)) == [B, A, C]  # b's running sum 40 >= 30
    assert order_srv([A, B, C], draws(30, 40, 0)) == [A, B, C]
    assert order_srv([A, B, C], draws(61, 60, 0)) == [B, A, C]


def test_zero_weight_goes_first_in_its_group_and_is_picked_only_by_a_zero_draw() -> None:
    assert order_srv([A, Z], draws(0, 0)) == [Z, A]
    assert order_srv([A, Z], draws(1, 0)) == [A, Z]


def test_dot_target_means_no_service_and_out_of_range_draws_are_safe() -> None:
    assert order_srv([SrvRecord(0, 0, 5060, ".")], draws()) == []
    assert order_srv([A, B], draws(1000, 1000)) == [B, A]


def test_weighted_choice_is_roughly_proportional() -> None:
    import random

    rng = random.Random(7)
    firsts = [order_srv([A, B], lambda n: rng.randint(0, n))[0] for _ in range(2000)]
    share = firsts.count(A) / len(firsts)
    assert 0.55 < share < 0.65


async def test_locate_uses_srv_targets_in_order() -> None:
    resolver = FakeResolver(
        {"_sip._udp.trunk.example": [B, A, C]},
        {"a.example": ["192.0.2.1"], "b.example": ["192.0.2.2", "2001:db8::2"],
         "c.example": ["192.0.2.3"]})
    targets = await locate("trunk.example", None, resolver, draws(50, 0, 0))  # 50 > b's 40: a
    assert targets == [("192.0.2.1", 5060), ("192.0.2.2", 5070), ("2001:db8::2", 5070),
                       ("192.0.2.3", 5080)]


async def test_locate_falls_back_to_a_records_on_5060() -> None:
    resolver = FakeResolver({}, {"trunk.example": ["192.0.2.9"]})
    assert await locate("trunk.example", None, resolver, draws()) == [("192.0.2.9", 5060)]
    assert resolver.queries == ["SRV _sip._udp.trunk.example", "A trunk.example"]


async def test_locate_with_a_port_or_an_ip_skips_srv() -> None:
    resolver = FakeResolver({"_sip._udp.trunk.example": [A]}, {"trunk.example": ["192.0.2.9"]})
    assert await locate("trunk.example", 5099, resolver, draws()) == [("192.0.2.9", 5099)]
    assert await locate("198.51.100.7", None, resolver, draws()) == [("198.51.100.7", 5060)]
    assert await locate("[2001:db8::1]", 5070, resolver, draws()) == [("2001:db8::1", 5070)]
    assert resolver.queries == ["A trunk.example"]
    assert await locate("nowhere.example", None, resolver, draws()) == []


async def test_channel_registers_to_the_srv_target(runtime: RecordingRuntime) -> None:
    registrar = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    registrar.bind(("127.0.0.1", 0))
    registrar.setblocking(False)
    port = registrar.getsockname()[1]
    resolver = FakeResolver(
        {"_sip._udp.trunk.test": [SrvRecord(5, 0, 1, "dead.test."),
                                  SrvRecord(1, 10, port, "registrar.test.")]},
        {"registrar.test": ["127.0.0.1"]})
    low, high = rtp_range()
    ch = SipChannel(runtime, settings=SipSettings(
        host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high,
        trunk_address="trunk.test", register_aor="sip:bot@trunk.test"), resolver=resolver)
    await ch.start()
    try:
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(registrar, 65536),
                                      5.0)
        msg = parse_message(data)
        assert isinstance(msg, SipRequest) and msg.method == "REGISTER"
        assert resolver.queries[0] == "SRV _sip._udp.trunk.test"
    finally:
        await ch.stop()
        registrar.close()
