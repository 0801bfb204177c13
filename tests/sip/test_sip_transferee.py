"""callport as the transferee (RFC 3515, RFC 5589 §6): sipp calls us and REFERs us to a second
sipp; we INVITE it, report progress by NOTIFY sipfrag, move the leg onto the new dialog's
media and BYE the transferor. A failed follow-up leaves the original call running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from sip_support import (
    PCAP_DIR,
    SIPP,
    PeerFactory,
    RecordingRuntime,
    free_udp_port,
    needs_sipp,
    open_channel,
    run_sipp,
)

from callport.channels.sip.channel import SipChannel

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]
SCENARIOS = Path(__file__).parent / "scenarios"


async def transferor(scenario: str, port: int, carol: int, tmp_path: Path) -> tuple[int, str]:
    """sipp calls ``port``, then REFERs the call to sip:carol@127.0.0.1:``carol``."""
    link = tmp_path / "pcap"
    if not link.exists():
        link.symlink_to(PCAP_DIR)
    return await run_sipp("-sf", str(SCENARIOS / scenario), f"127.0.0.1:{port}",
                          "-i", "127.0.0.1", "-p", str(free_udp_port()),
                          "-mp", str(free_udp_port() & ~1), "-m", "1",
                          "-key", "carol", f"127.0.0.1:{carol}", cwd=tmp_path)


@pytest.fixture
async def trusting(runtime: RecordingRuntime) -> AsyncIterator[SipChannel]:
    """The transferor (sipp on 127.0.0.1) is a trusted peer and carol an allowed target."""
    async with open_channel(runtime, allow_from=("127.0.0.1",),
                            refer_allow=("sip:carol@127.0.0.1:*",)) as ch:
        yield ch


async def test_refer_is_followed_and_the_call_moves_to_the_new_dialog(
        trusting: SipChannel, runtime: RecordingRuntime, tmp_path: Path) -> None:
    assert SIPP is not None
    channel = trusting
    carol_port = free_udp_port()
    carol = await asyncio.create_subprocess_exec(
        SIPP, "-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-p", str(carol_port),
        "-mp", str(free_udp_port() & ~1), "-m", "1", "-nostdin", "-timeout", "20s",
        cwd=str(tmp_path), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.sleep(0.3)
        runtime.hangup_after_frames = 30
        # 202, NOTIFY 100 Trying, NOTIFY 200 OK (terminated), then our BYE: sipp checks all.
        rc, out = await transferor("uac_refer_follow.xml", channel.port, carol_port, tmp_path)
        assert rc == 0, out[-2000:]
        [record] = runtime.calls
        assert record.hangup == ""  # the session kept running across the transfer
        [call] = channel.calls.values()
        assert channel.ua is not None
        assert channel.ua.dialogs[call.key].role == "uac"  # the leg now rides our INVITE
        assert call.leg.key == call.key and call.leg.media is not None
        assert call.leg.media.plan.remote_port != 0
        # Media goes to carol now: she echoes our tone, the runtime echoes it back, and
        # after 30 frames the runtime hangs up, which BYEs carol.
        tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16)
        for _ in range(5):
            await call.leg.send_audio(tone)
        await asyncio.wait_for(runtime.ended.wait(), 10)
        assert record.frames >= 30 and record.hangup == "test"
        assert await asyncio.wait_for(carol.wait(), 10) == 0
        assert channel.calls == {} and channel.pool.in_use == set()
    finally:
        if carol.returncode is None:
            carol.kill()
            await carol.wait()


async def test_failed_refer_target_is_reported_and_the_call_goes_on(
        trusting: SipChannel, runtime: RecordingRuntime, tmp_path: Path,
        udp_peer: PeerFactory) -> None:
    busy, busy_port = await udp_peer(486)
    # uac_refer_in: 202, NOTIFY 100, a final NOTIFY (terminated), then sipp's own BYE.
    rc, out = await transferor("uac_refer_in.xml", trusting.port, busy_port, tmp_path)
    assert rc == 0, out[-2000:]
    assert [r.method for r in busy.requests] == ["INVITE", "ACK"]  # 486, ACKed
    await asyncio.sleep(0.1)
    [record] = runtime.calls
    assert record.hangup == "remote-bye"  # the transferor hung up, not the failed transfer
