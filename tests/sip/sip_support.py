"""Shared fixtures for the SIP tests: a recording echo runtime, a started channel, sipp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from callport.agents.base import CallInfo
from callport.call.events import AudioIn, Dtmf, HungUp, Marked, TransferStarted
from callport.call.leg import Leg
from callport.channels.sip.channel import SipChannel
from callport.channels.sip.message import SipRequest, make_response, parse_message
from callport.channels.sip.srv import SrvRecord
from callport.config import SipSettings
from loadgen.ports import free_sip_port

SIPP = shutil.which("sipp")
PCAP_DIR = Path("/usr/share/sip-tester")


@dataclass(slots=True)
class CallRecord:
    info: CallInfo
    frames: int = 0
    digits: list[str] = field(default_factory=list)
    marks: list[Marked] = field(default_factory=list)
    hangup: str = ""
    transfers: list[str] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class RecordingRuntime:
    """Echoes the caller's audio, records frames/digits; optional scripted actions."""

    settings: object = None
    echo: bool = True
    transfer_to: str | None = None
    hangup_after_frames: int | None = None
    calls: list[CallRecord] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        record = CallRecord(info)
        self.calls.append(record)
        while True:
            event = await leg.recv()
            match event:
                case AudioIn(pcm=pcm):
                    record.frames += 1
                    if self.echo:
                        await leg.send_audio(pcm)
                    if record.frames == 25:
                        await leg.mark("m25")
                        if self.transfer_to:
                            await leg.transfer(self.transfer_to)
                    if self.hangup_after_frames and record.frames >= self.hangup_after_frames:
                        await leg.hangup("test")
                case Dtmf(digit=digit):
                    record.digits.append(digit)
                case Marked():
                    record.marks.append(event)
                case TransferStarted(target=target):
                    record.transfers.append(target)
                case HungUp(reason=reason):
                    record.hangup = reason
                    self.ended.set()
                    return
                case _:
                    pass


def free_udp_port() -> int:
    """A port free on UDP *and* TCP: baresip's ``sip_listen`` binds both (and its ctrl_tcp
    listens on TCP), so a port held on TCP by an earlier connection made it fail to start."""
    return free_sip_port()


def rtp_range() -> tuple[int, int]:
    low = random.randrange(30000, 60000, 200)
    return low, low + 198


@pytest.fixture
def runtime() -> RecordingRuntime:
    return RecordingRuntime()


@contextlib.asynccontextmanager
async def open_channel(runtime: object, **settings: Any) -> AsyncIterator[SipChannel]:
    """A started SipChannel on 127.0.0.1 (free port, own RTP range) with ``settings``."""
    low, high = rtp_range()
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "rtp_port_min": low,
                              "rtp_port_max": high, "media_timeout_s": 5.0, **settings}
    ch = SipChannel(runtime, settings=SipSettings(**values))  # type: ignore[arg-type]
    await ch.start()
    try:
        yield ch
    finally:
        await ch.stop()


@pytest.fixture
async def channel(runtime: RecordingRuntime) -> AsyncIterator[SipChannel]:
    async with open_channel(runtime) as ch:
        yield ch


async def run_sipp(*args: str, cwd: Path, timeout: float = 30.0) -> tuple[int, str]:
    assert SIPP is not None
    proc = await asyncio.create_subprocess_exec(
        SIPP, *args, "-nostdin", "-timeout", f"{int(timeout)}s",
        cwd=str(cwd), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout + 10)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace")


needs_sipp = pytest.mark.skipif(SIPP is None, reason="sipp (sip-tester) not installed")


BARESIP = shutil.which("baresip")


def write_baresip_config(
    root: Path, *, source_wav: Path, sip_port: int, ctrl_port: int, rtp_low: int, account: str
) -> Path:
    """A baresip config dir: ``source_wav`` is its microphone, ``root/rec`` gets what it hears."""
    conf = root / "baresip"
    conf.mkdir()
    (root / "rec").mkdir()
    (conf / "config").write_text(f"""poll_method epoll
sip_listen 127.0.0.1:{sip_port}
audio_player alsa,null
audio_alert alsa,null
audio_source aufile,{source_wav}
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports {rtp_low}-{rtp_low + 98}
snd_path {root / 'rec'}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
""")
    (conf / "accounts").write_text(account + "\n")
    return conf


async def baresip_ctrl(port: int, command: str) -> None:
    """Send one command over baresip's ctrl_tcp (netstring JSON)."""
    body = json.dumps({"command": command, "token": "t"}).encode()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    writer.write(b"%d:%s," % (len(body), body))
    await writer.drain()
    writer.close()


async def stop_baresip(proc: asyncio.subprocess.Process, ctrl_port: int) -> None:
    """Ask the baresip we started to quit; kill that one process if it does not."""
    await baresip_ctrl(ctrl_port, "quit")
    try:
        await asyncio.wait_for(proc.wait(), 5)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class FakeResolver:
    """Fixed records; records every query so tests can check what was asked."""

    def __init__(self, srv: dict[str, list[SrvRecord]], hosts: dict[str, list[str]]) -> None:
        self._srv = srv
        self._hosts = hosts
        self.queries: list[str] = []

    async def srv(self, name: str) -> list[SrvRecord]:
        self.queries.append(f"SRV {name}")
        return self._srv.get(name, [])

    async def addresses(self, host: str) -> list[str]:
        self.queries.append(f"A {host}")
        return self._hosts.get(host, [])


class Peer(asyncio.DatagramProtocol):
    """A UDP 'SIP server' that records requests and answers INVITEs with ``status`` (or not)."""

    def __init__(self, status: int | None) -> None:
        self.status = status
        self.requests: list[SipRequest] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = parse_message(data)
        assert isinstance(msg, SipRequest)
        self.requests.append(msg)
        if self.status is not None and msg.method == "INVITE" and self.transport is not None:
            self.transport.sendto(bytes(make_response(msg, self.status, to_tag="busy")), addr)


PeerFactory = Callable[[int | None], Awaitable[tuple[Peer, int]]]


@pytest.fixture
async def udp_peer() -> AsyncIterator[PeerFactory]:
    """``await udp_peer(status)`` -> (Peer, port) on 127.0.0.1; closed after the test."""
    made: list[asyncio.DatagramTransport] = []

    async def make(status: int | None) -> tuple[Peer, int]:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(
            lambda: Peer(status), local_addr=("127.0.0.1", 0))
        made.append(transport)
        return proto, int(transport.get_extra_info("sockname")[1])

    yield make
    for transport in made:
        transport.close()


async def start_sipp_uas(tmp_path: Path, *args: str) -> tuple[asyncio.subprocess.Process, int]:
    """A one-call sipp server (``-sn uas`` or ``-sf FILE``) on a free port; (process, port)."""
    assert SIPP is not None
    port = free_udp_port()
    proc = await asyncio.create_subprocess_exec(
        SIPP, *args, "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_udp_port() & ~1),
        "-m", "1", "-nostdin", "-timeout", "20s", cwd=str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await asyncio.sleep(0.3)
    return proc, port


async def finish(proc: asyncio.subprocess.Process) -> int:
    try:
        return await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return -1
