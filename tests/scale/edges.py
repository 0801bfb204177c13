"""The edges of a callport cluster on loopback, for the multi-node test and bench/bench_nodes.py:
``callport serve`` nodes on one PostgreSQL + Redis, Kamailio in front for SIP and HAProxy in
front for HTTP, both from the shipped ``deploy/`` configurations (only their parameters are
filled in here), and sipp callers through Kamailio.

Every process is started here and stopped by its PID (``Cluster.close``); ports are free
ones picked at start. A missing binary fails the test saying that ``make test`` installs it
(``backend_servers._missing``).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from backend_servers import _missing

from loadgen.ports import free_sip_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CALLPORT = str(Path(sys.executable).parent / "callport")
PCAP = Path("/usr/share/sip-tester/g711a.pcap")
TOKEN_SECRET = "edge-test-browser-token-secret-0123456789"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for TCP and UDP on 127.0.0.1 (SIP listens on both)."""
    return free_sip_port()


def need(binary: str, package: str) -> str:
    found = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if Path(p).is_file()), None)
    if found is None:
        _missing(binary, package)
        raise AssertionError("unreachable")
    return found


class Logged:
    """A child process whose output is kept (the last lines go into failure messages)."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env, cwd=cwd)
        self._seen = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line)
                del self.lines[:-2000]
                self._seen.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines:
                    if m := re.search(pattern, line):
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"{self.name}: no {pattern!r}:\n{self.tail()}")
                self._seen.wait(min(left, 0.5))

    def tail(self, n: int = 40) -> str:
        return "".join(self.lines[-n:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@dataclass
class Node:
    name: str
    http_port: int
    sip_port: int
    rtp: tuple[int, int]
    home: Path
    process: Logged | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def metric(self, name: str) -> float:
        """One unlabelled sample of this node's /metrics (``server.metrics_public`` is on)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0


@dataclass
class Cluster:
    db: str
    redis: str
    nodes: list[Node]
    work: Path
    sip_port: int  # Kamailio's
    http_port: int  # HAProxy's
    edges: list[Logged] = field(default_factory=list)
    sign_in: str = ""  # the first node's one-time sign-in link (the owner)
    extra_env: dict[str, str] = field(default_factory=dict)  # more settings, every node

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self, node: Node) -> dict[str, str]:
        return {**os.environ, "CALLPORT_DB": self.db, "CALLPORT_REDIS": self.redis,
                "CALLPORT_NODE_ID": node.name, "CALLPORT_TURN_VAD": "webrtc",
                "CALLPORT_METRICS_PUBLIC": "true", "CALLPORT_BROWSER_TOKEN_SECRET": TOKEN_SECRET,
                "CALLPORT_SIP_HOST": "127.0.0.1", "CALLPORT_SIP_ALLOW_FROM": "127.0.0.1",
                "CALLPORT_SIP_RTP_PORT_MIN": str(node.rtp[0]),
                "CALLPORT_SIP_RTP_PORT_MAX": str(node.rtp[1]),
                "CALLPORT_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "CALLPORT_MAX_CONVERSATIONS": "40",  # echo calls: no speech models to share
                "CALLPORT_IDENTITY_UNKNOWN": "guest",  # sipp is nobody we know
                "CALLPORT_NODE_TTL_S": "3",  # a killed node is lost after 3 s
                "XDG_DATA_HOME": str(node.home), "OMP_NUM_THREADS": "1", **self.extra_env}

    def start_node(self, node: Node) -> None:
        node.process = Logged(node.name, [
            CALLPORT, "serve", "--no-warmup", "--port", str(node.http_port),
            "--sip-port", str(node.sip_port), "--node-id", node.name,
            "--flow", "callport.flows.echo:echo_flow"], env=self.env(node))
        node.process.wait_for(r"Uvicorn running", 90)
        if not self.sign_in:
            m = node.process.wait_for(r"sign in at (\S+)", 5)
            self.sign_in = m.group(1).replace(f":{node.http_port}/", f":{self.http_port}/")

    def start_kamailio(self) -> None:
        binary = need("kamailio", "kamailio")
        listing = self.work / "dispatcher.list"
        listing.write_text("".join(f"1 sip:127.0.0.1:{n.sip_port}\n" for n in self.nodes))
        self.edges.append(kam := Logged("kamailio", [
            binary, "-DD", "-E", "-f", str(DEPLOY / "kamailio" / "kamailio.cfg"),
            "-A", f"LISTEN=udp:127.0.0.1:{self.sip_port}",
            "-A", f'DISPATCHER_LIST="{listing}"', "-A", "PING_INTERVAL=1",
            "-A", "CHILDREN=2", "-Y", str(self.work), "-w", str(self.work),
            "-m", "64", "-M", "8"], cwd=self.work))
        kam.wait_for(r"init_tcp|main process|ctl|INFO: <core>", 20)

    def start_haproxy(self) -> None:
        binary = need("haproxy", "haproxy")
        env = {**os.environ, "LISTEN": f"127.0.0.1:{self.http_port}",
               "STATS": f"127.0.0.1:{free_port()}"}
        for i, n in enumerate(self.nodes, 1):
            env[f"NODE{i}"] = f"127.0.0.1:{n.http_port}"
        self.edges.append(Logged("haproxy", [
            binary, "-db", "-f", str(DEPLOY / "haproxy" / "haproxy.cfg")], env=env,
            cwd=self.work))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"haproxy never routed /readyz:\n{self.edges[-1].tail()}")

    def close(self) -> None:
        for proc in [*self.edges, *(n.process for n in self.nodes if n.process)]:
            proc.stop()
        shutil.rmtree(self.work, ignore_errors=True)


