"""``QueueState`` on Redis (``server.redis``): the queue state every node shares.

Keys (``prefix`` first, ``callport:`` by default, then ``q:``):

- ``q:nodes``: sorted set node -> alive-until; ``q:urls``: hash node -> its internal URL;
- ``q:queues``: the queues that ever had a caller; ``q:callers:{queue}``: sorted set
  call -> ``order_key(priority, joined_at)``; ``q:caller:{call}``: hash (queue, node,
  priority, joined_at, caller); ``q:ringing:{call}`` / ``q:tried:{call}``: sets of agents;
- ``q:agents``: every agent seen; ``q:agent:{name}``: hash (node, seen, away, status,
  call_id, by, until).

``claim``, ``answer``, ``release``, ``leave``, ``ended`` and ``sweep`` are Lua scripts, so each
is one atomic step: two nodes claiming one agent at once get one ``ok`` and one ``busy``, two
answers for one caller one winner. The scripts build key names from the prefix (one Redis, not
Redis Cluster: the keys of one step would have to share a hash slot there). The status rules
are ``shared.effective``'s, written once more in Lua (``_PRELUDE``).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from callport.queues.shared import Claim, SharedAgent, SharedStatus, WaitingCaller, order_key
from callport.store.live_redis import DEFAULT_PREFIX

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisQueueState"]

_PRELUDE = """
local p = ARGV[1] .. 'q:'
local now = tonumber(ARGV[2])
local function alive(n)
  if not n or n == '' then return false end
  local s = redis.call('ZSCORE', p .. 'nodes', n)
  return s and tonumber(s) > now
end
local function status(name)
  local a = redis.call('HMGET', p .. 'agent:' .. name, 'node', 'seen', 'away', 'status', 'until')
  if not a[1] or not alive(a[1]) or tonumber(a[2] or '0') <= now then return 'offline' end
  local s = a[4] or 'available'
  if s == 'wrap-up' and tonumber(a[5] or '0') <= now then s = 'available' end
  if a[3] == '1' and s == 'available' then return 'away' end
  return s
end
local function free(call, name)
  local k = p .. 'agent:' .. name
  local a = redis.call('HMGET', k, 'status', 'call_id')
  if a[1] == 'ringing' and a[2] == call then
    redis.call('HSET', k, 'status', 'available', 'call_id', '', 'by', '')
  end
end
local function drop(call, keep)
  local c = p .. 'caller:' .. call
  local q = redis.call('HGET', c, 'queue')
  if not q then return false end
  for _, name in ipairs(redis.call('SMEMBERS', p .. 'ringing:' .. call)) do
    if name ~= keep then free(call, name) end
  end
  redis.call('ZREM', p .. 'callers:' .. q, call)
  redis.call('DEL', c, p .. 'ringing:' .. call, p .. 'tried:' .. call)
  return true
end
"""

_CLAIM = _PRELUDE + """
local call, agent, node = ARGV[3], ARGV[4], ARGV[5]
local c = p .. 'caller:' .. call
local info = redis.call('HMGET', c, 'queue', 'node')
if not info[1] or not alive(info[2]) then return 'gone' end
local s = status(agent)
if s == 'offline' or s == 'away' then return s end
if s ~= 'available' then return 'busy' end
local set = p .. 'callers:' .. info[1]
local mine = redis.call('ZSCORE', set, call)
for _, other in ipairs(redis.call('ZRANGEBYSCORE', set, '-inf', '(' .. mine)) do
  local n = redis.call('HGET', p .. 'caller:' .. other, 'node')
  if n ~= node and alive(n) and redis.call('SCARD', p .. 'ringing:' .. other) == 0
     and redis.call('SISMEMBER', p .. 'tried:' .. other, agent) == 0 then
    return 'ahead'
  end
