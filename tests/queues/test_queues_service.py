"""QueueService on memory legs: hold music that never stops, announcements, the bridge,
keys (message, call back), max wait, hang-ups, the call record's queue events."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from queue_support import (
    RATE,
    chirp,
    corr,
    longest_silence,
    make_call,
    queue,
    rms,
    service,
    until,
)

from callport.call.call import Call
from callport.call.queueing import (
    AgentAnswered,
    CallbackBooked,
    CallerHungUp,
    LeftMessage,
    QueueUnavailable,
    TimedOut,
)
from callport.queues.model import AgentStatus
from callport.queues.prompts import ResumingMusic, builtin_loop


async def test_the_caller_hears_music_until_an_agent_answers_then_both_are_bridged() -> None:
    events: list[tuple[str, str, str]] = []

    async def record(call_id: str, kind: str, detail: str) -> None:
        events.append((call_id, kind, detail))

    svc, reach = service(queue(), agents={"alice": ("support",)}, events=record)
    reach.agent("alice").delay_s = 0.6  # rings a while: the caller waits on music
    call, leg = make_call("c1")
    waiting = asyncio.create_task(svc.enqueue(call, "support"))
    person, agent_leg, offer = await asyncio.wait_for(reach.answered.get(), 10)
    assert person.name == "alice" and offer.queue == "support"
    assert offer.caller.caller == "+15550100" and "waiting in support" in offer.summary
    before = list(leg.sent)
    assert len(before) >= 20, "the caller heard nothing while waiting"
    assert rms(np.concatenate(before)) > 300 and longest_silence(before) <= 2
    # bridged: the caller's voice reaches the agent and the agent's the caller
    caller_voice, agent_voice = chirp(1.0, 300, 3000), chirp(1.0, 3200, 400)
    await until(lambda: svc.engine.agent_status("alice") is AgentStatus.BUSY)
    await asyncio.sleep(0.05)
    sent_to_agent, sent_to_caller = len(agent_leg.sent), len(leg.sent)
    await leg.speak(caller_voice, RATE)
    await agent_leg.speak(agent_voice, RATE)
    await until(lambda: len(agent_leg.sent) - sent_to_agent >= 45
                and len(leg.sent) - sent_to_caller >= 45)
    assert corr(caller_voice, np.concatenate(agent_leg.sent[sent_to_agent:])) > 0.9
    assert corr(agent_voice, np.concatenate(leg.sent[sent_to_caller:])) > 0.9
    leg.caller_hangup()
    outcome = await asyncio.wait_for(waiting, 10)
    assert isinstance(outcome, AgentAnswered) and outcome.agent == "alice"
    assert outcome.ended_by == "caller" and outcome.wait_s > 0
    assert agent_leg.hung_up_reason == "bridge-ended"
    assert svc.engine.calls_taken("alice") == 1
    assert svc.engine.agent_status("alice") is AgentStatus.AVAILABLE  # wrap_up_s = 0
    assert [e[2].split(":")[0] for e in events] == ["joined support", "answered support"]
    assert "alice after" in events[1][2]
    await call.session.close()
    await svc.close()


async def test_announcements_interrupt_the_music_which_goes_on_after_them() -> None:
    svc, reach = service(queue(announce_every_s=1.0), agents={"alice": ("support",)})
    reach.agent("alice").online = False  # nobody to ring: the caller waits
    call, leg = make_call("c1")
    waiting = asyncio.create_task(svc.enqueue(call, "support"))
    tts = call._tts  # ToneTTS: what was said
    await until(lambda: len(tts.spoken) >= 3, timeout=15)  # type: ignore[attr-defined]
    said = " ".join(tts.spoken)  # type: ignore[attr-defined]
    assert "You are next in line" in said and "Press 1 to leave a message" not in said
    await asyncio.sleep(0.3)
    frames = list(leg.sent)
    assert longest_silence(frames) <= 2, "the caller heard silence while waiting"
    music = svc._waiters["c1"].music
    assert isinstance(music, ResumingMusic) and music.frames_read > 50
    leg.caller_hangup()
    outcome = await asyncio.wait_for(waiting, 10)
    assert isinstance(outcome, CallerHungUp) and not svc.engine.waiting("c1")
    await call.session.close()
    await svc.close()


async def test_press_1_leaves_a_message_and_press_2_books_a_call_back_that_comes() -> None:
    messages: list[str] = []

    async def take_message(call: Call, queue_name: str) -> int | None:
        messages.append(queue_name)
        await call.hangup("voicemail")
        return 7

    backs: list[tuple[str, str]] = []
    called: list[tuple[Call, object]] = []

    async def dial_back(number: str, queue_name: str) -> Call | None:
        backs.append((number, queue_name))
        again, again_leg = make_call("back1", caller=number)
        called.append((again, again_leg))
        return again

    svc, reach = service(queue(announce_every_s=0.5), agents={"alice": ("support",)},
                         take_message=take_message, dial_back=dial_back)
    reach.agent("alice").online = False
    one, leg1 = make_call("m1")
    waiting = asyncio.create_task(svc.enqueue(one, "support"))
    await until(lambda: "Press 1 to leave a message, or 2 to be called back" in " ".join(
        one._tts.spoken), timeout=10)  # type: ignore[attr-defined]
    leg1.press("1")
    outcome = await asyncio.wait_for(waiting, 10)
    assert outcome == LeftMessage(queue="support", wait_s=outcome.wait_s, message_id=7)
    assert messages == ["support"]

    two, leg2 = make_call("cb1", caller="+15550199")
    three, leg3 = make_call("w2", caller="+15550111")
    waiting2 = asyncio.create_task(svc.enqueue(two, "support"))
    await until(lambda: svc.engine.waiting("cb1"))
    waiting3 = asyncio.create_task(svc.enqueue(three, "support"))
    await until(lambda: svc.engine.waiting("w2"))
    leg2.press("2")
    booked = await asyncio.wait_for(waiting2, 10)
    assert isinstance(booked, CallbackBooked) and booked.number == "+15550199"
    assert leg2.hung_up_reason == "callback"
    assert svc.engine.position("w2") == 2  # the call back keeps its place, ahead of w2
    reach.agent("alice").online = True
    svc.step()
    _person, agent_leg, offer = await asyncio.wait_for(reach.answered.get(), 10)
    assert backs == [("+15550199", "support")] and offer.call_id == "back1" and offer.callback
    again, _again_leg = called[0]
    agent_leg.caller_hangup()  # alice is done with the call back
    await until(lambda: again.ended)
    _person, _agent_leg2, offer2 = await asyncio.wait_for(reach.answered.get(), 10)
    assert offer2.call_id == "w2"  # then the caller who was behind
    leg3.caller_hangup()
    assert isinstance(await asyncio.wait_for(waiting3, 10), AgentAnswered)
    for c in (one, two, three, again):
        await c.session.close()
    await svc.close()


async def test_max_wait_offers_the_keys_then_gives_the_call_back_to_the_flow() -> None:
    async def take_message(call: Call, queue_name: str) -> int | None:
        raise AssertionError("nobody pressed 1")

    svc, reach = service(queue(max_wait_s=0.5, choose_s=1.0), agents={"alice": ("support",)},
                         take_message=take_message)
    reach.agent("alice").online = False
    call, _leg = make_call("t1")
    outcome = await asyncio.wait_for(svc.enqueue(call, "support"), 15)
    assert isinstance(outcome, TimedOut)
    said = " ".join(call._tts.spoken)  # type: ignore[attr-defined]
    assert "Press 1 to leave a message" in said and "called back" not in said  # no dial_back
    assert not call.ended and not svc.engine.waiting("t1") and not call.session.holding
    # no keys this call could use: straight back; on_max_wait = leave: the same
    for rules in (queue(max_wait_s=0.3), queue(max_wait_s=0.3, on_max_wait="leave")):
        svc2, reach2 = service(rules, agents={"bob": ("support",)})
        reach2.agent("bob").online = False
        call2, _ = make_call("t2")
        assert isinstance(await asyncio.wait_for(svc2.enqueue(call2, "support"), 10), TimedOut)
        assert call2._tts.spoken == []  # type: ignore[attr-defined]
        await call2.session.close()
        await svc2.close()
    await call.session.close()
    await svc.close()


async def test_unknown_queue_or_nobody_in_it_is_unavailable() -> None:
    svc, _ = service(queue(), queue("sales"), agents={"alice": ("support",)})
    call, _ = make_call("u1")
    gone = await svc.enqueue(call, "billing")
    assert isinstance(gone, QueueUnavailable) and "no [queues.billing]" in gone.detail
    empty = await svc.enqueue(call, "sales")
    assert isinstance(empty, QueueUnavailable) and "nobody" in empty.detail
    assert not call.session.holding
    await call.session.close()


async def test_a_caller_hanging_up_while_an_agent_rings_cancels_the_ring() -> None:
    svc, reach = service(queue(ring_timeout_s=30), agents={"alice": ("support",)})
    reach.agent("alice").delay_s = 20
    await svc.refresh_agents()
    call, leg = make_call("h1")
    waiting = asyncio.create_task(svc.enqueue(call, "support"))
    await until(lambda: svc.engine.agent_status("alice") is AgentStatus.RINGING)
    leg.caller_hangup()
    assert isinstance(await asyncio.wait_for(waiting, 10), CallerHungUp)
    await until(lambda: reach.agent("alice").cancelled == 1)
    assert svc.engine.agent_status("alice") is AgentStatus.AVAILABLE
    await call.session.close()
    await svc.close()


async def test_a_ring_that_times_out_moves_on_to_the_next_agent() -> None:
    svc, reach = service(queue(ring_timeout_s=1.0, strategy="round-robin"),
                         agents={"alice": ("support",), "bob": ("support",)})
    reach.agent("alice").delay_s = 30  # never picks up
    call, leg = make_call("r1")
    waiting = asyncio.create_task(svc.enqueue(call, "support"))
    person, _agent_leg, _ = await asyncio.wait_for(reach.answered.get(), 10)
    assert person.name == "bob" and reach.rings == [("alice", "r1"), ("bob", "r1")]
    leg.caller_hangup()
    assert (await asyncio.wait_for(waiting, 10)).agent == "bob"  # type: ignore[attr-defined]
    await call.session.close()
    await svc.close()


def test_the_built_in_music_is_a_pleasant_never_silent_loop() -> None:
    loop = builtin_loop()
    frames = [loop[i:i + 320] for i in range(0, len(loop) - 320, 320)]
    assert longest_silence(frames, floor=200) == 0
    assert 1000 < rms(loop) < 4000  # audible, not loud
    spectrum = np.abs(np.fft.rfft(loop.astype(np.float64)))
    peak_hz = np.argmax(spectrum) * RATE / len(loop)
    assert 150 < peak_hz < 1100  # tones in the voice band, not a hum or a whistle


async def test_agents_come_from_the_store_and_leave_with_their_role() -> None:
    listed = {"alice": ("support",), "bob": ("support",)}
    svc, _reach = service(queue(), agents=listed)
    await svc.refresh_agents()
    assert svc.engine.members("support") == ["alice", "bob"]
    del listed["bob"]
    listed["alice"] = ("support", "sales")
    await svc.refresh_agents()
    assert svc.engine.agents() == ["alice"] and svc.engine.members("support") == ["alice"]
    svc.set_away("carol", True)  # the page says so before the queues know her
    listed["carol"] = ("support",)
    await svc.refresh_agents()
    assert svc.engine.agent_status("carol") is AgentStatus.AWAY
    svc.set_away("carol", False)
    assert svc.engine.agent_status("carol") is AgentStatus.AVAILABLE


async def test_the_operators_music_file_plays_and_a_broken_one_falls_back(
        tmp_path: Path) -> None:
    from callport.audio.wav import write_wav

    t = np.arange(8000 * 2) / 8000
    good = tmp_path / "music.wav"
    write_wav(good, (6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16), 8000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF nonsense")
    for path, expect_hz in ((good, 440.0), (broken, None)):
        svc, reach = service(queue(hold_music=str(path)), agents={"alice": ("support",)})
        reach.agent("alice").online = False
        call, leg = make_call("m1")
        waiting = asyncio.create_task(svc.enqueue(call, "support"))
        await until(lambda lg=leg: len(lg.sent) >= 40)
        pcm = np.concatenate(leg.sent[-30:]).astype(np.float64)
        assert rms(pcm.astype(np.int16)) > 300  # never silence
        peak = np.argmax(np.abs(np.fft.rfft(pcm))) * RATE / len(pcm)
        if expect_hz is not None:
            assert abs(peak - expect_hz) < 40
        leg.caller_hangup()
        await asyncio.wait_for(waiting, 10)
        await call.session.close()
        await svc.close()
