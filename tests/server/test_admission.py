"""Admission by capacity: the pure decisions, in simulated time."""

from __future__ import annotations

import pytest

from callport.server.admission import Admission, Load, auto_max_conversations


def test_admits_until_max_conversations_then_refuses_with_retry_after() -> None:
    adm = Admission(max_conversations=3, backlog_age_s=2.0, retry_after_s=30)
    verdicts = [adm.decide(Load(active=n), now=0.0) for n in range(5)]
    assert [v.admit for v in verdicts] == [True, True, True, False, False]
    assert verdicts[3].reason == "max-conversations" and verdicts[3].retry_after_s == 30
    assert adm.refused == 2
    assert adm.decide(Load(active=2), now=1.0).admit  # one hung up: room again


def test_an_old_backlog_refuses_and_holds_until_it_drains() -> None:
    adm = Admission(max_conversations=100, backlog_age_s=2.0, hold_s=5.0)
    assert adm.decide(Load(active=1, queued=3, oldest_s=1.9), now=0.0).admit
    refused = adm.decide(Load(active=1, queued=4, oldest_s=2.0), now=1.0)
    assert not refused.admit and refused.reason == "backlog"
    # Under the limit but not under half of it: still saturated.
    assert adm.saturated(Load(active=1, queued=2, oldest_s=1.5), now=10.0) == "backlog"
    # Under half, but not for hold_s since it was last past the limit: still saturated.
    adm.decide(Load(active=1, queued=4, oldest_s=2.5), now=20.0)
    assert adm.saturated(Load(active=1, oldest_s=0.5), now=22.0) == "backlog"
    assert adm.saturated(Load(active=1, oldest_s=0.5), now=25.0) == ""
    assert adm.decide(Load(active=1), now=25.1).admit


def test_backlog_limit_zero_checks_only_conversations() -> None:
    adm = Admission(max_conversations=2, backlog_age_s=0.0)
    assert adm.decide(Load(active=1, queued=50, oldest_s=300.0), now=0.0).admit


def test_auto_max_conversations_scales_with_cores() -> None:
    assert auto_max_conversations(2, per_core=5) == 10
    assert auto_max_conversations(16, per_core=2.5) == 40
    assert auto_max_conversations(None, per_core=5) == 5  # unknown: one core
    assert auto_max_conversations(1, per_core=0.1) == 1  # never zero


def test_max_conversations_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Admission(max_conversations=0, backlog_age_s=1.0)
