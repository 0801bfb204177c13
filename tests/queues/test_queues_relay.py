"""The node-to-node queue relay, sans-IO (callport.queues.relay): the HMAC door, the offer's
wire form and its bad-input errors, and one offer carried end to end over in-memory links
(``serve_ring`` on node B's side, ``ClusterReach`` on node A's) with every refusal path."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from queue_support import RATE, chirp, corr, queue, until

from callport.audio.resample import resample
from callport.call.bridge import Bridge
from callport.call.dial import DialCause
from callport.call.memory import MemoryLeg
from callport.config_queues import QueuesSettings
from callport.queues.cluster import ClusterReach, QueueCluster, serve_ring
from callport.queues.reach import (
    OFFLINE,
    FakeReach,
    NotReached,
    Offer,
    Reached,
    answered_session,
)
from callport.queues.relay import (
    RING_PATH,
    Link,
    RelayError,
    decode_offer,
    encode_offer,
    memory_links,
    sign,
    verify,
)
from callport.queues.shared import MemoryQueueState, SharedStatus, WaitingCaller
from callport.types import CallInfo

S = "shared secret"


def test_the_door_lets_in_a_signed_node_once() -> None:
    now = time.time()
    seen: dict[str, float] = {}
    headers = sign(S, path=RING_PATH, node="node-a", now=now)
    assert verify(S, headers, path=RING_PATH, now=now + 1, seen=seen) == "node-a"
    with pytest.raises(RelayError, match="used before"):
        verify(S, headers, path=RING_PATH, now=now + 1, seen=seen)
    fresh = sign(S, path=RING_PATH, node="node-a", now=now)
    for secret, hdrs, path, at, why in [
        ("", fresh, RING_PATH, now, "no node secret"),
        ("other", fresh, RING_PATH, now, "bad relay signature"),
        (S, fresh, "/internal/other", now, "bad relay signature"),
        (S, fresh, RING_PATH, now + 31, "time window"),
        (S, {}, RING_PATH, now, "unsigned"),
        (S, {**fresh, "X-Callport-Time": "nan"}, RING_PATH, now, "time window"),
        (S, {**fresh, "X-Callport-Time": "soon"}, RING_PATH, now, "timestamp"),
    ]:
        with pytest.raises(RelayError, match=why):
            verify(secret, hdrs, path=path, now=at, seen={})
    with pytest.raises(RelayError, match="no node secret"):
        sign("", path=RING_PATH, node="node-a", now=now)


def test_offers_round_trip_and_bad_ones_are_refused() -> None:
    offer = Offer(call_id="c1", queue="support",
                  caller=CallInfo(call_id="c1", channel="sip", caller="+15550100"),
                  summary="Ann waiting in support", transcript=(("caller", "my bill"),),
                  waited_s=12.5)
    agent, got, timeout, rate = decode_offer(encode_offer("alice", offer, timeout_s=15,
                                                          sample_rate=16000))
    assert (agent, timeout, rate) == ("alice", 15.0, 16000)
    assert (got.call_id, got.queue, got.caller.caller, got.summary, got.transcript,
            got.waited_s) == ("c1", "support", "+15550100", "Ann waiting in support",
                              (("caller", "my bill"),), 12.5)
    good = json.loads(encode_offer("alice", offer, timeout_s=15, sample_rate=16000))
    for bad in ["{", "[]", json.dumps({**good, "type": "x"}), json.dumps({**good, "agent": ""}),
                json.dumps({**good, "timeout_s": -1}), json.dumps({**good, "sample_rate": 7}),
                json.dumps({**good, "transcript": [["robot", "x"]]}),
                json.dumps({**good, "caller": 5}), "[" * 100_000]:
        with pytest.raises(RelayError):
            decode_offer(bad)


def _nodes(devices: FakeReach) -> tuple[ClusterReach, MemoryQueueState]:
    state = MemoryQueueState()
    settings = QueuesSettings(named=(queue(),))
    cluster = QueueCluster(state=state, node="a", url="http://a", secret=S, settings=settings)

    async def open_link(url: str, headers: dict[str, str]) -> Link:
        assert url == "http://b" + RING_PATH
        assert verify(S, headers, path=RING_PATH, now=time.time(), seen={}) == "a"
        mine, theirs = memory_links()
        asyncio.get_running_loop().create_task(
            serve_ring(theirs, reach=devices, caller_node="a"))
        return mine

    return ClusterReach(cluster=cluster, local=None, open_link=open_link), state


async def _ready(state: MemoryQueueState, call_id: str = "c1") -> Offer:
    now = time.time()
    await state.heartbeat("a", url="http://a", ttl_s=60, now=now)
    await state.heartbeat("b", url="http://b", ttl_s=60, now=now)
    await state.agent_seen("alice", "b", away=False, ttl_s=60, now=now)
    await state.join(WaitingCaller(call_id=call_id, queue="support", node="a", joined_at=now))
    return Offer(call_id=call_id, queue="support",
                 caller=CallInfo(call_id=call_id, channel="test", caller="+1555"))


async def test_an_offer_over_the_relay_answered_bridges_audio_both_ways() -> None:
    devices = FakeReach()
    reach, state = _nodes(devices)
    result = await reach.ring("alice", await _ready(state), timeout_s=5)
    assert isinstance(result, Reached)
    _person, agent_leg, _offer = await devices.answered.get()
    caller_leg = MemoryLeg(call_id="c1", sample_rate=8000)  # the caller, on node A
    bridged = asyncio.create_task(Bridge(a=answered_session(caller_leg), b=result.session).run())
    await asyncio.sleep(0.2)
    for speaker, listener, voice in [(agent_leg, caller_leg, chirp(0.8, 300, 2500)),
                                     (caller_leg, agent_leg, chirp(0.8, 2500, 300))]:
        before = len(listener.sent)
        await speaker.speak(voice, RATE)
        await until(lambda: len(listener.sent) - before >= 32)  # noqa: B023
        rate = listener.sample_rate
        assert corr(resample(voice, RATE, rate), np.concatenate(listener.sent[before:])) > 0.9
    assert (await state.agents(now=time.time()))[0].status is SharedStatus.BUSY
    caller_leg.caller_hangup()
    await asyncio.wait_for(bridged, 5)
    await until(lambda: agent_leg.hung_up_reason is not None)
    for _ in range(200):  # her call is over: wrap-up (none here), then available
        if (await state.agents(now=time.time()))[0].status is SharedStatus.AVAILABLE:
            break
        await asyncio.sleep(0.01)
    assert (await state.agents(now=time.time()))[0].status is SharedStatus.AVAILABLE


async def test_refusals_over_the_relay_release_the_claim() -> None:
    devices = FakeReach()
    devices.agent("alice").answers = [DialCause.REJECTED]
    reach, state = _nodes(devices)
    offer = await _ready(state)
    got = await reach.ring("alice", offer, timeout_s=5)
    assert isinstance(got, NotReached) and got.cause is DialCause.REJECTED
    assert (await state.agents(now=time.time()))[0].status is SharedStatus.AVAILABLE
    devices.agent("alice").online = False  # her page closed on B since the last beat
    got = await reach.ring("alice", offer, timeout_s=5)
    assert isinstance(got, NotReached) and got.cause is OFFLINE
    await state.agent_seen("alice", "b", away=True, ttl_s=60, now=time.time())
    got = await reach.ring("alice", offer, timeout_s=5)  # the claim refuses an away agent
    assert isinstance(got, NotReached) and got.cause is OFFLINE and "away" in got.detail
    assert devices.agent("alice").offers and len(devices.agent("alice").offers) == 1


async def test_withdrawing_an_offer_stops_the_ring_on_the_other_node() -> None:
    devices = FakeReach()
    devices.agent("alice").delay_s = 30  # lets it ring
    reach, state = _nodes(devices)
    ring = asyncio.create_task(reach.ring("alice", await _ready(state), timeout_s=20))
    await until(lambda: devices.agent("alice").offers)
    ring.cancel()  # the caller hung up on node A
    with pytest.raises(asyncio.CancelledError):
        await ring
    await until(lambda: devices.agent("alice").cancelled == 1)
    assert (await state.agents(now=time.time()))[0].status is SharedStatus.AVAILABLE


async def test_an_answer_after_the_caller_left_is_hung_up_and_the_agent_freed() -> None:
    devices = FakeReach()
    devices.agent("alice").delay_s = 0.3  # she answers after the caller hung up on node A
    reach, state = _nodes(devices)
    ring = asyncio.create_task(reach.ring("alice", await _ready(state), timeout_s=5))
    await until(lambda: devices.agent("alice").offers)
    await state.leave("c1")
    got = await asyncio.wait_for(ring, 5)
    assert isinstance(got, NotReached) and got.detail == "the caller was taken"
    [leg] = devices.agent("alice").legs
    await until(lambda: leg.hung_up_reason is not None)
    assert (await state.agents(now=time.time()))[0].status is SharedStatus.AVAILABLE
