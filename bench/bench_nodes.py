"""Calls carried by 1, 2 and 3 callport nodes on this machine, behind Kamailio, on one
PostgreSQL + Redis (the same edges as tests/scale/test_three_nodes.py: deploy/kamailio).

For each cluster size N, ``--per-node`` sipp callers per node (all at once, through Kamailio,
g711a pcap playing, echo flow) hold for ``--hold`` seconds. Printed per N:

- CPU-ms per call-second for each node (its process's user+system CPU over the run, divided
  by the call-seconds it carried: its calls x the hold), and Kamailio's CPU-ms per call;
- shared-state round trips per call: Redis commands (INFO commandstats, summed) and
  PostgreSQL transactions (pg_stat_database xact_commit + xact_rollback) during the calls,
  less what the idle nodes do in the same time (heartbeats, sweeps: measured first, printed
  per node-second).

    python bench/bench_nodes.py [--nodes 1,2,3] [--per-node 8] [--hold 10]

Needs the Debian packages postgresql, redis-server, kamailio and sip-tester (make test).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))

import backend_servers
import psycopg
import redis as redis_py
from edges import Cluster, cluster, sipp

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds so far of a process and its live descendants (Kamailio's
    work is done by its children) from /proc/PID/stat."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        used[child] = (int(fields[11]) + int(fields[12])) / TICK
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += used.get(p, 0.0)
        todo.extend(c for c, parent in parents.items() if parent == p)
    return total


def redis_by_command(client: redis_py.Redis) -> dict[str, int]:
    """Commands the Redis server has run, per command (INFO commandstats), less INFO itself."""
    stats = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()
            if k != "cmdstat_info"}


def redis_commands(client: redis_py.Redis) -> int:
    return sum(redis_by_command(client).values())


def pg_transactions(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                           "WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0]) - 1  # this query's own transaction


def shared_counts(c: Cluster, client: redis_py.Redis) -> tuple[int, int]:
    return redis_commands(client), pg_transactions(c.db)


def measure(n: int, *, per_node: int, hold_s: float, idle_s: float) -> dict[str, object]:
    pg = backend_servers.postgres()
    db, schema = backend_servers.fresh_schema(pg)
    redis_url = backend_servers.redis().rsplit("/", 1)[0] + "/13"
    client = redis_py.Redis.from_url(redis_url)
    client.flushdb()
    c = cluster(db, redis_url, count=n)
    try:
        for node in c.nodes:
            c.start_node(node)
        c.start_kamailio()
        time.sleep(3)  # start-up writes (migrations, first beats) settle
        # What idle nodes cost the shared state (heartbeats, sweeps), per node-second.
        r0, p0 = shared_counts(c, client)
        time.sleep(idle_s)
        r1, p1 = shared_counts(c, client)
        idle_redis = (r1 - r0) / idle_s
        idle_pg = (p1 - p0) / idle_s
        calls = per_node * n
        before_calls = {nd.name: nd.metric("callport_calls_total") for nd in c.nodes}
        pids = {nd.name: nd.process.proc.pid for nd in c.nodes if nd.process}
        kam_pid = c.edges[0].proc.pid
        cpu0 = {name: cpu_s(pid) for name, pid in pids.items()}
        kam0 = cpu_s(kam_pid)
        r0, p0 = shared_counts(c, client)
        kinds0 = redis_by_command(client)
        start = time.monotonic()
        run = sipp(c, calls=calls, rate=50, hold_ms=int(hold_s * 1000), tag=f"bench{n}")
        ok, failed = run.wait(hold_s + 60)
        elapsed = time.monotonic() - start
        time.sleep(1)  # the last records are written
        r1, p1 = shared_counts(c, client)
        kinds = {k: v - kinds0.get(k, 0) for k, v in redis_by_command(client).items()}
        cpu1 = {name: cpu_s(pid) for name, pid in pids.items()}
        kam1 = cpu_s(kam_pid)
        carried = {nd.name: nd.metric("callport_calls_total") - before_calls[nd.name]
                   for nd in c.nodes}
        per_call_s = {name: 1000 * (cpu1[name] - cpu0[name]) / max(carried[name] * hold_s, 1e-9)
                      for name in pids}
        redis_per_call = (r1 - r0 - idle_redis * elapsed) / max(ok, 1)
        pg_per_call = (p1 - p0 - idle_pg * elapsed) / max(ok, 1)
        return {"nodes": n, "calls": calls, "ok": ok, "failed": failed, "carried": carried,
                "cpu_ms_per_call_s": per_call_s,
                "kamailio_cpu_ms": 1000 * (kam1 - kam0),
                "kamailio_cpu_ms_per_call": 1000 * (kam1 - kam0) / max(ok, 1),
                "redis_per_call": redis_per_call, "pg_per_call": pg_per_call,
                "redis_kinds": {k: round(v / max(ok, 1), 1) for k, v in sorted(kinds.items())
                                if v},
                "idle_redis_per_node_s": idle_redis / n, "idle_pg_per_node_s": idle_pg / n}
    finally:
        c.close()
        client.close()
        backend_servers.drop_schema(pg, schema)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="1,2,3", help="cluster sizes to run, e.g. 1,2,3")
    ap.add_argument("--per-node", type=int, default=8, help="calls at once per node (<= 30)")
    ap.add_argument("--hold", type=float, default=10.0, help="seconds each call lasts")
    ap.add_argument("--idle", type=float, default=6.0, help="idle seconds measured first")
    args = ap.parse_args()
    sizes = [int(x) for x in args.nodes.split(",")]
    if not (1 <= args.per_node <= 30 and all(1 <= n <= 3 for n in sizes) and args.hold > 0):
        raise SystemExit("use --per-node 1-30, --nodes among 1,2,3, --hold > 0")
    print(f"load average before: {os.getloadavg()[0]:.2f} (2-core VM shared with others)")
    for n in sizes:
        r = measure(n, per_node=args.per_node, hold_s=args.hold, idle_s=args.idle)
        cpu = r["cpu_ms_per_call_s"]
        assert isinstance(cpu, dict)
        flat = " ".join(f"{k}={v:.1f}" for k, v in cpu.items())
        print(f"nodes={n} calls={r['calls']} ok={r['ok']} failed={r['failed']} "
              f"carried={r['carried']}")
        print(f"  CPU-ms per call-second per node: {flat}; "
              f"Kamailio: {r['kamailio_cpu_ms']:.0f} CPU-ms in all, "
              f"{r['kamailio_cpu_ms_per_call']:.2f} per call (clock ticks: 10 ms)")
        print(f"  per call: Redis commands {r['redis_per_call']:.1f}, PostgreSQL transactions "
              f"{r['pg_per_call']:.1f}; idle per node-second: Redis "
              f"{r['idle_redis_per_node_s']:.2f}, PostgreSQL {r['idle_pg_per_node_s']:.2f}")
        print(f"  Redis commands during the calls, per call (idle beats included): "
              f"{r['redis_kinds']}")
        print(f"  load average after: {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
