"""The pure queue engine in simulated time: strategies, move-on, wrap-up, priorities, waits,
announcements, max wait, call-backs that keep their place, away and offline agents."""

from __future__ import annotations

import math

import pytest

from callport.config_queues import QueueDefaults
from callport.queues.engine import RETRY_S, QueueEngine
from callport.queues.model import (
    AgentStatus,
    Announce,
    CallerState,
    CancelRing,
    DialBack,
    Ring,
    WaitOver,
    expected_wait,
)


def engine(strategy: str = "longest-idle", **rules: float | str) -> QueueEngine:
    values: dict[str, float | str] = {"ring_timeout_s": 10, "wrap_up_s": 0, "max_wait_s": 0,
                                      "announce_every_s": 0, **rules}
    q = QueueDefaults(strategy=strategy, **values)  # type: ignore[arg-type]
    return QueueEngine(queues={"support": q, "sales": QueueDefaults()})


def rings(actions: object) -> list[tuple[str, str]]:
    return [(a.agent, a.call_id) for a in actions if isinstance(a, Ring)]  # type: ignore[attr-defined]


def serve(e: QueueEngine, agent: str, call_id: str, at: float, talk: float) -> None:
    """``agent`` answers ``call_id`` at ``at`` and talks ``talk`` seconds."""
    e.ring_answered(agent, call_id, at)
    e.call_ended(agent, at + talk)


def test_longest_idle_picks_the_agent_whose_last_call_ended_first() -> None:
    e = engine()
    for name in ("a", "b", "c"):
        e.add_agent(name, ["support"], now=0)
    for i in range(3):
        e.join(f"x{i}", "support", 1)
    got = rings(e.tick(1))  # all idle since 0: name order breaks the tie
    assert got == [("a", "x0"), ("b", "x1"), ("c", "x2")]
    for (agent, call), end in zip(got, (20, 30, 10), strict=True):
        serve(e, agent, call, 1, end - 1)
    e.join("next", "support", 40)
    assert rings(e.tick(40)) == [("c", "next")]  # idle since 10
    e.join("then", "support", 41)
    assert rings(e.tick(41)) == [("a", "then")]  # idle since 20; b since 30


def test_agents_never_called_are_ordered_by_when_they_became_available() -> None:
    e = engine()
    e.add_agent("zed", ["support"], now=0)
    e.add_agent("amy", ["support"], now=5)
    e.join("c1", "support", 6)
    assert rings(e.tick(6)) == [("zed", "c1")]


def test_round_robin_goes_round_in_name_order_and_remembers() -> None:
    e = engine("round-robin")
    for name in ("b", "a", "c"):
        e.add_agent(name, ["support"], now=0)
    order = []
    for i in range(5):
        e.join(f"c{i}", "support", i)
        (agent, call), = rings(e.tick(i))
        order.append(agent)
        serve(e, agent, call, i, 0.5)
    assert order == ["a", "b", "c", "a", "b"]


def test_fewest_calls_then_longest_idle() -> None:
    e = engine("fewest-calls")
    for name in ("a", "b", "c"):
        e.add_agent(name, ["support"], now=0)
    serve_log = [("a", 1, 2), ("a", 3, 4), ("b", 5, 6)]
    for i, (agent, start, end) in enumerate(serve_log):
        e.join(f"p{i}", "support", start)
        # force this agent: the others are away for the moment
        for other in {"a", "b", "c"} - {agent}:
            e.set_away(other, True, start)
        assert rings(e.tick(start)) == [(agent, f"p{i}")]
        serve(e, agent, f"p{i}", start, end - start)
        for other in {"a", "b", "c"} - {agent}:
            e.set_away(other, False, 0)  # back, idle since 0
    assert [e.calls_taken(n) for n in "abc"] == [2, 1, 0]
    e.join("q", "support", 10)
    assert rings(e.tick(10)) == [("c", "q")]  # none taken
    e.ring_failed("c", "q", 10)  # declined: move on to the next fewest
    assert rings(e.tick(10)) == [("b", "q")]


