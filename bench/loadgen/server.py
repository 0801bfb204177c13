"""The server under load: a real ``callport serve`` child process and its own CPU time.

The child is the ``callport serve`` command itself (``serve --config X --no-warmup``): the
real ``Runtime`` and ``CallSession`` (Silero VAD, turn detector, pacer), every channel driver,
uvicorn and the SIP UDP socket. ``server.flow`` is the echo flow (``loadgen.pacing``: the echo
flow plus a tap noting the pacer's send times); callers are admitted as guests. Its CPU is
read from ``/proc/PID/stat`` (user + system of every thread, the kernel's view of the child's
``process_time``), so nothing of the generator is counted. ``BENCH_SRC`` runs another tree's
``src`` (a before/after comparison); ``BENCH_PROFILE=FILE`` writes a cProfile of the serve
process's main thread (its event loop) to FILE when it stops.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadgen.ports import free_port, free_sip_port

ROOT = Path(__file__).resolve().parents[2]
AUTH_TOKEN = "f" * 32  # the Twilio simulator's auth token (tests/twilio/twilio_sim.py)
TICKS = os.sysconf("SC_CLK_TCK")


def config_text(*, port: int, sip_port: int, rtp_low: int, calls: int, vad: str,
                db: Path, telnyx_key: str) -> str:
    return f"""
[server]
host = "127.0.0.1"
port = {port}
db = "{db}"
flow = "loadgen.pacing:timed_echo_flow"
metrics_public = true
log_level = "warning"
max_conversations = {calls + 50}  # admission counts speech capacity; the echo flow has none

[limits]
rate_per_s = 0  # the bench's callers all come from 127.0.0.1: no per-address rate limit

[identity]
unknown = "guest"

[turn]
vad = "{vad}"

[twilio]
auth_token = "{AUTH_TOKEN}"

[telnyx]
public_key = "{telnyx_key}"
api_key = "KEYload"

[browser]
max_calls = {calls + 50}
max_calls_per_user = {calls + 50}

[sip]
enabled = true
host = "127.0.0.1"
port = {sip_port}
rtp_port_min = {rtp_low}
rtp_port_max = {rtp_low + 2 * calls + 200}
max_calls = {calls + 50}
max_calls_per_source = {calls + 50}
rate_per_s = {max(100, 4 * calls)}.0
rate_burst = {max(200, 4 * calls)}
"""


def _stat_cpu_s(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str
    sip_port: int
    tmp: tempfile.TemporaryDirectory[str]
    telnyx_private: bytes  # signs the Telnyx simulator's webhooks (its public half: config)

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server process (all its threads) so far."""
        return _stat_cpu_s(Path(f"/proc/{self.proc.pid}/stat"))

    def loop_cpu_s(self) -> float:
        """The same for its main thread alone: the event loop (uvicorn, channels, sessions,
        pacers); the rest is worker threads (VAD inference, speech, the database)."""
        return _stat_cpu_s(Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/stat"))

    def send_times(self) -> list[list[float]]:
        """The pacer's send times of every call that ended (``loadgen.pacing``)."""
        import numpy as np

        folder = Path(self.tmp.name) / "pacing"
        return [np.frombuffer(f.read_bytes(), dtype=np.float64).tolist()
                for f in sorted(folder.glob("*.f64"))]

    def metrics(self) -> str:
        return httpx.get(self.base + "/metrics", timeout=10).text

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.tmp.cleanup()


def start(*, calls: int, vad: str = "silero") -> Server:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    tmp = tempfile.TemporaryDirectory(prefix="callport-load-")
    port, sip_port = free_port(), free_sip_port()
    rtp_low = 30000 + (os.getpid() * 7 % 200) * 100
    path = Path(tmp.name) / "callport.toml"
    path.write_text(config_text(port=port, sip_port=sip_port, rtp_low=rtp_low, calls=calls,
                                vad=vad, db=Path(tmp.name) / "callport.db",
                                telnyx_key=public.decode()))
    src = os.environ.get("BENCH_SRC", str(ROOT / "src"))  # another tree's src: before/after
    pacing = Path(tmp.name) / "pacing"
    pacing.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{src}:{ROOT / 'bench'}", "OMP_NUM_THREADS": "1",
           "XDG_DATA_HOME": tmp.name, "BENCH_PACING_DIR": str(pacing)}
    log = open(Path(tmp.name) / "serve.log", "wb")  # noqa: SIM115 - closed with the child
    serve = "import sys; from callport.cli import main; sys.exit(main(sys.argv[1:]))"
    profile = os.environ.get("BENCH_PROFILE", "")  # cProfile of the server's loop thread
    serve_cmd = serve if not profile else (
        "import cProfile, sys; from callport.cli import main\n"
        "import time; p = cProfile.Profile(time.thread_time); p.enable()\n"
        f"try: main(sys.argv[1:])\nfinally: p.disable(); p.dump_stats({profile!r})")
    from loadgen.channels import BROWSER_PASSWORD, BROWSER_USER

    subprocess.run([sys.executable, "-c", serve, "users", "add", BROWSER_USER,
                    "--password-stdin", "--config", str(path)], env=env, check=True,
                   input=BROWSER_PASSWORD.encode() + b"\n", stdout=subprocess.DEVNULL)
    proc = subprocess.Popen([sys.executable, "-c", serve_cmd, "serve", "--config", str(path),
                             "--no-warmup"], env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(proc, f"http://127.0.0.1:{port}", sip_port, tmp, private)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("callport serve exited:\n" + (Path(tmp.name) / "serve.log")
                             .read_text(errors="replace")[-3000:])
        try:
            httpx.get(server.base + "/healthz", timeout=1).raise_for_status()
            return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.stop()
    raise SystemExit("callport serve did not answer /healthz within 60 s")