end
redis.call('HSET', p .. 'agent:' .. agent, 'status', 'ringing', 'call_id', call, 'by', node)
redis.call('SADD', p .. 'ringing:' .. call, agent)
redis.call('SADD', p .. 'tried:' .. call, agent)
return 'ok'
"""

_ANSWER = _PRELUDE + """
local call, agent, node = ARGV[3], ARGV[4], ARGV[5]
if redis.call('SISMEMBER', p .. 'ringing:' .. call, agent) == 0 then return 0 end
if not drop(call, agent) then return 0 end
redis.call('HSET', p .. 'agent:' .. agent, 'status', 'busy', 'call_id', call, 'by', node)
return 1
"""

_RELEASE = _PRELUDE + """
redis.call('SREM', p .. 'ringing:' .. ARGV[3], ARGV[4])
free(ARGV[3], ARGV[4])
return 1
"""

_LEAVE = _PRELUDE + """
drop(ARGV[3], '')
return 1
"""

_ENDED = _PRELUDE + """
local k = p .. 'agent:' .. ARGV[3]
if redis.call('HGET', k, 'status') ~= 'busy' then return 0 end
local wrap = tonumber(ARGV[4])
if wrap > 0 then
  redis.call('HSET', k, 'status', 'wrap-up', 'until', tostring(now + wrap), 'call_id', '', 'by', '')
else
  redis.call('HSET', k, 'status', 'available', 'call_id', '', 'by', '')
end
return 1
"""

_SWEEP = _PRELUDE + """
local lapsed = redis.call('ZRANGEBYSCORE', p .. 'nodes', '-inf', now)
if #lapsed == 0 then return {} end
local lost = {}
for _, q in ipairs(redis.call('SMEMBERS', p .. 'queues')) do
  for _, call in ipairs(redis.call('ZRANGE', p .. 'callers:' .. q, 0, -1)) do
    if not alive(redis.call('HGET', p .. 'caller:' .. call, 'node')) then
      table.insert(lost, call)
    end
  end
end
for _, call in ipairs(lost) do drop(call, '') end
for _, name in ipairs(redis.call('SMEMBERS', p .. 'agents')) do
  local k = p .. 'agent:' .. name
  local a = redis.call('HMGET', k, 'status', 'by')
  if (a[1] == 'ringing' or a[1] == 'busy') and not alive(a[2]) then
    redis.call('HSET', k, 'status', 'available', 'call_id', '', 'by', '')
  end
end
for _, n in ipairs(lapsed) do redis.call('ZREM', p .. 'nodes', n) end
return lost
"""

_UNSEEN = _PRELUDE + """
local k = p .. 'agent:' .. ARGV[3]
if redis.call('HGET', k, 'node') == ARGV[4] then redis.call('HSET', k, 'seen', '0') end
return 1
"""

_AGENTS = _PRELUDE + """
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', p .. 'agents')) do
  local a = redis.call('HMGET', p .. 'agent:' .. name, 'node', 'call_id', 'by')
  table.insert(out, {name, status(name), a[1] or '', a[2] or '', a[3] or ''})