def test_ring_all_rings_every_free_member_and_the_first_answer_wins() -> None:
    e = engine("ring-all")
    for name in ("a", "b", "c"):
        e.add_agent(name, ["support"], now=0)
    e.add_agent("s", ["sales"], now=0)  # not a member: never rung
    e.join("c1", "support", 1)
    e.join("c2", "support", 2)
    assert rings(e.tick(2)) == [("a", "c1"), ("b", "c1"), ("c", "c1")]
    assert e.state("c1") is CallerState.RINGING and e.state("c2") is CallerState.WAITING
    out = e.ring_answered("b", "c1", 3)
    assert out == [CancelRing("a", "c1"), CancelRing("c", "c1")]
    assert e.won("b", "c1") and not e.waiting("c1")
    assert e.ring_answered("a", "c1", 3) == [] and not e.won("a", "c1")  # too late
    assert rings(e.tick(3)) == [("a", "c2"), ("c", "c2")]  # b is busy


def test_ring_timeout_moves_on_then_a_new_round_after_retry() -> None:
    e = engine("longest-idle")
    e.add_agent("a", ["support"], now=0)
    e.add_agent("b", ["support"], now=1)
    e.join("c1", "support", 2)
    assert rings(e.tick(2)) == [("a", "c1")]
    assert e.next_deadline() == 12  # a's ring times out
    assert e.tick(11.9) == []
    out = e.tick(12)
    assert out[0] == CancelRing("a", "c1") and rings(out) == [("b", "c1")]
    assert e.agent_status("a") is AgentStatus.AVAILABLE
    e.ring_failed("b", "c1", 13)  # b declines at once: everyone tried
    assert e.tick(13) == []
    assert e.next_deadline() == 13 + RETRY_S
    assert e.tick(13 + RETRY_S - 0.1) == []
    assert rings(e.tick(13 + RETRY_S)) == [("a", "c1")]  # the next round


def test_offline_agents_are_skipped_and_not_staffed() -> None:
    e = engine()
    e.add_agent("a", ["support"], now=0)
    e.add_agent("b", ["support"], now=1)
    e.join("c1", "support", 2)
    online = {"b"}.__contains__
    assert rings(e.tick(2, online)) == [("b", "c1")]
    assert e.staffed("support", online) == 1 and e.staffed("support") == 2


def test_wrap_up_keeps_the_agent_from_the_next_offer() -> None:
    e = engine(wrap_up_s=30)
    e.add_agent("a", ["support"], now=0)
    e.join("c1", "support", 0)
    assert rings(e.tick(0)) == [("a", "c1")]
    serve(e, "a", "c1", 1, 60)
    assert e.agent_status("a") is AgentStatus.WRAP_UP
    e.join("c2", "support", 62)
    assert rings(e.tick(62)) == []
    assert e.next_deadline() == 91
    assert rings(e.tick(91)) == [("a", "c2")]


def test_priorities_go_first_and_positions_follow() -> None:
    e = engine()
    e.add_agent("a", ["support"], now=0)
    e.set_away("a", True, 0)
    assert e.join("c1", "support", 1) == 1
    assert e.join("c2", "support", 2) == 2
    assert e.join("vip", "support", 3, priority=5) == 1
    assert [e.position(c) for c in ("vip", "c1", "c2")] == [1, 2, 3]
    e.set_away("a", False, 4)
    assert rings(e.tick(4)) == [("a", "vip")]
    e.leave("c1")
    assert e.position("c2") == 2  # a caller being rung is still in line, ahead of c2


