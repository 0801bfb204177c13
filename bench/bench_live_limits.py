"""What sharing the sign-in throttle and the anonymous rate limit on Redis (``server.redis``)
costs one request: the time of one ``allow`` (the per-address token bucket every anonymous
request takes, one Lua script) and one ``blocked`` (what a password sign-in reads, per key) on
a real Redis, next to the in-memory ones, p50 / p99 over ``--ops`` sequential operations
spread over ``--addresses`` client addresses (latency, not throughput).

    python bench/bench_live_limits.py [--ops 2000] [--addresses 50]

Needs the Debian package redis-server (make test); starts a throwaway one on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scale"))

import backend_servers

from callport.store.live import MemoryRateLimiter, MemoryThrottle
from callport.store.live_redis import RedisRateLimiter, RedisThrottle, connect


async def timed(op: Callable[[str], Awaitable[bool]], ops: int, addresses: int
                ) -> tuple[float, float]:
    await op("10.0.0.0")  # the script loaded, the connection open
    took = []
    for i in range(ops):
        start = time.perf_counter()
        await op(f"10.0.{i % addresses // 256}.{i % addresses % 256}")
        took.append((time.perf_counter() - start) * 1e6)
    cuts = statistics.quantiles(took, n=100)
    return statistics.median(took), cuts[98]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--addresses", type=int, default=50)
    args = parser.parse_args()
    client = connect(backend_servers.redis())
    prefix = f"bench-limits-{os.getpid()}:"
    limiter = RedisRateLimiter(client, rate_per_s=50, burst=200, prefix=prefix)
    throttle = RedisThrottle(client, prefix=prefix)
    memory_limiter = MemoryRateLimiter(rate_per_s=50, burst=200)
    memory_throttle = MemoryThrottle()
    cases: list[tuple[str, Callable[[str], Awaitable[bool]]]] = [
        ("Redis allow", lambda key: limiter.allow(key, now=time.time())),
        ("Redis blocked", lambda key: throttle.blocked(f"ip:{key}", now=time.time())),
        ("memory allow", lambda key: memory_limiter.allow(key, now=time.time())),
        ("memory blocked", lambda key: memory_throttle.blocked(f"ip:{key}", now=time.time())),
    ]
    print(f"load average {os.getloadavg()[0]:.2f}; {args.ops} ops over {args.addresses} "
          "addresses, one at a time")
    for name, op in cases:
        p50, p99 = await timed(op, args.ops, args.addresses)
        print(f"{name:15} p50 {p50:8.1f} us   p99 {p99:8.1f} us")
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
