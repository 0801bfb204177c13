"""The shared fuzz harness: a real ``callport serve`` on loopback, seeded mutators, and the
invariants every campaign checks afterwards.

Used by the SIP/SDP/RTP campaigns here and by the HTTP/WebSocket ones (import it by name:
``tests/fuzz`` is on ``sys.path`` through its conftest). A campaign looks like::

    served = start_serve(tmp_path, env={"CALLPORT_SIP_MAX_CALLS": "20"})
    base = warm_baseline(served, tmp_path)   # one real call, then RSS and fds
    ... send bounded, seeded junk at served.sip / served.base ...
    check_invariants(served, base, rss_growth_mb=RSS_GROWTH_MB)

``check_invariants`` asserts: the process is alive; no call is left open (``/healthz``
``active_calls`` and ``/metrics`` ``callport_active_calls`` both reach 0 and agree, and every
call record in the database is closed); RSS grew
by less than the stated bound; no unhandled exception (``Traceback``) in the log; and a real
``sipp`` call still completes (when SIP is enabled and sipp is installed). Every process
started here is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loadgen.ports import free_port, free_sip_port

CALLPORT = str(Path(sys.executable).parent / "callport")
SIPP = shutil.which("sipp")
needs_sipp = pytest.mark.skipif(SIPP is None, reason="sipp (sip-tester) not installed")

# How much a campaign may grow the server (resident set, after the calls ended). A campaign's
# junk is bounded (a few thousand messages); the old unbounded RTP queue grew 40 MB/s.
RSS_GROWTH_MB = 60.0
SEED = int(os.environ.get("CALLPORT_FUZZ_SEED", "20"))


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str,
               step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def serve_env(**extra: str) -> dict[str, str]:
    low = random.Random(os.getpid()).randrange(30000, 60000, 400)
    env = dict(os.environ)
    env.update({
        "CALLPORT_TURN_VAD": "webrtc",  # the echo flow needs no speech models
        "CALLPORT_IDENTITY_UNKNOWN": "owner",
        "CALLPORT_SIP_RTP_PORT_MIN": str(low),
        "CALLPORT_SIP_RTP_PORT_MAX": str(low + 398),
        "CALLPORT_LOG_LEVEL": "info",
    })
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class Snapshot:
    rss_kb: int
    fds: int


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    http_port: int
    sip_port: int
    log: Path
    db: Path
    token: str = ""  # an admin's API token (/healthz details, /metrics)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def sip(self) -> tuple[str, int]:
        return ("127.0.0.1", self.sip_port)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def snapshot(self) -> Snapshot:
        return Snapshot(self.rss_kb(), self.fds())

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def healthz(self) -> dict[str, object]:
        status, body = self.get("/healthz")
        assert status == 200, (status, body[:200])
        data = json.loads(body)
        assert isinstance(data, dict)
        return data

    def metric(self, name: str) -> float:
        """One unlabelled sample from ``/metrics`` (0 when absent)."""
        _, body = self.get("/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def active_calls(self) -> int:
        return int(str(self.healthz()["active_calls"]))

    def stop(self) -> None:
        """SIGTERM, then kill, by PID."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_serve(tmp_path: Path, *, env: dict[str, str] | None = None, sip: bool = True,
                flow: str = "callport.flows.echo:echo_flow", name: str = "serve",
                warmup: bool = False) -> Served:
    """``callport serve`` (echo flow) on free loopback ports; SIP on UDP+TCP. Without
    ``warmup`` the models load on first use; with it they load at start, as a default
    ``callport serve`` does, so a campaign's RSS is measured against a loaded process (a
    flood past capacity makes callport say its busy phrase, which loads text-to-speech)."""
    http_port = free_port()
    sip_port = free_sip_port() if sip else 0
    log = tmp_path / f"{name}.log"
    db = tmp_path / f"{name}.db"
    environ = serve_env(**(env or {}))
    for command in (["users", "add", "owner", "--role", "admin"],
                    ["tokens", "create", "owner"]):
        done = subprocess.run([CALLPORT, "--db", str(db), *command], capture_output=True,
                              text=True, timeout=60, env=environ, check=True, cwd=tmp_path)
    token = done.stdout.strip().splitlines()[-1]
    args = [CALLPORT, "--db", str(db), "serve", *([] if warmup else ["--no-warmup"]),
            "--port", str(http_port), "--flow", flow]
    if sip:
        args += ["--sip-port", str(sip_port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                env=environ, cwd=tmp_path)
    served = Served(proc, http_port, sip_port, log, db, token)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"callport serve exited {proc.returncode}:\n{served.text()}")
        return "Application startup complete" in served.text()

    try:
        wait_until(ready, timeout=90, what="callport serve to start")
    except BaseException:
        served.stop()
        raise
    return served


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``serve_factory(env={...})`` -> a started ``Served``; stopped after the test."""
    made: list[Served] = []

    def make(**kwargs: object) -> Served:
        served = start_serve(tmp_path, **kwargs)  # type: ignore[arg-type]
        made.append(served)
        return served

    yield make
    for served in made:
        served.stop()


# ---- the invariants ---------------------------------------------------------------------------

UNHANDLED = ("Traceback (most recent call last)", "Exception in callback",
             "Task exception was never retrieved", "Unhandled exception")


def unhandled_errors(served: Served) -> list[str]:
    """Log lines that say an exception escaped a handler."""
    return [line for line in served.text().splitlines() if any(u in line for u in UNHANDLED)]


def sipp_call(served: Served, tmp_path: Path, *, transport: str = "u1",
              timeout: float = 20.0) -> tuple[int, str]:
    """One ordinary sipp call (its default UAC: INVITE, ACK, a pause, BYE); (rc, output)."""
    assert SIPP is not None
    port = free_sip_port()
    done = subprocess.run(
        [SIPP, "-sn", "uac", f"127.0.0.1:{served.sip_port}", "-i", "127.0.0.1", "-p", str(port),
         "-mp", str(free_port(socket.SOCK_DGRAM) & ~1), "-t", transport, "-m", "1", "-d", "500",
         "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error"],
        capture_output=True, timeout=timeout + 15, cwd=tmp_path)
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


def warm_baseline(served: Served, tmp_path: Path) -> Snapshot:
    """Two real calls first (the first call loads the flow, VAD and codecs: ~130 MB that
    are not the campaign's), then the RSS/fd figures the campaign is measured against."""
    for _ in range(2 if served.sip_port and SIPP is not None else 0):
        rc, out = sipp_call(served, tmp_path)
        assert rc == 0, f"the warm-up sipp call failed (rc {rc}):\n{out[-3000:]}"
        wait_until(lambda: served.active_calls() == 0, timeout=30, step=0.25,
                   what="the warm-up call to end")
    return served.snapshot()


def open_records(served: Served) -> list[tuple[str, str, str]]:
    """Call records (call_id, channel, status) not in a final status: after a campaign, none."""
    from callport.store.calls import TERMINAL

    if not served.db.exists():
        return []
    conn = sqlite3.connect(served.db, timeout=10)
    try:
        marks = ", ".join("?" * len(TERMINAL))
        rows = conn.execute(f"SELECT call_id, channel, status FROM calls "
                            f"WHERE status NOT IN ({marks})", sorted(TERMINAL)).fetchall()
    except sqlite3.OperationalError:  # no calls table yet
        return []
    finally:
        conn.close()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def check_invariants(served: Served, before: Snapshot, *, tmp_path: Path,
                     rss_growth_mb: float = RSS_GROWTH_MB, calls_settle_s: float = 30.0,
                     sipp: bool = True) -> dict[str, float]:
    """Assert the campaign left the server well; returns the figures (for the report)."""
    assert served.alive(), f"callport serve died:\n{served.text()[-4000:]}"
    wait_until(lambda: served.active_calls() == 0, timeout=calls_settle_s, step=0.25,
               what=f"no call left open (healthz says {served.active_calls()})")
    gauge = served.metric("callport_active_calls")
    assert gauge == 0, f"/metrics says {gauge} active calls, /healthz 0"
    wait_until(lambda: not open_records(served), timeout=10, step=0.25,
               what=f"every call record closed (open: {open_records(served)[:5]})")
    errors = unhandled_errors(served)
    assert not errors, "unhandled exceptions in the log:\n" + "\n".join(errors[:20])
    if sipp and served.sip_port and SIPP is not None:
        rc, out = sipp_call(served, tmp_path)
        assert rc == 0, f"a real sipp call failed after the campaign (rc {rc}):\n{out[-3000:]}"
        wait_until(lambda: served.active_calls() == 0, timeout=calls_settle_s, step=0.25,
                   what="the sipp call to end")
    grown_mb = (served.rss_kb() - before.rss_kb) / 1024
    assert grown_mb < rss_growth_mb, f"RSS grew {grown_mb:.1f} MB (bound {rss_growth_mb} MB)"
    assert served.alive()
    return {"rss_growth_mb": grown_mb, "fds": float(served.fds() - before.fds)}


# ---- mutators (seeded; bounded) -----------------------------------------------------------------


@dataclass
class Mutator:
    """Byte-level mutations of a seed message: flips, truncation, junk, NULs, huge runs."""

    rng: random.Random = field(default_factory=lambda: random.Random(SEED))

    def flip(self, data: bytes, n: int = 4) -> bytes:
        buf = bytearray(data)
        for _ in range(n):
            if buf:
                buf[self.rng.randrange(len(buf))] ^= 1 << self.rng.randrange(8)
        return bytes(buf)

    def truncate(self, data: bytes) -> bytes:
        return data[: self.rng.randrange(len(data) + 1)]

    def insert(self, data: bytes, junk: bytes) -> bytes:
        at = self.rng.randrange(len(data) + 1)
        return data[:at] + junk + data[at:]

    def garbage(self, size: int) -> bytes:
        return self.rng.randbytes(size)

    def any(self, data: bytes) -> bytes:
        """One mutation, chosen at random."""
        choice = self.rng.randrange(6)
        if choice == 0:
            return self.flip(data, self.rng.randrange(1, 16))
        if choice == 1:
            return self.truncate(data)
        if choice == 2:
            return self.insert(data, b"\x00" * self.rng.randrange(1, 64))
        if choice == 3:
            return self.insert(data, b"A" * self.rng.randrange(1000, 20000))
        if choice == 4:
            return self.garbage(self.rng.randrange(1, 1500))
        return data + data  # two messages glued together


def udp_send(addr: tuple[str, int], datagrams: list[bytes], *, src_port: int = 0,
             pace_every: int = 200) -> socket.socket:
    """Send ``datagrams`` from one socket (returned, still open, to read replies)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", src_port))
    sock.setblocking(False)
    for i, data in enumerate(datagrams):
        with contextlib.suppress(OSError):
            sock.sendto(data[:65507], addr)
        if pace_every and i % pace_every == pace_every - 1:
            time.sleep(0.01)  # let the loopback socket buffer drain
    return sock


def drain(sock: socket.socket, *, wait: float = 0.3) -> list[tuple[bytes, tuple[str, int]]]:
    """Whatever arrived on ``sock`` within ``wait`` seconds of quiet."""
    got: list[tuple[bytes, tuple[str, int]]] = []
    sock.settimeout(wait)
    while True:
        try:
            data, addr = sock.recvfrom(65536)
        except (TimeoutError, BlockingIOError, OSError):
            return got
        got.append((data, (str(addr[0]), int(addr[1]))))


def tcp_send(addr: tuple[str, int], chunks: list[bytes], *, timeout: float = 2.0) -> bytes:
    """Open one connection, write ``chunks``, read what comes back until quiet or closed."""
    out = b""
    try:
        with socket.create_connection(addr, timeout=timeout) as sock:
            for chunk in chunks:
                sock.sendall(chunk)
            sock.settimeout(0.3)
            while True:
                try:
                    data = sock.recv(65536)
                except (TimeoutError, OSError):
                    break
                if not data:
                    break
                out += data
    except OSError:
        pass
    return out