def test_expected_wait_formula() -> None:
    assert expected_wait(1, 2, 100) == 100
    assert expected_wait(2, 2, 100) == 100
    assert expected_wait(3, 2, 100) == 200
    assert expected_wait(5, 1, 60) == 300
    assert expected_wait(1, 0, 60) is None
    e = engine(wrap_up_s=10, expected_handle_s=120)
    e.add_agent("a", ["support"], now=0)
    e.add_agent("b", ["support"], now=0)
    assert e.handle_s("support") == 120  # no history yet
    for i in range(2):
        e.join(f"h{i}", "support", 0)
    got = rings(e.tick(0))
    for (agent, call), talk in zip(got, (50, 70), strict=True):
        serve(e, agent, call, 0, talk)
    assert e.handle_s("support") == 70  # (50 + 10 + 70 + 10) / 2
    e.set_away("a", True, 100)
    e.set_away("b", True, 100)
    for i in range(3):
        e.join(f"w{i}", "support", 100)
    assert e.expected_wait("w2") is None  # nobody staffed
    e.set_away("a", False, 100)
    assert e.expected_wait("w0") == 70 and e.expected_wait("w2") == 210
    e.set_away("b", False, 100)
    assert e.expected_wait("w2") == 140  # ceil(3 / 2) * 70


def test_announcements_every_n_seconds_and_max_wait_once() -> None:
    e = engine(announce_every_s=30, max_wait_s=100, expected_handle_s=60)
    e.add_agent("a", ["support"], now=0)
    e.set_away("a", True, 0)
    e.join("c1", "support", 0)
    e.join("c2", "support", 5)
    seen: list[object] = []
    t = 0.0
    while (deadline := e.next_deadline()) is not None and deadline <= 120:
        t = deadline
        seen += [(t, a) for a in e.tick(t)]
    assert seen == [
        (30, Announce("c1", 1, None)), (35, Announce("c2", 2, None)),
        (60, Announce("c1", 1, None)), (65, Announce("c2", 2, None)),
        (90, Announce("c1", 1, None)), (95, Announce("c2", 2, None)),
        (100, WaitOver("c1")), (105, WaitOver("c2")),
        (120, Announce("c1", 1, None)),
    ]
    e.set_away("a", False, 121)
    e.leave("c1")
    assert e.tick(121) == [Ring("a", "c2", 10, 131)]


def test_a_callback_keeps_its_place_and_holds_an_agent_while_it_dials() -> None:
    e = engine()
    e.add_agent("a", ["support"], now=0)
    e.set_away("a", True, 0)
    e.join("early", "support", 0)
    e.join("later", "support", 10)
    assert e.book_callback("early", "+15550100") == []
    assert e.state("early") is CallerState.CALLBACK and e.position("later") == 2
    e.set_away("a", False, 20)
    assert e.tick(20) == [DialBack("early", "+15550100")]
    assert e.tick(21) == []  # "later" does not take the agent kept for the call back
    assert e.state("early") is CallerState.DIALLING
    e.dialled("early", answered=True, now=30)
    assert rings(e.tick(30)) == [("a", "early")]
    serve(e, "a", "early", 31, 5)
    assert rings(e.tick(36)) == [("a", "later")]


def test_an_unanswered_callback_is_dropped_and_the_next_caller_served() -> None:
    e = engine()
    e.add_agent("a", ["support"], now=0)
    e.add_agent("b", ["support"], now=0)
    for name in ("a", "b"):
        e.set_away(name, True, 0)
    e.join("cb", "support", 0)
    e.join("w", "support", 1)
    e.book_callback("cb", "+15550100")
    e.set_away("a", False, 5)
    e.set_away("b", False, 5)
    out = e.tick(5)  # two free agents: one kept for the call back, one for "w"
    assert out[0] == DialBack("cb", "+15550100") and rings(out) == [("a", "w")]
    e.dialled("cb", answered=False, now=40)
    assert not e.waiting("cb")


def test_booking_a_callback_while_ringing_cancels_the_ring() -> None:
    e = engine()
    e.add_agent("a", ["support"], now=0)
    e.join("c1", "support", 0)
    e.tick(0)
    assert e.book_callback("c1", "+1555") == [CancelRing("a", "c1")]
    assert e.agent_status("a") is AgentStatus.AVAILABLE


