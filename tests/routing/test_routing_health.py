"""Circuit breakers in simulated time: closed -> open -> half-open probe -> closed or open."""

from __future__ import annotations

from callport.routing.health import Breaker, HealthBoard


def test_consecutive_failures_open_and_a_probe_closes() -> None:
    b = Breaker(failures=3, open_s=30.0)
    b.failure(0.0, "503")
    b.failure(1.0, "503")
    assert b.current(1.0) == "closed" and b.allows(1.0)
    b.failure(2.0, "sip 503")
    assert b.current(2.0) == "open" and not b.allows(2.0) and not b.acquire(31.9)
    assert b.current(32.0) == "half-open" and b.allows(32.0)
    assert b.acquire(32.0)  # the one probe
    assert not b.allows(32.5) and not b.acquire(32.5)  # nobody else while it is out
    b.success(33.0)
    assert b.current(33.0) == "closed" and b.consecutive == 0 and b.last_ok_at == 33.0


def test_a_failed_probe_opens_again_for_another_period() -> None:
    b = Breaker(failures=1, open_s=10.0)
    b.failure(0.0)
    assert b.acquire(10.0)
    b.failure(10.5, "timeout")
    assert b.current(10.5) == "open" and b.current(20.4) == "open"
    assert b.current(20.5) == "half-open" and b.last_error == "timeout"


def test_a_success_resets_the_count() -> None:
    b = Breaker(failures=2, open_s=10.0)
    b.failure(0.0)
    b.success(1.0)
    b.failure(2.0)
    assert b.current(2.0) == "closed"


def test_released_probe_may_be_taken_again() -> None:
    b = Breaker(failures=1, open_s=5.0)
    b.failure(0.0)
    assert b.acquire(5.0)
    b.release()
    assert b.acquire(5.1)


def test_health_checks_feed_the_board() -> None:
    board = HealthBoard(failures=2, open_s=60.0)
    board.probe_result("trunk-a", False, 0.0, "OPTIONS timeout")
    board.probe_result("trunk-a", False, 30.0, "OPTIONS timeout")
    assert board.snapshot(31.0) == {"trunk-a": "open"}
    board.probe_result("trunk-a", True, 40.0)  # a ping answered 200: it is back
    assert board.snapshot(40.0) == {"trunk-a": "closed"}
