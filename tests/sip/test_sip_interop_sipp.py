"""Interop against sipp on 127.0.0.1: built-in scenarios and small custom ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sip_support import PCAP_DIR, RecordingRuntime, free_udp_port, needs_sipp, run_sipp

from callport.channels.sip.channel import SipChannel

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]


async def test_sipp_uac_five_calls(channel: SipChannel, runtime: RecordingRuntime,
                                   tmp_path: Path) -> None:
    rc, out = await run_sipp("-sn", "uac", f"127.0.0.1:{channel.port}", "-i", "127.0.0.1",
                             "-p", str(free_udp_port()), "-m", "5", "-r", "5", "-l", "5",
                             cwd=tmp_path)
    assert rc == 0, out[-2000:]
    await asyncio.sleep(0.2)
    assert len(runtime.calls) == 5
    assert all(c.hangup == "remote-bye" for c in runtime.calls)
    assert channel.calls == {}
    assert channel.pool.in_use == set()


async def test_sipp_uac_pcap_audio_and_dtmf(channel: SipChannel, runtime: RecordingRuntime,
                                            tmp_path: Path) -> None:
    (tmp_path / "pcap").symlink_to(PCAP_DIR)
    rc, out = await run_sipp("-sd", "uac_pcap", cwd=tmp_path)
    (tmp_path / "uac_pcap.xml").write_text(out)
    rc, out = await run_sipp("-sf", "uac_pcap.xml", f"127.0.0.1:{channel.port}",
                             "-i", "127.0.0.1", "-p", str(free_udp_port()),
                             "-mp", str(free_udp_port() & ~1), "-m", "1", cwd=tmp_path)
    assert rc == 0, out[-2000:]
    await asyncio.sleep(0.2)
    [call] = runtime.calls
    # 236 packets of 30 ms PCMA = 7.08 s = 354 frames of 20 ms (less a partial tail).
    assert 340 <= call.frames <= 360, call.frames
    assert call.digits == ["1"]


SCENARIOS = Path(__file__).parent / "scenarios"


async def sipp_scenario(name: str, port: int, tmp_path: Path, *extra: str) -> tuple[int, str]:
    link = tmp_path / "pcap"
    if not link.exists():
        link.symlink_to(PCAP_DIR)
    return await run_sipp("-sf", str(SCENARIOS / name), f"127.0.0.1:{port}", "-i",
                          "127.0.0.1", "-p", str(free_udp_port()),
                          "-mp", str(free_udp_port() & ~1), "-m", "1", *extra, cwd=tmp_path)


async def test_cancel_before_answer_gets_487(runtime: RecordingRuntime, tmp_path: Path) -> None:
    from sip_support import rtp_range

    from callport.config import SipSettings

    low, high = rtp_range()
    ch = SipChannel(runtime, settings=SipSettings(
        host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high, answer_delay_ms=3000))
    await ch.start()
    try:
        rc, out = await sipp_scenario("uac_cancel.xml", ch.port, tmp_path)
        assert rc == 0, out[-2000:]
        await asyncio.sleep(0.1)
        assert runtime.calls == []  # never answered, never ran
        assert ch.calls == {} and ch.pool.in_use == set()
    finally:
        await ch.stop()


async def test_hold_reinvite_directions(channel: SipChannel, runtime: RecordingRuntime,
                                        tmp_path: Path) -> None:
    rc, out = await sipp_scenario("uac_hold.xml", channel.port, tmp_path)
    assert rc == 0, out[-2000:]
    await asyncio.sleep(0.1)
    [call] = runtime.calls
    assert call.hangup == "remote-bye"


async def test_our_refer_bye_after_notify_200(channel: SipChannel, runtime: RecordingRuntime,
                                              tmp_path: Path) -> None:
    runtime.transfer_to = "sip:carol@127.0.0.1:5999"
    rc, out = await sipp_scenario("uac_refer_out.xml", channel.port, tmp_path)
    assert rc == 0, out[-2000:]
    await asyncio.sleep(0.1)
    [call] = runtime.calls
    assert call.transfers == ["sip:carol@127.0.0.1:5999"]
    assert call.hangup == "transferred"


async def test_digest_challenge_inbound(runtime: RecordingRuntime, tmp_path: Path) -> None:
    from sip_support import rtp_range

    from callport.config import SipSettings

    low, high = rtp_range()
    ch = SipChannel(runtime, settings=SipSettings(
        host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high,
        auth_users=("alice:secret",)))
    await ch.start()
    try:
        rc, out = await sipp_scenario("uac_auth.xml", ch.port, tmp_path)
        assert rc == 0, out[-2000:]
        # The built-in uac (no credentials) is refused: sipp reports the call failed.
        rc, out = await run_sipp("-sn", "uac", f"127.0.0.1:{ch.port}", "-i", "127.0.0.1",
                                 "-p", str(free_udp_port()), "-m", "1", cwd=tmp_path,
                                 timeout=10)
        assert rc != 0
        await asyncio.sleep(0.1)
        assert len(runtime.calls) == 1
    finally:
        await ch.stop()


async def test_media_timeout_sends_bye(runtime: RecordingRuntime, tmp_path: Path) -> None:
    from sip_support import rtp_range

    from callport.config import SipSettings

    low, high = rtp_range()
    ch = SipChannel(runtime, settings=SipSettings(
        host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high, media_timeout_s=1.0))
    await ch.start()
    try:
        # Built-in uac sends no RTP and would hang up only after 6 s: we BYE first.
        await run_sipp("-sn", "uac", f"127.0.0.1:{ch.port}", "-i", "127.0.0.1",
                       "-p", str(free_udp_port()), "-m", "1", "-d", "6000",
                       cwd=tmp_path, timeout=15)
        await asyncio.sleep(0.1)
        [call] = runtime.calls
        assert call.hangup == "media-timeout"
        assert ch.calls == {} and ch.pool.in_use == set()
    finally:
        await ch.stop()
