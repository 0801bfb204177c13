"""baresip registers to callport as agent alice with digest auth (and un-registers on quit);
a wrong password, a non-agent user and an unknown one are refused; sipp registers with digest
for 2 s and the expired binding is dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sip_support import (
    BARESIP,
    SIPP,
    RecordingRuntime,
    free_udp_port,
    open_channel,
    run_sipp,
    stop_baresip,
    write_baresip_config,
)
from test_sip_baresip import write_tone

from callport.store.memory_users import MemoryUserStore
from callport.store.users import UserStore

pytestmark = [pytest.mark.slow, pytest.mark.interop]
needs_baresip = pytest.mark.skipif(BARESIP is None, reason="baresip not installed")
SCENARIOS = Path(__file__).parent / "scenarios"


@dataclass(slots=True, kw_only=True)
class AgentsRuntime(RecordingRuntime):
    users: UserStore = field(default_factory=MemoryUserStore)


async def people() -> MemoryUserStore:
    users = MemoryUserStore()
    await users.add("alice", password="alice-pass-1", roles=["agent"])
    await users.add("bob", password="bob-pass-22", roles=["user"])
    return users


async def until(check: Callable[[], bool], timeout: float = 8.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


async def run_baresip(tmp_path: Path, port: int, user: str, password: str
                      ) -> tuple[asyncio.subprocess.Process, int]:
    assert BARESIP is not None
    write_tone(tmp_path / "tone.wav", 5.0)
    sip_port, ctrl_port = free_udp_port(), free_udp_port()
    account = (f"<sip:{user}@127.0.0.1:{port}>;auth_pass={password};regint=600;"
               "answermode=manual;audio_codecs=PCMU,PCMA")
    conf = write_baresip_config(tmp_path, source_wav=tmp_path / "tone.wav", sip_port=sip_port,
                                ctrl_port=ctrl_port, rtp_low=41000 + (sip_port % 200) * 50,
                                account=account)
    proc = await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(conf), "-t", "30",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return proc, ctrl_port


@needs_baresip
async def test_baresip_registers_as_agent_alice_and_unregisters(tmp_path: Path) -> None:
    runtime = AgentsRuntime(users=await people())
    async with open_channel(runtime) as ch:
        assert ch.agents is not None
        proc, ctrl = await run_baresip(tmp_path, ch.port, "alice", "alice-pass-1")
        try:
            assert await until(lambda: ch.agents is not None and ch.agents.online("alice"))
            [binding] = ch.agents.contacts("alice")
            assert binding.source[0] == "127.0.0.1" and binding.transport == "UDP"
            assert "baresip" in binding.user_agent.lower()
            assert ch.agents.registrar.stats["challenged"] >= 1  # it had to answer a digest
        finally:
            await stop_baresip(proc, ctrl)  # baresip un-registers (Expires: 0) as it quits
        assert await until(lambda: ch.agents is not None and not ch.agents.online("alice"))


@needs_baresip
@pytest.mark.parametrize(("user", "password"), [("alice", "wrong-password"),
                                                ("bob", "bob-pass-22"),
                                                ("mallory", "whatever-pass")])
async def test_refused_registrations(tmp_path: Path, user: str, password: str) -> None:
    runtime = AgentsRuntime(users=await people())
    async with open_channel(runtime) as ch:
        assert ch.agents is not None
        proc, ctrl = await run_baresip(tmp_path, ch.port, user, password)
        try:
            reg = ch.agents.registrar
            assert await until(lambda: reg.stats["refused"] >= 1, timeout=15.0)
        finally:
            await stop_baresip(proc, ctrl)
        assert ch.agents.registrar.location.agents(0.0) == []
        assert not ch.agents.online(user)


@needs_baresip
async def test_an_agent_added_later_registers_without_a_restart(tmp_path: Path) -> None:
    users = MemoryUserStore()
    runtime = AgentsRuntime(users=users)
    async with open_channel(runtime) as ch:
        assert ch.agents is not None
        await users.add("alice", password="alice-pass-1", roles=["agent"])
        proc, ctrl = await run_baresip(tmp_path, ch.port, "alice", "alice-pass-1")
        try:  # refused while unknown; that wakes a reload of the agents
            assert await until(lambda: ch.agents is not None and ch.agents.registrar.knows("alice"),
                               timeout=10.0)
        finally:
            await stop_baresip(proc, ctrl)


@pytest.mark.skipif(SIPP is None, reason="sipp (sip-tester) not installed")
@pytest.mark.parametrize(("password", "ok"), [("alice-pass-1", True), ("not-her-password", False)])
async def test_sipp_registers_with_digest_and_the_expired_binding_is_dropped(
        tmp_path: Path, password: str, ok: bool) -> None:
    runtime = AgentsRuntime(users=await people())
    async with open_channel(runtime, registrar_min_expires_s=1) as ch:
        assert ch.agents is not None
        rc, out = await run_sipp(
            "-sf", str(SCENARIOS / "register_agent.xml"), f"127.0.0.1:{ch.port}",
            "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", "1", "-s", "alice",
            "-au", "alice", "-ap", password, cwd=tmp_path, timeout=10)
        assert (rc == 0) is ok, out[-800:]
        if not ok:  # 403: nothing bound
            assert not ch.agents.online("alice") and len(ch.agents.registrar.location) == 0
            return
        [binding] = ch.agents.contacts("alice")
        assert binding.user_agent == "sipp"
        # Expires: 2 -> the registrar's own loop drops it (at most REFRESH_S later)
        assert await until(lambda: len(ch.agents.registrar.location) == 0, timeout=12.0)
        assert not ch.agents.online("alice")
