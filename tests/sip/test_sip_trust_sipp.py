"""Trust over the wire, against sipp on 127.0.0.1: REFERs we must not follow (toll fraud),
a replayed digest answer, and who the caller is (P-Asserted-Identity vs From)."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from sip_support import (
    PeerFactory,
    RecordingRuntime,
    free_udp_port,
    needs_sipp,
    open_channel,
    run_sipp,
)

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]
SCENARIOS = Path(__file__).parent / "scenarios"


async def sipp(scenario: str, port: int, tmp_path: Path, *extra: str) -> tuple[int, str]:
    return await run_sipp("-sf", str(SCENARIOS / scenario), f"127.0.0.1:{port}",
                          "-i", "127.0.0.1", "-p", str(free_udp_port()),
                          "-mp", str(free_udp_port() & ~1), "-m", "1", *extra,
                          cwd=tmp_path, timeout=15)


def sent_authorizations(folder: Path) -> list[str]:
    """The Authorization values in the message log sipp wrote (``-trace_msg``)."""
    [log] = folder.glob("*_messages.log")
    return re.findall(r"^\s*Authorization:\s*(Digest .+?)\s*$", log.read_text(), re.M)


async def test_refer_to_a_number_outside_refer_allow_is_declined_and_nothing_dialled(
        runtime: RecordingRuntime, tmp_path: Path, udp_peer: PeerFactory) -> None:
    trunk, trunk_port = await udp_peer(486)
    async with open_channel(runtime, allow_from=("127.0.0.1",), refer_allow=("tel:+44*",),
                            trunk_address=f"127.0.0.1:{trunk_port}") as ch:
        # The peer is trusted, but asks us to call a premium number through our trunk.
        rc, out = await sipp("uac_refer_refused.xml", ch.port, tmp_path,
                             "-key", "target", "tel:+19005550100")
        assert rc == 0, out[-2000:]  # sipp got 603 to its REFER, then its BYE got 200
        await asyncio.sleep(0.2)
        assert trunk.requests == []  # nothing dialled
        assert ch.ua is not None and ch.ua.stats["refer_refused"] == 1
        [record] = runtime.calls
        assert record.hangup == "remote-bye"


async def test_refer_from_an_untrusted_peer_is_declined_even_to_an_allowed_target(
        runtime: RecordingRuntime, tmp_path: Path, udp_peer: PeerFactory) -> None:
    trunk, trunk_port = await udp_peer(486)
    # No allow_from: anyone on loopback may call in, but no caller is trusted to transfer.
    async with open_channel(runtime, refer_allow=("tel:+1900*",),
                            trunk_address=f"127.0.0.1:{trunk_port}") as ch:
        rc, out = await sipp("uac_refer_refused.xml", ch.port, tmp_path,
                             "-key", "target", "tel:+19005550100")
        assert rc == 0, out[-2000:]
        await asyncio.sleep(0.2)
        assert trunk.requests == []
        assert ch.ua is not None and ch.ua.stats["refer_refused"] == 1


async def test_replayed_digest_answer_is_refused(runtime: RecordingRuntime, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callport.channels.sip")
    async with open_channel(runtime, auth_users=("alice:secret",)) as ch:
        # A genuine caller authenticates (sipp answers the 401); sipp logs what it sent.
        rc, out = await sipp("uac_auth.xml", ch.port, tmp_path, "-trace_msg")
        assert rc == 0, out[-2000:]
        answers = sent_authorizations(tmp_path)
        assert answers, "sipp sent no Authorization header"
        # An eavesdropper replays that exact header on a call of its own: a fresh 401.
        rc, out = await sipp("uac_auth_replay.xml", ch.port, tmp_path,
                             "-key", "replay", answers[-1])
        assert rc == 0, out[-2000:]
        await asyncio.sleep(0.2)
        assert len(runtime.calls) == 1  # only the genuine call ran
        assert ch.ua is not None and ch.ua.stats["auth_refused"] == 1
        assert "replayed" in caplog.text


@pytest.mark.parametrize(("allow_from", "expected"), [
    (("127.0.0.1",), "+15550002222"),  # trusted trunk: its P-Asserted-Identity
    ((), "+15550001111"),  # anyone: the From user, whatever it asserts
])
async def test_caller_is_pai_from_a_trusted_peer_else_from(
        runtime: RecordingRuntime, tmp_path: Path, allow_from: tuple[str, ...],
        expected: str) -> None:
    async with open_channel(runtime, allow_from=allow_from) as ch:
        rc, out = await sipp("uac_caller_id.xml", ch.port, tmp_path, "-key", "from_user",
                             "+15550001111", "-key", "pai", "+15550002222")
        assert rc == 0, out[-2000:]
        await asyncio.sleep(0.1)
        [record] = runtime.calls
        assert record.info.caller == expected and record.info.channel == "sip"
