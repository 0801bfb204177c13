"""Supervisor listen-in and whisper on a bridge, with memory legs, by correlation."""

from __future__ import annotations

import asyncio

import numpy as np
from test_call_media import make, until

from callport.call.bridge import Bridge, PartyLeft
from callport.call.memory import MemoryLeg
from callport.call.supervise import BridgeMix, Supervision, mix


def chirp(f0: float, f1: float, seconds: float, rate: int) -> np.ndarray:
    n = int(seconds * rate)
    return (6000 * np.sin(2 * np.pi * np.cumsum(np.linspace(f0, f1, n)) / rate)).astype(np.int16)


def corr(short: np.ndarray, long_: np.ndarray) -> float:
    """Peak normalised cross-correlation of ``short`` inside ``long_`` (any lag)."""
    a = short.astype(np.float64) - short.mean()
    b = long_.astype(np.float64)
    if len(b) < len(a):
        return 0.0
    full = np.correlate(b, a, mode="valid")
    win = np.sqrt(np.convolve(b**2, np.ones(len(a)), "valid") * np.sum(a**2))
    return float(np.max(full / np.maximum(win, 1e-9)))


def test_mix_clips_instead_of_wrapping() -> None:
    x = np.array([30000, -30000, 100], np.int16)
    assert mix(x, x).tolist() == [32767, -32768, 200]


async def test_supervisor_hears_both_parties_and_whispers_to_the_agent_only() -> None:
    leg_a = MemoryLeg(call_id="caller", sample_rate=8000)
    leg_b = MemoryLeg(call_id="agent", sample_rate=16000)
    leg_s = MemoryLeg(call_id="supervisor", sample_rate=16000)
    a, b, s = make(leg_a), make(leg_b), make(leg_s)
    for call in (a, b, s):
        call.session.start()
    bridge = Bridge(a=a.session, b=b.session)
    run = asyncio.create_task(bridge.run())
    await asyncio.sleep(0.01)
    sup = Supervision(bridge=bridge, agent="b", supervisor=s.session)
    watching = asyncio.create_task(sup.run())
    await asyncio.sleep(0.01)

    caller_says = chirp(300, 3000, 0.5, 8000)
    await leg_a.speak(caller_says, 8000)
    await until(lambda: len(leg_s.sent) >= 20)  # 25 frames, less what the resampler holds
    agent_says = chirp(3200, 250, 0.5, 16000)
    await leg_b.speak(agent_says, 16000)
    await until(lambda: len(leg_s.sent) >= 45)
    heard = leg_s.output()
    assert corr(caller_says[:3000], heard[::2]) > 0.9  # the caller, at the supervisor's 16 kHz
    assert corr(agent_says[:6000:2], heard[::2]) > 0.9  # and the agent

    # not whispering: the supervisor's voice reaches nobody
    to_a, to_b = len(leg_a.sent), len(leg_b.sent)
    coach = chirp(500, 2500, 0.4, 16000)
    await leg_s.speak(coach, 16000)
    await asyncio.sleep(0.3)
    assert len(leg_b.sent) == to_b and len(leg_a.sent) == to_a

    sup.whisper = True
    await leg_s.speak(coach, 16000)
    await until(lambda: len(leg_b.sent) >= to_b + 15)
    await asyncio.sleep(0.1)
    got = leg_b.output()[to_b * 320:]
    assert corr(coach[:3000:2], got[::2]) > 0.9  # the agent heard it
    assert len(leg_a.sent) == to_a  # the caller did not: nothing new went to the caller
    assert len(leg_s.sent) <= 46  # nor did the supervisor hear itself

    # the caller speaking over a whisper: the agent gets both, the caller neither
    await asyncio.gather(leg_a.speak(caller_says, 8000), leg_s.speak(coach, 16000))
    await until(lambda: len(leg_b.sent) >= to_b + 40)
    assert len(leg_a.sent) == to_a

    leg_a.caller_hangup()
    assert await asyncio.wait_for(run, 5) == PartyLeft("a", "caller")
    await asyncio.wait_for(watching, 5)  # the bridge ended: so does the supervision
    assert not s.session.ended
    for call in (a, b, s):
        await call.session.close()


async def test_a_silent_party_does_not_hold_the_other_back() -> None:
    leg_a = MemoryLeg(call_id="caller", sample_rate=8000)
    leg_b = MemoryLeg(call_id="agent", sample_rate=8000)
    a, b = make(leg_a), make(leg_b)
    for call in (a, b):
        call.session.start()
    bridge = Bridge(a=a.session, b=b.session)
    run = asyncio.create_task(bridge.run())
    await asyncio.sleep(0.01)
    listen = BridgeMix(bridge=bridge, sample_rate=8000, lag_s=0.1)
    listen.attach()
    await leg_a.speak(chirp(300, 3000, 0.5, 8000), 8000)
    assert listen.mixed_samples >= 4000 - 800  # passed on alone, at most lag_s behind
    listen.detach()
    bridge.stop()
    await asyncio.wait_for(run, 5)
    for call in (a, b):
        await call.session.close()
