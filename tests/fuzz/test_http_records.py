"""Every call on every channel has one record, and none is left open by kill -9 or SIGTERM
(the short, bounded version of ``bench/bench_soak.py``'s closing checks).

Live Twilio-simulator and browser-protocol calls (and SIP ones when sipp is installed) on a
real ``callport serve``: after kill -9 their records are still open, and the next start ends
every one with cause ``crash``; after SIGTERM the process exits 0 with every record ended
(cause ``shutdown``: the drain hangs each call up, and a provider call whose final status
callback can no longer arrive is closed too). Before: the Twilio rows stayed ``in-progress``.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from fuzz_support import SIPP, start_serve
from http_support import (
    EDGE_ENV,
    add_web_user,
    ended_causes,
    live_calls_then,
    open_records,
    records,
    restart,
)

pytestmark = [pytest.mark.slow]

TWILIO_CALLS = 2
SIP_CALLS = 2 if SIPP is not None else 0


def test_kill9_then_sigterm_leave_no_call_record_open(tmp_path: Path) -> None:
    first = start_serve(tmp_path, env=EDGE_ENV, sip=SIP_CALLS > 0, name="first")
    try:
        add_web_user(first)
        killed = asyncio.run(live_calls_then(first, tmp_path, signal.SIGKILL,
                                             twilio=TWILIO_CALLS, sip=SIP_CALLS))
        assert killed == -signal.SIGKILL
    finally:
        first.stop()
    left = open_records(first)
    assert len(left) == TWILIO_CALLS + 1 + SIP_CALLS, left  # what a dead process leaves

    second = restart(first, env=EDGE_ENV, name="second")
    try:
        assert open_records(second) == []  # closed at start-up
        assert "left live by a previous process" in second.text()
        crashed = ended_causes(second)
        assert {"twilio", "browser"} <= set(crashed), crashed
        assert all("crash" in causes for causes in crashed.values()), crashed
        stopped = asyncio.run(live_calls_then(second, tmp_path, signal.SIGTERM,
                                              twilio=TWILIO_CALLS, sip=SIP_CALLS))
        assert stopped == 0, second.text()[-3000:]
    finally:
        second.stop()
    assert open_records(second) == [], open_records(second)
    channels = [channel for _, channel, _ in records(second)]
    assert channels.count("twilio") == 2 * TWILIO_CALLS and channels.count("browser") == 2
    assert channels.count("sip") == 2 * SIP_CALLS
    print("\nended causes after kill -9 and SIGTERM:", ended_causes(second))
    assert all("shutdown" in causes for causes in ended_causes(second).values()), (
        ended_causes(second))