end
return out
"""


class RedisQueueState:
    """``QueueState`` shared through Redis (see the module docstring)."""

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self.client, self.prefix = client, prefix
        self._p = f"{prefix}q:"
        self._scripts = {name: client.register_script(src) for name, src in (
            ("claim", _CLAIM), ("answer", _ANSWER), ("release", _RELEASE), ("leave", _LEAVE),
            ("ended", _ENDED), ("sweep", _SWEEP), ("agents", _AGENTS), ("unseen", _UNSEEN))}

    async def _run(self, name: str, now: float, *args: str) -> Any:
        return await self._scripts[name](keys=[], args=[self.prefix, repr(now), *args])

    async def heartbeat(self, node: str, *, url: str, ttl_s: float, now: float) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(f"{self._p}nodes", {node: now + ttl_s})
            pipe.hset(f"{self._p}urls", node, url)
            await pipe.execute()

    async def node_gone(self, node: str) -> None:  # lapsed now; the next sweep forgets it
        await self.client.zadd(f"{self._p}nodes", {node: 0}, xx=True)

    async def node_url(self, node: str, *, now: float) -> str | None:
        until = await self.client.zscore(f"{self._p}nodes", node)
        if until is None or float(until) <= now:
            return None
        url = await self.client.hget(f"{self._p}urls", node)
        return None if url is None else str(url)

    async def join(self, caller: WaitingCaller) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(f"{self._p}queues", caller.queue)
            pipe.delete(f"{self._p}ringing:{caller.call_id}", f"{self._p}tried:{caller.call_id}")
            pipe.hset(f"{self._p}caller:{caller.call_id}", mapping={
                "queue": caller.queue, "node": caller.node, "priority": str(caller.priority),
                "joined_at": repr(caller.joined_at), "caller": caller.caller})
            pipe.zadd(f"{self._p}callers:{caller.queue}",
                      {caller.call_id: order_key(caller.priority, caller.joined_at)})
            await pipe.execute()

    async def leave(self, call_id: str) -> None:
        await self._run("leave", 0.0, call_id)

    async def callers(self, queue: str, *, now: float) -> builtins.list[WaitingCaller]:
        ids = [str(i) for i in await self.client.zrange(f"{self._p}callers:{queue}", 0, -1)]
        if not ids:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for call_id in ids:
                pipe.hgetall(f"{self._p}caller:{call_id}")
                pipe.smembers(f"{self._p}ringing:{call_id}")
            pipe.zrangebyscore(f"{self._p}nodes", f"({now}", "+inf")
            got = await pipe.execute()
        alive = {str(n) for n in got[-1]}
        out = []
        for i, call_id in enumerate(ids):
            info, ringing = got[2 * i], got[2 * i + 1]
            if not info or info.get("node") not in alive:
                continue
            out.append(WaitingCaller(
                call_id=call_id, queue=queue, node=str(info["node"]),
                priority=int(info.get("priority", 0)),
                joined_at=float(info.get("joined_at", 0.0)), caller=str(info.get("caller", "")),
                ringing=tuple(sorted(str(r) for r in ringing))))
        return out

    async def position(self, call_id: str, *, now: float) -> int | None:
        queue = await self.client.hget(f"{self._p}caller:{call_id}", "queue")
        if queue is None:
            return None
        ids = [c.call_id for c in await self.callers(str(queue), now=now)]
        return ids.index(call_id) + 1 if call_id in ids else None

    async def positions(self, call_ids: Iterable[str], *, now: float) -> dict[str, int]:
        ids = list(call_ids)
        if not ids:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for call_id in ids:
                pipe.hget(f"{self._p}caller:{call_id}", "queue")
            queues = await pipe.execute()
        async with self.client.pipeline(transaction=False) as pipe:
            for call_id, queue in zip(ids, queues, strict=True):
                pipe.zrank(f"{self._p}callers:{queue}", call_id)
            ranks = await pipe.execute()
        return {c: int(r) + 1 for c, q, r in zip(ids, queues, ranks, strict=True)
                if q is not None and r is not None}

    async def agent_seen(self, name: str, node: str, *, away: bool, ttl_s: float,
                         now: float) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.sadd(f"{self._p}agents", name)
            pipe.hset(f"{self._p}agent:{name}", mapping={
                "node": node, "seen": repr(now + ttl_s), "away": "1" if away else "0"})
            await pipe.execute()

    async def agents_seen(self, seen: Mapping[str, bool], node: str, *, ttl_s: float,
                          now: float) -> None:
        if not seen:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.sadd(f"{self._p}agents", *seen)
            for name, away in seen.items():
                pipe.hset(f"{self._p}agent:{name}", mapping={
                    "node": node, "seen": repr(now + ttl_s), "away": "1" if away else "0"})
            await pipe.execute()

    async def agent_unseen(self, name: str, node: str) -> None:
        await self._run("unseen", 0.0, name, node)

    async def agents(self, *, now: float) -> builtins.list[SharedAgent]:
        rows = await self._run("agents", now)
        return sorted((SharedAgent(name=str(r[0]), status=SharedStatus(str(r[1])),
                                   node=str(r[2]), call_id=str(r[3]), by=str(r[4]))
                       for r in rows), key=lambda a: a.name)

    async def claim(self, call_id: str, agent: str, node: str, *, now: float) -> Claim:
        return Claim(str(await self._run("claim", now, call_id, agent, node)))

    async def release(self, call_id: str, agent: str) -> None:
        await self._run("release", 0.0, call_id, agent)

    async def answer(self, call_id: str, agent: str, node: str, *, now: float) -> bool:
        return int(await self._run("answer", now, call_id, agent, node)) == 1

    async def ended(self, agent: str, *, wrap_up_s: float, now: float) -> None:
        await self._run("ended", now, agent, repr(wrap_up_s))

    async def sweep(self, *, now: float) -> builtins.list[str]:
        return sorted(str(c) for c in await self._run("sweep", now))