def test_away_cancels_a_ring_and_away_while_busy_waits_for_the_call_end() -> None:
    e = engine()
    e.add_agent("a", ["support"], now=0)
    e.join("c1", "support", 0)
    e.tick(0)
    assert e.set_away("a", True, 1) == [CancelRing("a", "c1")]
    assert e.agent_status("a") is AgentStatus.AWAY and e.state("c1") is CallerState.WAITING
    assert rings(e.tick(2)) == []
    e.set_away("a", False, 3)
    assert rings(e.tick(3)) == [("a", "c1")]
    e.ring_answered("a", "c1", 4)
    e.set_away("a", True, 5)
    assert e.agent_status("a") is AgentStatus.BUSY
    e.call_ended("a", 9)
    assert e.agent_status("a") is AgentStatus.AWAY


def test_a_caller_leaving_while_rung_frees_the_agent() -> None:
    e = engine("ring-all")
    e.add_agent("a", ["support"], now=0)
    e.add_agent("b", ["support"], now=0)
    e.join("c1", "support", 0)
    e.tick(0)
    assert e.leave("c1") == [CancelRing("a", "c1"), CancelRing("b", "c1")]
    assert {e.agent_status(n) for n in "ab"} == {AgentStatus.AVAILABLE}
    assert e.leave("c1") == [] and e.next_deadline() is None


def test_snapshot_lists_callers_in_order_and_agents_with_their_state() -> None:
    e = engine()
    e.add_agent("a", ["support"], now=0)
    e.add_agent("b", ["support", "sales"], now=0)
    e.set_away("b", True, 0)
    e.join("c1", "support", 0, caller="+1555")
    e.join("c2", "support", 3, priority=2)
    e.tick(4)
    support = e.snapshot(10)[1]
    assert support.name == "support"
    assert [(w.position, w.call_id, w.waited_s, w.state) for w in support.waiting] == [
        (1, "c2", 7, "ringing"), (2, "c1", 10, "waiting")]
    assert [(g.name, g.state, g.current_call) for g in support.agents] == [
        ("a", "ringing", "c2"), ("b", "away", "")]
    sales = e.snapshot(10)[0]
    assert [g.name for g in sales.agents] == ["b"] and sales.waiting == ()


@pytest.mark.parametrize("strategy", ["longest-idle", "round-robin", "ring-all", "fewest-calls"])
def test_every_strategy_serves_a_crowd_in_queue_order(strategy: str) -> None:
    """30 callers, 4 agents answering after 1 s and talking 20-50 s, simulated to the end."""
    e = engine(strategy, wrap_up_s=5)
    names = ["a", "b", "c", "d"]
    for name in names:
        e.add_agent(name, ["support"], now=0)
    answered: list[str] = []
    talk = {name: 20 + 10 * i for i, name in enumerate(names)}
    events: list[tuple[float, str, str, str]] = []  # (time, kind, agent, call)
    for i in range(30):
        e.join(f"c{i:02}", "support", i * 0.5)
    t = 15.0
    for _ in range(2000):
        for action in e.tick(t):
            if isinstance(action, Ring):
                events.append((t + 1, "answer", action.agent, action.call_id))
        events.sort()
        due = [ev for ev in events if ev[0] <= t]
        events = [ev for ev in events if ev[0] > t]
        for when, kind, agent, call in due:
            if kind == "answer":
                if e.ring_answered(agent, call, when) is not None and e.won(agent, call):
                    answered.append(call)
                    events.append((when + talk[agent], "end", agent, call))
            else:
                e.call_ended(agent, when)
        nexts = [ev[0] for ev in events]
        deadline = e.next_deadline()
        if deadline is not None:
            nexts.append(deadline)
        if not nexts:
            break
        t = max(t, min(nexts))
    assert answered == [f"c{i:02}" for i in range(30)]
    assert sum(e.calls_taken(n) for n in names) == 30
    assert not math.isinf(t)


