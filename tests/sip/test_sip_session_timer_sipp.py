"""RFC 4028 session refreshes over the wire, against sipp on 127.0.0.1: a refresh re-INVITE
answered 491 Request Pending is sent again after RFC 3261 §14.1's random wait, and the call
goes on (issue 20).

RFC 4028's floor (Min-SE 90 s) would put the first refresh 45 s into the call; the test
lowers the floor to 4 s for itself (``session_timer.MIN_SE_FLOOR``) and runs a 20 s session,
so the first refresh comes at 10 s."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from sip_support import RecordingRuntime, free_udp_port, needs_sipp, open_channel, run_sipp

from callport.channels.sip import session_timer

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]
SCENARIOS = Path(__file__).parent / "scenarios"


async def test_refresh_answered_491_is_retried_and_the_call_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="callport.channels.sip")
    monkeypatch.setattr(session_timer, "MIN_SE_FLOOR", 4)
    runtime = RecordingRuntime(echo=False)
    async with open_channel(runtime, session_expires_s=20, min_se_s=4,
                            media_timeout_s=60.0) as ch:
        rc, out = await run_sipp(
            "-sf", str(SCENARIOS / "uac_refresh_491.xml"), f"127.0.0.1:{ch.port}",
            "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mp", str(free_udp_port() & ~1),
            "-m", "1", cwd=tmp_path, timeout=30)
        assert rc == 0, out[-3000:]  # 491 to the first refresh, 200 to the retry, BYE 200
    waits = [float(m.group(1)) for r in caplog.records
             if (m := re.search(r"refresh INVITE got 491, again in ([\d.]+) s", r.getMessage()))]
    assert len(waits) == 1 and 0.0 <= waits[0] <= 2.0, waits  # we do not own the Call-ID
    [record] = runtime.calls
    assert record.hangup == "remote-bye"  # sipp's BYE, not a session expiry
