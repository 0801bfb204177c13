"""Which failures fail over: every carrier-trouble cause does, every callee answer does not,
and nothing does once the callee's phone rang or played early media."""

from __future__ import annotations

import pytest

from callport.routing.causes import Failure, judge

FAIL_OVER = [
    Failure(kind="http", status=500),
    Failure(kind="http", status=502),
    Failure(kind="http", status=503),
    Failure(kind="http", status=429),
    Failure(kind="http", status=401),
    Failure(kind="http", status=403),
    Failure(kind="timeout"),
    Failure(kind="connection", reason="connection refused"),
    Failure(kind="sip", status=408),
    Failure(kind="sip", status=500),
    Failure(kind="sip", status=503, reason="Service Unavailable"),
    Failure(kind="sip", status=504),
    Failure(kind="sip", status=401),
    Failure(kind="sip", status=407),
    Failure(kind="sip", status=0, reason="unroutable"),
    Failure(kind="sip", status=403, reason="Channel limit exceeded"),
    Failure(kind="sip", status=403, reason="Too many concurrent calls"),
]

FINAL = [
    (Failure(kind="sip", status=486, reason="Busy Here"), "busy"),
    (Failure(kind="sip", status=600), "busy"),
    (Failure(kind="sip", status=480), "unavailable"),
    (Failure(kind="sip", status=404), "invalid-number"),
    (Failure(kind="sip", status=484), "invalid-number"),
    (Failure(kind="sip", status=603, reason="Decline"), "declined"),
    (Failure(kind="sip", status=487), "canceled"),
    (Failure(kind="sip", status=403, reason="Forbidden"), "failed"),
    (Failure(kind="no-answer"), "no-answer"),
    (Failure(kind="canceled"), "canceled"),
    (Failure(kind="http", status=400), "failed"),
    (Failure(kind="http", status=422), "failed"),
]


@pytest.mark.parametrize("failure", FAIL_OVER, ids=lambda f: f"{f.kind}-{f.status}-{f.reason}")
def test_carrier_trouble_fails_over(failure: Failure) -> None:
    verdict = judge(failure)
    assert verdict.fail_over and verdict.carrier_trouble
    assert verdict.disposition == "failed"


@pytest.mark.parametrize(("failure", "disposition"), FINAL,
                         ids=lambda x: f"{x.kind}-{x.status}" if isinstance(x, Failure) else x)
def test_the_callees_answer_never_fails_over(failure: Failure, disposition: str) -> None:
    verdict = judge(failure)
    assert not verdict.fail_over
    assert verdict.disposition == disposition


@pytest.mark.parametrize("failure", FAIL_OVER, ids=lambda f: f"{f.kind}-{f.status}-{f.reason}")
def test_nothing_fails_over_after_ringing_or_early_media(failure: Failure) -> None:
    rung = Failure(kind=failure.kind, status=failure.status, reason=failure.reason,
                   alerted=True)
    assert not judge(rung).fail_over


def test_a_ring_timeout_is_no_answer() -> None:
    verdict = judge(Failure(kind="timeout", alerted=True))
    assert verdict.disposition == "no-answer" and not verdict.fail_over


def test_cause_text_keeps_the_providers_words() -> None:
    assert judge(Failure(kind="sip", status=503, reason="Service Unavailable")).cause == \
        "sip 503 Service Unavailable"