@pytest.mark.parametrize("seed", range(12))
def test_random_days_keep_every_invariant(seed: int) -> None:
    """Seeded random traffic in simulated time: arrivals with priorities, agents who answer,
    decline or let it ring, callers who hang up, agents stepping away. Never two agents on one
    callers, positions always 1..n, and everyone who stays is answered in the end."""
    import random

    rnd = random.Random(seed)
    strategy = ["longest-idle", "round-robin", "ring-all", "fewest-calls"][seed % 4]
    e = engine(strategy, wrap_up_s=rnd.choice([0, 3]))
    names = [f"g{i}" for i in range(rnd.randint(1, 4))]
    for name in names:
        e.add_agent(name, ["support"], now=0)
    events: list[tuple[float, int, str, str, str]] = []  # (time, n, kind, agent, call)
    n = 0

    def later(at: float, kind: str, agent: str = "", call: str = "") -> None:
        nonlocal n
        n += 1
        events.append((at, n, kind, agent, call))

    callers = [f"c{i:02}" for i in range(rnd.randint(5, 25))]
    quitters = set(rnd.sample(callers, k=len(callers) // 5))
    for call in callers:
        later(rnd.uniform(0, 60), "join", call=call)
        if call in quitters:
            later(rnd.uniform(0, 120), "quit", call=call)
    for name in names:
        later(rnd.uniform(0, 50), "away", agent=name)
        later(rnd.uniform(50, 100), "back", agent=name)
    joined: set[str] = set()
    answered: list[str] = []
    gone: set[str] = set()
    t = 0.0
    for _ in range(20000):
        for action in e.tick(t):
            if isinstance(action, Ring):
                choice = rnd.random()
                if choice < 0.6:
                    later(t + rnd.uniform(0.1, 5), "answer", action.agent, action.call_id)
                elif choice < 0.8:
                    later(t + rnd.uniform(0.1, 3), "decline", action.agent, action.call_id)
                # else: it rings out (the engine's ring timeout)
        busy = [g.current_call for q in e.snapshot(t) for g in q.agents if g.state == "busy"]
        assert len(busy) == len(set(busy)), "a caller with two agents"
        for q in e.snapshot(t):  # a caller being rung is rung by agents ringing for them
            for w in q.waiting:
                for name in w.ringing:
                    assert e.agent_status(name) is AgentStatus.RINGING
        for q in e.snapshot(t):
            assert [w.position for w in q.waiting] == list(range(1, len(q.waiting) + 1))
        events.sort()
        if events and events[0][0] <= t:
            _, _, kind, agent, call = events.pop(0)
            match kind:
                case "join":
                    joined.add(call)
                    e.join(call, "support", t, priority=rnd.choice([0, 0, 0, 5]))
                case "quit" if call in joined and e.waiting(call):
                    e.leave(call)
                    gone.add(call)
                case "answer":
                    if e.ring_answered(agent, call, t) is not None and e.won(agent, call):
                        answered.append(call)
                        later(t + rnd.uniform(5, 30), "end", agent, call)
                case "decline":
                    e.ring_failed(agent, call, t)
                case "end":
                    e.call_ended(agent, t)
                case "away":
                    e.set_away(agent, True, t)
                case "back":
                    e.set_away(agent, False, t)
            continue
        nexts = [ev[0] for ev in events]
        deadline = e.next_deadline()
        if deadline is not None:
            assert deadline > t, "a deadline that is due after tick(): the driver would spin"
            nexts.append(deadline)
        if not nexts:
            break
        t = min(nexts)
    assert len(answered) == len(set(answered))  # nobody answered twice
    assert set(answered) | gone == set(callers)  # nobody lost
    assert not any(e.waiting(c) for c in callers)
