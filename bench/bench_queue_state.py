"""The shared queue state's cost on a real Redis (callport.queues.shared_redis): what queues
across nodes add per queued call and per node beat, as the number of waiting callers and
agents grows.

For each size (``--waiting`` callers already in line spread over ``--nodes`` nodes, ``--agents``
agents seen on those nodes), printed:

- per answered call, the steps a node takes (join, claim, answer, leave, the agent's end):
  Redis commands (INFO commandstats delta: an EVALSHA counts once, the commands inside the
  script count too) and the time of each step (p50 / p99 over ``--calls`` calls, one at a time,
  so this is latency, not throughput);
- per beat of one node (heartbeat, its agents seen, sweep, every agent's state, the callers of
  each queue): Redis commands and time. A node beats every 2 s.

    python bench/bench_queue_state.py [--waiting 10,1000,5000] [--agents 50] [--nodes 3]

Needs the Debian package redis-server (make test); starts a throwaway one on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))

import backend_servers

from callport.queues.cluster import QueueCluster
from callport.queues.shared import Claim, WaitingCaller
from callport.queues.shared_redis import RedisQueueState
from callport.store.live_redis import connect

QUEUES = ("support", "sales", "billing")


async def commands(client: object) -> int:
    stats = await client.info("commandstats")  # type: ignore[attr-defined]
    return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_")
               and k != "cmdstat_info")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def one_size(url: str, *, waiting: int, agents: int, nodes: int, calls: int) -> None:
    client = connect(url)
    await client.flushdb()
    prefix = f"b{waiting}:"
    state = RedisQueueState(client, prefix=prefix)
    now = time.time()
    names = [f"node{i}" for i in range(nodes)]
    for n in names:
        await state.heartbeat(n, url=f"http://{n}", ttl_s=3600, now=now)
    for i in range(agents):
        await state.agent_seen(f"agent{i:04d}", names[i % nodes], away=False, ttl_s=3600,
                               now=now)
    for i in range(waiting):  # already in line, not yet rung
        await state.join(WaitingCaller(call_id=f"w{i}", queue=QUEUES[i % len(QUEUES)],
                                       node=names[i % nodes], joined_at=now - 3600 + i))
    steps: dict[str, list[float]] = {k: [] for k in ("join", "claim", "answer", "leave",
                                                     "ended")}
    before = await commands(client)
    for i in range(calls):  # the newest caller gets an agent (the claim checks those ahead)
        call, agent, node = f"c{i}", f"agent{i % agents:04d}", names[i % nodes]
        for step, coro in (
            ("join", partial(state.join, WaitingCaller(
                call_id=call, queue="support", node=node, joined_at=time.time(), priority=1))),
            ("claim", partial(state.claim, call, agent, node, now=time.time())),
            ("answer", partial(state.answer, call, agent, node, now=time.time())),
            ("leave", partial(state.leave, call)),
            ("ended", partial(state.ended, agent, wrap_up_s=0, now=time.time())),
        ):
            t0 = time.perf_counter()
            got = await coro()
            steps[step].append(time.perf_counter() - t0)
            assert step != "claim" or got is Claim.OK, got
    per_call = (await commands(client) - before) / calls
    cluster = QueueCluster(state=state, node=names[0], url="http://node0", secret="x",
                           settings=_settings())
    local = {f"agent{i:04d}": False for i in range(0, agents, nodes)}
    before, t0 = await commands(client), time.perf_counter()
    beats = 5
    for _ in range(beats):
        await cluster.beat(local)
    beat_s = (time.perf_counter() - t0) / beats
    per_beat = (await commands(client) - before - 1) / beats
    print(f"waiting {waiting:>5}, agents {agents}, nodes {nodes}: per answered call "
          f"{per_call:.1f} Redis commands; " + ", ".join(
              f"{k} {pct(v, 0.5):.2f}/{pct(v, 0.99):.2f} ms" for k, v in steps.items())
          + f"; per beat of one node {per_beat:.0f} commands, {beat_s * 1000:.1f} ms "
          f"(mean {statistics.mean(steps['claim']) * 1000:.2f} ms per claim)")
    await client.aclose()


def _settings() -> object:
    from callport.config_queues import QueueSettings, QueuesSettings

    return QueuesSettings(named=tuple(QueueSettings(name=q) for q in QUEUES))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", default="10,1000,5000")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    url = backend_servers.redis()
    print(f"load average {os.getloadavg()[0]:.1f}; Redis {url}")
    for size in (int(x) for x in args.waiting.split(",")):
        await one_size(url, waiting=size, agents=args.agents, nodes=args.nodes,
                       calls=args.calls)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
