"""The SIP channel on the real Runtime (echo flow, webrtc VAD), malformed input, place_call."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sip_support import (
    PCAP_DIR,
    SIPP,
    free_udp_port,
    needs_sipp,
    rtp_range,
    run_sipp,
)

from callport.agents.base import CallInfo
from callport.call.events import AudioIn, HungUp
from callport.call.leg import Leg
from callport.channels.sip import create
from callport.channels.sip.channel import SipChannel
from callport.channels.sip.cli import place_call
from callport.config import Settings, SipSettings


def settings_for(tmp_path: Path) -> Settings:
    low, high = rtp_range()
    base = Settings()
    # sipp's callers ("sipp", "svc") are no user: they go through as guests here (the
    # identity gate itself is tested in test_sip_two_users and tests/flows).
    return replace(base, server=replace(base.server, db=str(tmp_path / "cp.db")),
                   identity=replace(base.identity, unknown="guest"),
                   sip=SipSettings(enabled=True, host="127.0.0.1", port=0, rtp_port_min=low,
                                   rtp_port_max=high))


@pytest.mark.slow
@pytest.mark.interop
@needs_sipp
async def test_uac_pcap_through_real_runtime_echo_flow(tmp_path: Path) -> None:
    from callport.flows.echo import echo_flow
    from callport.server.runtime import build_runtime
    from callport.vad.batcher import VadBatcher
    from callport.vad.webrtc import WebRtcVad

    runtime = build_runtime(settings_for(tmp_path), vad=VadBatcher(WebRtcVad()), flow=echo_flow)
    channel = create(runtime)
    await channel.start()
    try:
        (tmp_path / "pcap").symlink_to(PCAP_DIR)
        _, xml = await run_sipp("-sd", "uac_pcap", cwd=tmp_path)
        (tmp_path / "uac_pcap.xml").write_text(xml)
        rc, out = await run_sipp("-sf", "uac_pcap.xml", f"127.0.0.1:{channel.port}",
                                 "-i", "127.0.0.1", "-p", str(free_udp_port()),
                                 "-mp", str(free_udp_port() & ~1), "-m", "1", cwd=tmp_path)
        assert rc == 0, out[-2000:]
        await asyncio.sleep(0.3)
        [call] = channel.finished
        assert call.leg.hangup_reason == "remote-bye"
        assert call.leg.media is not None and call.leg.media.frames_in >= 340
        assert call.leg.media.digits == ["1"]
        assert call.leg.frames_out >= 300  # the echo flow played the caller back
        assert runtime.active == {}
    finally:
        await channel.stop()


async def test_malformed_datagrams_never_crash_or_leak(channel: SipChannel) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    junk = [b"\x00" * 40, b"INVITE sip:x SIP/2.0\r\n\r\n", b"SIP/2.0 200 OK\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 4,
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKq\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: q\r\nCSeq: 1 INVITE\r\n"
            b"Content-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n",
            b"FOO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKf\r\n"
            b"From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: f\r\nCSeq: 1 FOO\r\n\r\n"]
    loop = asyncio.get_running_loop()
    for data in junk:
        sock.sendto(data, ("127.0.0.1", channel.port))
    await asyncio.sleep(0.2)
    options = (b"OPTIONS sip:bot@127.0.0.1 SIP/2.0\r\n"
               b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKopt\r\n"
               b"From: <sip:probe@127.0.0.1>;tag=9\r\nTo: <sip:bot@127.0.0.1>\r\n"
               b"Call-ID: opt1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
               % sock.getsockname()[1])
    sock.sendto(options, ("127.0.0.1", channel.port))
    replies = []
    sock.setblocking(False)
    deadline = loop.time() + 2
    while loop.time() < deadline:
        try:
            replies.append(sock.recv(65535))
        except BlockingIOError:
            await asyncio.sleep(0.05)
            if any(b"opt1" in r for r in replies):
                break
    sock.close()
    assert any(r.startswith(b"SIP/2.0 200") and b"opt1" in r for r in replies)
    assert any(r.startswith(b"SIP/2.0 405") for r in replies)  # FOO
    assert any(r.startswith(b"SIP/2.0 488") for r in replies)  # bad SDP
    assert channel.calls == {} and channel.pool.in_use == set()
    assert channel.ua is not None and channel.ua.active_calls() == 0


class ToneRuntime:
    """Plays 1 s of tone, counts what comes back, hangs up."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.heard = 0
        self.info: CallInfo | None = None

    async def run_call(self, leg: Leg, info: CallInfo) -> None:
        self.info = info
        tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16)

        async def listen() -> None:
            while not isinstance(event := await leg.recv(), HungUp):
                if isinstance(event, AudioIn) and np.abs(event.pcm).max() > 4000:
                    self.heard += 1

        task = asyncio.create_task(listen())
        for _ in range(50):
            await leg.send_audio(tone)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        await leg.hangup()
        await task


@pytest.mark.slow
@pytest.mark.interop
@needs_sipp
async def test_place_call_runs_call_to_the_end(tmp_path: Path) -> None:
    assert SIPP is not None
    runtime = ToneRuntime(settings_for(tmp_path))
    port = free_udp_port()
    proc = await asyncio.create_subprocess_exec(
        SIPP, "-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-p", str(port),
        "-mp", str(free_udp_port() & ~1), "-m", "1", "-nostdin", "-timeout", "20s",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=tmp_path)
    await asyncio.sleep(0.3)
    call_id = await asyncio.wait_for(place_call(runtime, f"sip:svc@127.0.0.1:{port}"), 15)
    assert runtime.info is not None and runtime.info.call_id == call_id
    assert runtime.info.channel == "sip"
    assert runtime.heard >= 40
    assert await asyncio.wait_for(proc.wait(), 10) == 0
