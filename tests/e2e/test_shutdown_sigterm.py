"""SIGTERM on a live ``callport serve``: every live SIP call gets a BYE, exit code 0, in bounds."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from serve_support import (
    ended_causes,
    live_sip_calls,
    needs_sipp,
    sipp_successes,
    start_callers,
    start_serve,
    stop_callers,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]

CALLS = 4


def test_sigterm_hangs_up_live_sip_calls_and_exits_zero(tmp_path: Path) -> None:
    db = tmp_path / "cp.db"
    served = start_serve(tmp_path, db, "serve")
    callers = start_callers(tmp_path, served, CALLS)
    try:
        wait_until(lambda: live_sip_calls(db) == CALLS, timeout=60, what=f"{CALLS} live calls")
        served.proc.send_signal(signal.SIGTERM)
        # Generous bound: the grace period is 5 s; this only catches a process that hangs.
        assert served.proc.wait(20) == 0, served.text()
        assert callers.wait(20) == 0  # each sipp call ended by receiving (and answering) BYE
        assert sipp_successes(tmp_path) == CALLS
    finally:
        stop_callers(callers)
        served.stop()
    log = served.text()
    # (a call whose record is written may still be joining the runtime's live set: the
    # lifespan's second drain pass hangs it up, so only the first pass's log line is certain)
    assert "draining: hanging up" in log, log
    assert ended_causes(db) == {call_id: ["ended", "shutdown"] for call_id in ended_causes(db)}
    assert len(ended_causes(db)) == CALLS
