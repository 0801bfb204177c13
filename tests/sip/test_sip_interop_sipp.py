"""Interop against sipp on 127.0.0.1: built-in scenarios and small custom ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import PCAP_DIR, RecordingRuntime, free_udp_port, needs_sipp, run_sipp

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