@contextlib.contextmanager
def running(db: str, *, redis_db: int, kamailio: bool = True,
            extra_env: Callable[[Cluster], dict[str, str]] | None = None) -> Iterator[Cluster]:
    """Three nodes on ``db`` and database ``redis_db`` (flushed first) of the process's
    throwaway Redis, HAProxy in front (and Kamailio), all stopped by PID afterwards;
    ``extra_env`` gives more settings for every node, knowing the cluster's ports."""
    import backend_servers
    import redis as redis_py

    url = backend_servers.redis().rsplit("/", 1)[0] + f"/{redis_db}"
    client = redis_py.Redis.from_url(url)
    client.flushdb()
    client.close()
    nodes = cluster(db, url)
    nodes.extra_env = extra_env(nodes) if extra_env else {}
    try:
        for node in nodes.nodes:
            nodes.start_node(node)
        if kamailio:
            nodes.start_kamailio()
        nodes.start_haproxy()
        yield nodes
    finally:
        nodes.close()


def cluster(db: str, redis: str, count: int = 3) -> Cluster:
    """``count`` nodes (node1...) with their own HTTP, SIP and RTP ports and data folders."""
    work = Path(tempfile.mkdtemp(prefix="callport-edge-"))
    base = 30000 + random.randrange(290) * 100  # RTP: 30 ports per node, away from 20000+
    nodes = [Node(f"node{i}", free_port(), free_port(), (base + i * 30, base + i * 30 + 29),
                  work / f"node{i}") for i in range(1, count + 1)]
    return Cluster(db=db, redis=redis, nodes=nodes, work=work,
                   sip_port=free_port(socket.SOCK_DGRAM), http_port=free_port())


SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!-- A caller through a proxy: the 200's Record-Route set is kept (rrs) and the ACK and BYE
     follow it ([routes], [next_url]), so in-dialog requests reach the node that answered. -->
<scenario name="callport caller through Kamailio">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[local_ip_type] [local_ip]
      t=0 0
      m=audio [auto_media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-11,16
    ]]>
  </send>
  <recv response="100" optional="true"></recv>
  <recv response="180" optional="true"></recv>
  <recv response="183" optional="true"></recv>
  <recv response="200" rtd="true" rrs="true"></recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <nop><action><exec play_pcap_audio="PCAP"/></action></nop>
  <pause/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: [service] <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"></recv>
</scenario>
"""


@dataclass
class SippRun:
    process: Logged
    stats: Path

    def wait(self, timeout: float) -> tuple[int, int]:
        """(successful, failed) calls once sipp is done."""
        try:
            self.process.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.stop(signal.SIGKILL)
            raise AssertionError(f"sipp ran past {timeout} s:\n{self.process.tail()}") from None
        return sipp_counts(self.stats, self.process.tail(200))


def sipp_counts(stats: Path, screen: str) -> tuple[int, int]:
    """(successful, failed) from sipp's statistics file (its last line), else its screen."""
    if stats.is_file():
        rows = [r.split(";") for r in stats.read_text().splitlines() if r.strip()]
        if len(rows) >= 2:
            head, last = rows[0], rows[-1]
            return (int(last[head.index("SuccessfulCall(C)")]),
                    int(last[head.index("FailedCall(C)")]))
    ok = re.findall(r"Successful call\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    bad = re.findall(r"Failed call\s*\|\s*\d+\s*\|\s*(\d+)", screen)
    if not ok:
        raise AssertionError(f"no sipp statistics:\n{screen}")
    return int(ok[-1]), int(bad[-1]) if bad else 0


def sipp(cluster: Cluster, *, calls: int, rate: float, hold_ms: int, tag: str) -> SippRun:
    """``calls`` sipp callers through Kamailio (at most all at once), each ``hold_ms`` long
    after the answer with the g711a pcap playing; returns at once."""
    binary = need("sipp", "sip-tester")
    folder = cluster.work / f"sipp-{tag}"
    folder.mkdir()
    (folder / "caller.xml").write_text(SCENARIO.replace("PCAP", str(PCAP)))
    stats = folder / "stats.csv"
    argv = [binary, f"127.0.0.1:{cluster.sip_port}", "-sf", "caller.xml", "-s", "edge",
            "-i", "127.0.0.1", "-p", str(free_port(socket.SOCK_DGRAM)),
            "-mp", str(free_port(socket.SOCK_DGRAM)),
            "-m", str(calls), "-l", str(calls), "-r", str(rate), "-d", str(hold_ms),
            "-nostdin", "-timeout", "90s", "-timeout_error", "-recv_timeout", "20000",
            "-trace_stat", "-stf", str(stats), "-fd", "1"]
    return SippRun(Logged(f"sipp-{tag}", argv, cwd=folder), stats)
