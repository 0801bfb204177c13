"""callport as UAC: outbound calls to sipp (RTP echo both ways, digest challenge)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from sip_support import (
    RecordingRuntime,
    finish,
    needs_sipp,
    rtp_range,
    start_sipp_uas,
)

from callport.call.events import AudioIn, HungUp
from callport.channels.sip.channel import CallFailed, SipChannel
from callport.config import SipSettings

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]
SCENARIOS = Path(__file__).parent / "scenarios"


async def test_outbound_call_to_sipp_uas_echoes_audio(channel: SipChannel,
                                                      tmp_path: Path) -> None:
    proc, port = await start_sipp_uas(tmp_path, "-sn", "uas", "-rtp_echo")
    leg = await channel.dial(f"sip:service@127.0.0.1:{port}", timeout=5)
    info = channel.calls[leg.key].info  # the gate identifies the callee of our own calls
    assert (info.direction, info.callee) == ("outbound", f"sip:service@127.0.0.1:{port}")
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16)
    loud = 0
    frames = 0

    async def reader() -> None:
        nonlocal loud, frames
        while True:
            event = await leg.recv()
            if isinstance(event, AudioIn):
                frames += 1
                if np.sqrt(np.mean(event.pcm.astype(np.float64) ** 2)) > 2000:
                    loud += 1
            elif isinstance(event, HungUp):
                return

    task = asyncio.create_task(reader())
    for _ in range(50):  # 1 s of tone, paced like the session would
        await leg.send_audio(tone)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    await leg.hangup()
    await asyncio.wait_for(task, 2)
    assert leg.frames_out == 50
    assert loud >= 40, (loud, frames)  # our tone came back through sipp's echo
    assert await finish(proc) == 0  # sipp saw a complete call (our BYE included)
    assert channel.calls == {} and channel.pool.in_use == set()


async def test_outbound_digest_challenge(runtime: RecordingRuntime, tmp_path: Path) -> None:
    low, high = rtp_range()
    ch = SipChannel(runtime, settings=SipSettings(
        host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high,
        trunk_username="trunkuser", trunk_password="trunkpass"))
    await ch.start()
    try:
        proc, port = await start_sipp_uas(tmp_path, "-sf", str(SCENARIOS / "uas_auth.xml"))
        leg = await ch.dial(f"sip:bob@127.0.0.1:{port}", timeout=5)
        assert leg.media is not None and leg.media.plan.codec == "PCMU"
        await leg.hangup()
        assert await finish(proc) == 0
    finally:
        await ch.stop()


async def test_outbound_wrong_password_fails(runtime: RecordingRuntime, tmp_path: Path) -> None:
    low, high = rtp_range()
    ch = SipChannel(runtime, settings=SipSettings(
        host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high,
        trunk_username="trunkuser", trunk_password="wrong"))
    await ch.start()
    try:
        proc, port = await start_sipp_uas(tmp_path, "-sf", str(SCENARIOS / "uas_auth.xml"))
        with pytest.raises(CallFailed) as info:
            await ch.dial(f"sip:bob@127.0.0.1:{port}", timeout=5)
        assert info.value.status == 403
        await finish(proc)
        assert ch.calls == {} and ch.pool.in_use == set()
    finally:
        await ch.stop()


async def test_register_with_digest_and_refresh(runtime: RecordingRuntime,
                                                tmp_path: Path) -> None:
    proc, port = await start_sipp_uas(tmp_path, "-sf", str(SCENARIOS / "uas_register.xml"))
    low, high = rtp_range()
    ch = SipChannel(runtime, settings=SipSettings(
        host="127.0.0.1", port=0, rtp_port_min=low, rtp_port_max=high,
        trunk_address=f"127.0.0.1:{port}", trunk_username="trunkuser",
        trunk_password="trunkpass", register_aor="sip:bot@127.0.0.1"))
    await ch.start()
    try:
        # 401 -> authenticated REGISTER -> 200 (Expires: 2) -> refresh after ~1 s -> 200.
        assert await finish(proc) == 0
        assert ch.registration_state == {"sip:bot@127.0.0.1": "registered"}
        assert ch.ua is not None
        reg, _ = ch.ua.registrations["sip:bot@127.0.0.1"]
        assert reg.cseq == 3 and reg.granted == 2
    finally:
        await ch.stop()
