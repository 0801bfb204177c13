"""Two SIP callers with different caller IDs are two different users: each call's Task
Manager reads only that user's list. The real Runtime (SQLite users and tasks, the identity
gate, the default Task Manager agent factory) behind the SIP channel; sipp places the calls;
the flow asks each call's agent "list my tasks" (a keyword intent: no speech models needed)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sip_support import free_udp_port, needs_sipp, rtp_range, run_sipp

from callport.agents.base import Say, UserSaid
from callport.call.call import Call
from callport.channels.sip import create
from callport.config import Settings, SipSettings

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]
SCENARIO = Path(__file__).parent / "scenarios" / "uac_caller_id.xml"


async def test_two_caller_ids_are_two_users_with_their_own_tasks(tmp_path: Path) -> None:
    from callport.server.runtime import build_runtime
    from callport.vad.batcher import VadBatcher
    from callport.vad.webrtc import WebRtcVad

    low, high = rtp_range()
    base = Settings()
    settings = replace(
        base, server=replace(base.server, db=str(tmp_path / "cp.db")),
        sip=SipSettings(enabled=True, host="127.0.0.1", port=0, rtp_port_min=low,
                        rtp_port_max=high))  # identity.unknown stays "reject"
    heard: dict[str, tuple[str, str]] = {}  # call id -> (user name, what the agent said)

    async def flow(call: Call) -> None:
        agent = call.new_agent()
        said = [out.text async for out in agent.respond(UserSaid("list my tasks"))
                if isinstance(out, Say)]
        assert call.info.user is not None
        heard[call.info.call_id] = (call.info.user.name, " ".join(said))
        await asyncio.sleep(30)  # until the caller hangs up

    runtime = build_runtime(settings, vad=VadBatcher(WebRtcVad()), flow=flow)
    await runtime.users.add("alice", phones=["+15550001111"])
    await runtime.users.add("bob", phones=["+15550002222"])
    await runtime.tasks.of("alice").add("feed the cat")
    await runtime.tasks.of("bob").add("fix the bike")
    channel = create(runtime)
    await channel.start()
    try:
        for number in ("+15550001111", "+15550002222"):
            rc, out = await run_sipp(
                "-sf", str(SCENARIO), f"127.0.0.1:{channel.port}", "-i", "127.0.0.1",
                "-p", str(free_udp_port()), "-mp", str(free_udp_port() & ~1), "-m", "1",
                "-key", "from_user", number, "-key", "pai", number, cwd=tmp_path, timeout=15)
            assert rc == 0, out[-2000:]
        await asyncio.sleep(0.2)
    finally:
        await channel.stop()
    assert sorted(name for name, _ in heard.values()) == ["alice", "bob"]
    for name, said in heard.values():
        mine, theirs = ("feed the cat", "fix the bike")[:: 1 if name == "alice" else -1]
        assert mine in said.lower() and theirs not in said.lower(), (name, said)
