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
import contextlib
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from fuzz_support import SIPP, free_port, start_serve, wait_until
from http_support import (
    EDGE_ENV,
    add_web_user,
    browser_client,
    call_token,
    ended_causes,
    open_browser_call,
    open_records,
    open_twilio_call,
    records,
    restart,
)

pytestmark = [pytest.mark.slow]

SCENARIO = Path(__file__).parents[1] / "e2e" / "scenarios" / "uac_wait_bye.xml"
TWILIO_CALLS = 2
SIP_CALLS = 2 if SIPP is not None else 0


def _sipp(served: object, tmp_path: Path) -> subprocess.Popen[bytes] | None:
    if not SIP_CALLS:
        return None
    from fuzz_support import Served

    assert isinstance(served, Served) and SIPP is not None
    out = (tmp_path / f"sipp-{served.proc.pid}.out").open("wb")
    return subprocess.Popen(
        [SIPP, "-sf", str(SCENARIO), f"127.0.0.1:{served.sip_port}", "-i", "127.0.0.1",
         "-p", str(free_port(socket.SOCK_DGRAM)), "-mp", str(free_port(socket.SOCK_DGRAM) & ~1),
         "-m", str(SIP_CALLS), "-l", str(SIP_CALLS), "-r", "10", "-nostdin", "-timeout", "60s"],
        stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _live_calls_then(served: object, tmp_path: Path, sig: signal.Signals) -> int:
    """Open every kind of call, wait until each is recorded live, send ``sig``; the exit code."""
    from fuzz_support import Served

    assert isinstance(served, Served)
    web = browser_client(served)
    callers = _sipp(served, tmp_path)
    sims, page = [], None
    try:
        sims = [await open_twilio_call(served) for _ in range(TWILIO_CALLS)]
        page = await open_browser_call(served, web, call_token(web))
        want = TWILIO_CALLS + 1 + SIP_CALLS
        await asyncio.to_thread(wait_until, lambda: len(open_records(served)) == want,
                                timeout=30, what=f"{want} live call records")
        served.proc.send_signal(sig)
        return await asyncio.to_thread(served.proc.wait, 30)
    finally:
        for sim in sims:
            with contextlib.suppress(Exception):
                await sim.close()
        if page is not None:
            with contextlib.suppress(Exception):
                await page.close()
        _stop(callers)
        web.close()


def test_kill9_then_sigterm_leave_no_call_record_open(tmp_path: Path) -> None:
    first = start_serve(tmp_path, env=EDGE_ENV, sip=SIP_CALLS > 0, name="first")
    try:
        add_web_user(first)
        assert asyncio.run(_live_calls_then(first, tmp_path, signal.SIGKILL)) == -signal.SIGKILL
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
        assert asyncio.run(_live_calls_then(second, tmp_path, signal.SIGTERM)) == 0, (
            second.text()[-3000:])
    finally:
        second.stop()
    assert open_records(second) == [], open_records(second)
    channels = [channel for _, channel, _ in records(second)]
    assert channels.count("twilio") == 2 * TWILIO_CALLS and channels.count("browser") == 2
    assert channels.count("sip") == 2 * SIP_CALLS
    print("\nended causes after kill -9 and SIGTERM:", ended_causes(second))
    assert all("shutdown" in causes for causes in ended_causes(second).values()), (
        ended_causes(second))
