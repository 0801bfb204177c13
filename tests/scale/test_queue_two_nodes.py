"""End to end across two real ``callport serve`` nodes on one PostgreSQL + Redis: agent alice's
phone (baresip) registers to node B; a SIP caller (another baresip) calls node A, whose flow
puts them in queue ``support``; node A's queue rings alice on node B through the signed relay,
she answers, and audio flows both ways (each phone's recording correlates with what the other
phone sent); node A's call record says alice answered. Then node B is killed: alice goes
offline in the shared state."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from backend_servers import redis as redis_server
from edges import CALLPORT, Cluster, Logged, Node, cluster

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sip"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "queues"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "call"))
from sip_support import BARESIP, baresip_ctrl, stop_baresip
from test_reach_e2e import band_noise, good_windows, heard, start_baresip, up16, write_wav

from callport.queues.shared import SharedStatus
from callport.queues.shared_redis import RedisQueueState
from callport.store.live_redis import connect
from callport.store.postgres_stores import pg_stores

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(BARESIP is None, reason="baresip not installed")]

SECRET = "two-node-test-node-secret-0123456789"
CONFIG = """
[queues]
ring_timeout_s = 20.0
wrap_up_s = 0.0
max_wait_s = 0.0
announce_every_s = 0.0

[queues.support]
"""


def start(cl: Cluster, node: Node, config: Path) -> None:
    env = {**cl.env(node), "CALLPORT_NODE_SECRET": SECRET, "CALLPORT_NODE_URL": node.url,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                          os.environ.get("PYTHONPATH", "")])}
    node.process = Logged(node.name, [
        CALLPORT, "serve", "--no-warmup", "--port", str(node.http_port),
        "--sip-port", str(node.sip_port), "--node-id", node.name, "--config", str(config),
        "--flow", "queue_flow:support"], env=env)
    node.process.wait_for(r"Uvicorn running", 90)



async def agent_status(state: RedisQueueState, name: str) -> SharedStatus | None:
    got = {a.name: a.status for a in await state.agents(now=time.time())}
    return got.get(name)


async def test_a_caller_on_node_a_is_answered_by_alice_on_node_b(
        pg_url: str, tmp_path: Path) -> None:
    cl = cluster(pg_url, redis_server(), count=2)
    config = tmp_path / "callport.toml"
    config.write_text(CONFIG)
    node_a, node_b = cl.nodes
    state = RedisQueueState(connect(cl.redis))
    caller_src, alice_src = band_noise(40, 8000, seed=21), band_noise(40, 8000, seed=22)
    write_wav(tmp_path / "caller.wav", caller_src, 8000)
    write_wav(tmp_path / "alice.wav", alice_src, 8000)
    alice = caller = None
    try:
        stores = pg_stores(pg_url)  # (`callport users` opens SQLite only, not a URL)
        await stores.users.add("alice", password="alice-pass-two-nodes", roles=["agent"],
                               queues=["support"])
        await stores.db.close()
        for node in cl.nodes:
            start(cl, node, config)
        await asyncio.sleep(3.0)  # node B's registrar has loaded the agents' digest keys
        alice, alice_ctrl = await start_baresip(
            tmp_path / "alice", source=tmp_path / "alice.wav",
            account=(f"<sip:alice@127.0.0.1:{node_b.sip_port}>;auth_pass=alice-pass-two-nodes;"
                     "regint=600;answermode=auto;audio_codecs=PCMU"))
        async with asyncio.timeout(30):  # registered on B, seen by the cluster
            while await agent_status(state, "alice") is not SharedStatus.AVAILABLE:
                await asyncio.sleep(0.2)
        seen = {a.name: a for a in await state.agents(now=time.time())}
        assert seen["alice"].node == node_b.name
        caller, caller_ctrl = await start_baresip(
            tmp_path / "caller", source=tmp_path / "caller.wav",
            account="<sip:+15550002@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU",
            dial=f"sip:support@127.0.0.1:{node_a.sip_port}")
        async with asyncio.timeout(30):  # node A's caller, bridged to alice on node B
            while await agent_status(state, "alice") is not SharedStatus.BUSY:
                await asyncio.sleep(0.1)
        seen = {a.name: a for a in await state.agents(now=time.time())}
        assert seen["alice"].by == node_a.name
        await asyncio.sleep(6.0)  # both talk across the nodes
        await baresip_ctrl(caller_ctrl, "hangup")
        async with asyncio.timeout(20):  # the bridge is over: alice is free again
            while await agent_status(state, "alice") is not SharedStatus.AVAILABLE:
                await asyncio.sleep(0.2)
        await stop_baresip(caller, caller_ctrl)
        caller = None
        stores = pg_stores(pg_url)  # node A's call record, in the shared database
        rows = await stores.calls.list_recent(10)
        await stores.db.close()
        answered = [r for r in rows if r.disposition.startswith("queue:support agent:alice")]
        assert len(answered) == 1, rows
        # node B dies: alice, whose phone was on it, goes offline for everybody
        assert node_b.process is not None
        node_b.process.proc.send_signal(signal.SIGKILL)
        node_b.process.proc.wait(10)
        async with asyncio.timeout(20):
            while await agent_status(state, "alice") is not SharedStatus.OFFLINE:
                await asyncio.sleep(0.2)
    finally:
        if alice is not None:
            await stop_baresip(alice, alice_ctrl)
        if caller is not None:
            await stop_baresip(caller, caller_ctrl)
        logs = "\n".join(n.process.tail() for n in cl.nodes if n.process)
        cl.close()
        await state.client.aclose()
    caller_heard = heard(tmp_path / "caller" / "rec")
    alice_heard = heard(tmp_path / "alice" / "rec")
    r_caller = good_windows(up16(alice_src, 8000), up16(caller_heard, 8000))
    r_alice = good_windows(up16(caller_src, 8000), up16(alice_heard, 8000))
    print("caller hears alice:", np.round(sorted(r_caller)[-6:], 3),
          "alice hears caller:", np.round(sorted(r_alice)[-6:], 3))
    assert sum(r >= 0.9 for r in r_caller) >= 4, logs  # 2 s of alice, faithfully, on node A
    assert sum(r >= 0.9 for r in r_alice) >= 4, logs
