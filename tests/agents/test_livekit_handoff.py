"""Handing a call to a LiveKit agent through LiveKit SIP, with sipp as the PBX in front of us.

sipp calls callport's SIP channel; the agent is a ConversationRelay app (relay:) that ends the
session with ``{"to": "sip:+15550100@<project>.sip.livekit.cloud", "headers": {...}}``. callport
REFERs the PBX to that LiveKit-shaped URI with the caller's identity as URI headers (the PBX
copies them into its INVITE to LiveKit, which shows them to the agent as ``sip.h.*``); the
scenario checks the Refer-To and answers 202; callport then hangs up (BYE). (The runtime ends
the call as soon as the transfer is accepted, without waiting for the PBX's NOTIFY.)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from adapter_support import EnergyVad, ScriptedSTT, ToneTTS
from relay_app import RelayApp, Send

sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
from sip_support import free_udp_port, needs_sipp, open_channel, run_sipp

from callport.config import AgentSettings, IdentitySettings, ServerSettings, Settings
from callport.server.runtime import build_runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryTokenStore, MemoryUserStore
from callport.store.tasks import MemoryTaskLists

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]

SCENARIO = Path(__file__).parent / "scenarios" / "uac_livekit_handoff.xml"
LIVEKIT = "sip:+15550100@myproject.sip.livekit.cloud"


async def to_livekit(msg: dict[str, Any], send: Send) -> None:
    if msg.get("type") == "setup":
        await send({"type": "end", "handoffData": {
            "reasonCode": "live-agent-handoff", "to": LIVEKIT,
            "headers": {"X-Caller-Tier": "gold"}}})


async def test_a_relay_end_hands_the_call_to_a_livekit_sip_uri_with_identity(
    tmp_path: Path,
) -> None:
    async with RelayApp(to_livekit) as app:
        settings = Settings(server=ServerSettings(agent=f"relay:{app.url}", db=":memory:"),
                            identity=IdentitySettings(unknown="owner"),
                            agent=AgentSettings(connect_timeout_s=2.0, reply_timeout_s=3.0))
        users = MemoryUserStore()
        calls = MemoryCallStore()
        runtime = build_runtime(settings, stt=ScriptedSTT([]), tts=ToneTTS(),
                                vad=EnergyVad(),  # type: ignore[arg-type]
                                calls=calls, tasks=MemoryTaskLists(), users=users,
                                tokens=MemoryTokenStore(users=users))
        async with open_channel(runtime) as channel:
            rc, out = await run_sipp(
                "-sf", str(SCENARIO), f"127.0.0.1:{channel.port}", "-i", "127.0.0.1",
                "-p", str(free_udp_port()), "-m", "1", "-trace_msg", cwd=tmp_path,
                timeout=25)
        assert rc == 0, out[-3000:]
    (setup,) = app.messages("setup")
    assert setup["callType"] == "SIP"
    (record,) = await calls.list_recent()
    events = [(e.kind, e.detail) for e in await calls.events(record.call_id)]
    assert any(kind == "agent" and "live-agent-handoff" in detail for kind, detail in events)
