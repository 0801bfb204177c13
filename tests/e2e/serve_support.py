"""A real ``callport serve`` process on loopback (HTTP + SIP), sipp callers that stay on the line
until callport sends BYE, and read-only looks into its SQLite file. Used by the SIGTERM and
kill -9 tests; every process started here is stopped by its PID."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadgen.ports import free_port, free_sip_port

CALLPORT = str(Path(sys.executable).parent / "callport")
SIPP = shutil.which("sipp")
SCENARIO = Path(__file__).parent / "scenarios" / "uac_wait_bye.xml"

needs_sipp = pytest.mark.skipif(SIPP is None, reason="sipp (sip-tester) not installed")


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def serve_env() -> dict[str, str]:
    low = random.randrange(30000, 60000, 400)
    env = dict(os.environ)
    env.update({
        "CALLPORT_TURN_VAD": "webrtc",  # the echo flow needs no speech models
        "CALLPORT_IDENTITY_UNKNOWN": "owner",  # sipp's caller ID belongs to nobody
        "CALLPORT_SIP_RTP_PORT_MIN": str(low),
        "CALLPORT_SIP_RTP_PORT_MAX": str(low + 398),
        "CALLPORT_SIP_MEDIA_TIMEOUT_S": "300",  # sipp sends no RTP; only callport hangs up
        "CALLPORT_LOG_LEVEL": "info",
        # These runs hold a fixed number of calls; the automatic limit follows the speech
        # engines' measured cost, which a busy machine raises (10 calls on 2 cores is the
        # edge: a CI run got 503 for the 10th). Admission has its own tests.
        "CALLPORT_MAX_CONVERSATIONS": "100",
    })
    return env


def callport(*args: str, db: Path) -> str:
    """Run a short ``callport`` command on ``db``; its stdout."""
    done = subprocess.run([CALLPORT, "--db", str(db), *args], capture_output=True, text=True,
                          timeout=60, env=serve_env(), check=True)
    return done.stdout


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    http_port: int
    sip_port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Kill it if a test left it running (never by name: by its PID)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def start_serve(tmp_path: Path, db: Path, name: str) -> Served:
    http_port, sip_port = free_port(), free_sip_port()
    log = tmp_path / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [CALLPORT, "--db", str(db), "serve", "--no-warmup", "--port", str(http_port),
             "--sip-port", str(sip_port), "--flow", "callport.flows.echo:echo_flow"],
            stdout=out, stderr=subprocess.STDOUT, env=serve_env(), cwd=tmp_path)
    served = Served(proc, http_port, sip_port, log)
    wait_ready(served, timeout=90)
    return served


def wait_ready(served: Served, *, timeout: float) -> None:
    """Until ``served`` says its startup is complete; stopped if it exits or takes longer."""

    def ready() -> bool:
        if served.proc.poll() is not None:
            raise AssertionError(f"callport serve exited {served.proc.returncode}:\n"
                                 f"{served.text()}")
        return "Application startup complete" in served.text()

    try:
        wait_until(ready, timeout=timeout, what="callport serve to start")
    except BaseException:
        served.stop()
        raise


def start_callers(tmp_path: Path, served: Served, calls: int) -> subprocess.Popen[bytes]:
    """``calls`` concurrent sipp calls that each end only when callport sends BYE."""
    assert SIPP is not None
    out = (tmp_path / "sipp.out").open("wb")
    return subprocess.Popen(
        [SIPP, "-sf", str(SCENARIO), f"127.0.0.1:{served.sip_port}", "-i", "127.0.0.1",
         "-p", str(free_port(socket.SOCK_DGRAM)), "-mp", str(free_port(socket.SOCK_DGRAM) & ~1),
         "-m", str(calls), "-l", str(calls), "-r", "20", "-nostdin", "-timeout", "120s"],
        stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)


def stop_callers(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def sipp_successes(tmp_path: Path) -> int:
    for line in (tmp_path / "sipp.out").read_text(errors="replace").splitlines():
        if line.strip().startswith("Successful call"):
            return int(line.split("|")[-1])
    return -1


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def live_sip_calls(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        [(n,)] = query(db, "SELECT count(*) FROM calls WHERE channel = 'sip' "
                           "AND status = 'in-progress'")
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    return int(n)  # type: ignore[call-overload]


def ended_causes(db: Path) -> dict[str, list[str]]:
    """Each SIP call's status and the details of its ``ended`` events."""
    out: dict[str, list[str]] = {}
    for call_id, status in query(db, "SELECT call_id, status FROM calls WHERE channel = 'sip'"):
        details = [d for (d,) in query(db, "SELECT detail FROM call_events WHERE call_id = ? "
                                           "AND kind = 'ended' ORDER BY seq", call_id)]
        out[str(call_id)] = [str(status), *map(str, details)]
    return out
