"""Routing end to end on loopback: two sipp trunks behind the real SIP channel and Runtime.

The cheaper trunk answers 503 and the other answers: one call, two attempts, the answering
trunk and its price on the record. The cheaper trunk answers 486: no second attempt (the
other trunk's sipp sees no INVITE), disposition busy.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
sys.path.insert(0, str(Path(__file__).parents[1] / "call"))

from call_fakes import EnergyVad, ScriptedSTT, ToneTTS
from sip_support import finish, needs_sipp, rtp_range, start_sipp_uas

from callport.call.call import Call
from callport.call.dial import Answered, DialCause, DialFailed, DialOptions
from callport.channels.sip.channel import SipChannel
from callport.channels.sip.trunks import trunk_dialers
from callport.config import Settings, SipSettings
from callport.config_routing import CarrierRoute, RoutingSettings, SipTrunk
from callport.routing.service import RoutingService
from callport.server.runtime import Runtime
from callport.store.calls import MemoryCallStore

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]
SCENARIOS = Path(__file__).parent / "scenarios"


def settings_for(tmp_path: Path, cheap_port: int, dear_port: int) -> Settings:
    (tmp_path / "cheap.csv").write_text("prefix,rate,increment,minimum\n1,0.0050,60,60\n")
    (tmp_path / "dear.csv").write_text(
        "prefix,rate,increment,minimum,connection_fee\n1,0.0120,6,6,0.001\n")
    low, high = rtp_range()
    base = Settings()
    sip = SipSettings(enabled=True, host="127.0.0.1", port=0, rtp_port_min=low,
                      rtp_port_max=high, target_timeout_s=2.0, trunks=(
                          SipTrunk(name="cheap", address=f"127.0.0.1:{cheap_port}",
                                   transport="udp", caller_id="+15550001"),
                          SipTrunk(name="dear", address=f"127.0.0.1:{dear_port}",
                                   transport="udp", caller_id="+15550002")))
    routing = RoutingSettings(expected_duration_s=60, carriers=(
        CarrierRoute(name="dear", rates=str(tmp_path / "dear.csv")),
        CarrierRoute(name="cheap", rates=str(tmp_path / "cheap.csv"))))
    return replace(base, server=replace(base.server, db=str(tmp_path / "cp.db")),
                   identity=replace(base.identity, unknown="guest"), sip=sip, routing=routing)


async def brief(call: Call) -> None:
    """One sentence, then the flow ends and the runtime hangs up (BYE)."""
    await call.say("Hello from the cheaper route.")


async def _routed(tmp_path: Path, cheap_scenario: list[str]) -> tuple[object, ...]:
    cheap, cheap_port = await start_sipp_uas(tmp_path, *cheap_scenario)
    dear, dear_port = await start_sipp_uas(tmp_path, "-sn", "uas")
    settings = settings_for(tmp_path, cheap_port, dear_port)
    calls = MemoryCallStore()
    runtime = Runtime(settings=settings, calls=calls, vad=EnergyVad(),  # type: ignore[arg-type]
                      stt=ScriptedSTT([]), tts=ToneTTS(), flow=brief)
    channel = SipChannel(runtime, settings=settings.sip)
    await channel.start()
    dialers = trunk_dialers(channel)
    service = RoutingService.build(settings, dialers=dialers, calls=calls, clock=time.monotonic)
    runtime.routing = service
    assert [c.carrier for c in service.explain("+13125550100")] == ["cheap", "dear"]
    return cheap, dear, channel, dialers, service, calls


async def test_503_on_the_cheaper_trunk_goes_out_on_the_other(tmp_path: Path) -> None:
    cheap, dear, channel, dialers, service, calls = await _routed(
        tmp_path, ["-sf", str(SCENARIOS / "uas_503.xml")])
    try:
        result = await service.router.dial(  # type: ignore[attr-defined]
            "tel:+13125550100", "", DialOptions(timeout_s=5))
        assert isinstance(result, Answered) and result.carrier == "dear", result
        await dialers["dear"].finished(result.call_id)  # type: ignore[index]
    finally:
        await channel.stop()  # type: ignore[attr-defined]
    assert await finish(cheap) == 0  # type: ignore[arg-type]
    assert await finish(dear) == 0  # type: ignore[arg-type]  # INVITE, ACK, our BYE
    records = await calls.list_calls()  # type: ignore[attr-defined]
    assert len(records) == 1
    record = records[0]
    assert record.call_id == result.call_id and record.carrier == "dear"
    assert [(a.carrier, a.outcome) for a in record.attempts] == [
        ("cheap", "failed"), ("dear", "answered")]
    assert record.attempts[0].cause.startswith("sip 503")
    assert record.disposition == "answered" and record.status == "ended"
    assert record.answered_at is not None and record.ended_at is not None
    # dear bills 6 s steps, 6 s minimum, 0.012/min plus a 0.001 connection fee
    assert record.billable_s >= 6 and record.billable_s % 6 == 0
    assert record.billable_s < record.duration_s + 7
    assert record.cost == Decimal("0.001") + Decimal("0.0120") * record.billable_s / 60
    assert record.currency == "USD"
    assert service.health.of("cheap").consecutive == 1  # type: ignore[attr-defined]


async def test_403_channel_limit_fails_over_too(tmp_path: Path) -> None:
    cheap, dear, channel, dialers, service, calls = await _routed(
        tmp_path, ["-sf", str(SCENARIOS / "uas_403_limit.xml")])
    try:
        result = await service.router.dial(  # type: ignore[attr-defined]
            "+13125550100", "", DialOptions(timeout_s=5))
        assert isinstance(result, Answered) and result.carrier == "dear", result
        await dialers["dear"].finished(result.call_id)  # type: ignore[index]
    finally:
        await channel.stop()  # type: ignore[attr-defined]
    assert await finish(cheap) == 0  # type: ignore[arg-type]
    assert await finish(dear) == 0  # type: ignore[arg-type]
    [record] = await calls.list_calls()  # type: ignore[attr-defined]
    assert "Channel limit reached" in record.attempts[0].cause


async def test_486_on_the_cheaper_trunk_is_final(tmp_path: Path) -> None:
    cheap, dear, channel, _dialers, service, calls = await _routed(
        tmp_path, ["-sf", str(SCENARIOS / "uas_486.xml")])
    try:
        result = await service.router.dial(  # type: ignore[attr-defined]
            "tel:+13125550100", "", DialOptions(timeout_s=5))
        assert isinstance(result, DialFailed) and result.cause is DialCause.BUSY, result
        assert result.carrier == "cheap"
    finally:
        await channel.stop()  # type: ignore[attr-defined]
        dear.kill()  # type: ignore[attr-defined]
        await dear.wait()  # type: ignore[attr-defined]
    assert await finish(cheap) == 0  # type: ignore[arg-type]
    records = await calls.list_calls()  # type: ignore[attr-defined]
    assert len(records) == 1
    record = records[0]
    assert record.disposition == "busy" and record.status == "busy"
    assert record.carrier == "cheap" and len(record.attempts) == 1
    assert record.attempts[0].cause.startswith("sip 486")
    assert record.ended_at is not None and record.cost is None
