from __future__ import annotations

import pytest

from callport.config import ConfigError, load_settings
from callport.recording.consent import AI_NOTICE, ConsentMachine, Mode, classify
from callport.recording.rules import all_party_rule, jurisdiction

ONE_PARTY = "+12125550100"  # New York: one-party
CALIFORNIA = "+14155550100"
PENNSYLVANIA = "+12155550100"
LONDON = "+442071838750"
JAPAN = "+81312345678"


def machine(mode: Mode, caller: str = ONE_PARTY, callee: str = JAPAN) -> ConsentMachine:
    return ConsentMachine(mode=mode, caller=caller, callee=callee, notice="We may record.",
                          question="Is that ok?")


def test_off_records_nothing_and_says_nothing() -> None:
    m = machine(Mode.OFF)
    assert m.words == ""
    assert m.decision is not None and m.decision.outcome == "off" and not m.decision.record


def test_notify_implied_by_staying_on_the_line() -> None:
    m = machine(Mode.NOTIFY)
    assert m.words.startswith(AI_NOTICE) and "We may record." in m.words
    assert not m.asks and "Is that ok?" not in m.words
    m.disclosed(at=2.0)
    d = m.stayed(at=4.0)
    assert (d.outcome, d.record, d.at, d.mode, d.rule) == ("implied", True, 4.0, "notify",
                                                            "setting")
    assert d.words == m.words


def test_consent_yes_records() -> None:
    m = machine(Mode.CONSENT)
    assert m.asks and m.words.endswith("Is that ok?") and m.words.startswith(AI_NOTICE)
    m.disclosed(at=3.0)
    d = m.answered("Yes, I agree.", at=5.0)
    assert (d.outcome, d.record, d.answer) == ("consent", True, "Yes, I agree.")


@pytest.mark.parametrize("answer", ["No thanks.", "I don't want that", "purple elephants",
                                    "yes, no"])
def test_consent_decline_or_unclear_does_not_record(answer: str) -> None:
    m = machine(Mode.CONSENT)
    m.disclosed(at=3.0)
    d = m.answered(answer, at=5.0)
    assert (d.outcome, d.record) == ("decline", False)


def test_consent_silence_does_not_record() -> None:
    m = machine(Mode.CONSENT)
    m.disclosed(at=3.0)
    d = m.no_answer(at=9.0)
    assert (d.outcome, d.record, d.at) == ("no-answer", False, 9.0)


@pytest.mark.parametrize("mode", [Mode.NOTIFY, Mode.CONSENT])
def test_hang_up_during_disclosure(mode: Mode) -> None:
    m = machine(mode)
    d = m.hung_up(at=1.0)
    assert (d.outcome, d.record, d.at) == ("hung-up", False, 1.0)
    assert m.hung_up(at=2.0) is d  # once decided, stays decided
    with pytest.raises(RuntimeError):
        m.stayed(at=3.0)


def test_hang_up_while_waiting_for_the_answer() -> None:
    m = machine(Mode.CONSENT)
    m.disclosed(at=3.0)
    assert m.hung_up(at=4.0).outcome == "hung-up"


def test_input_out_of_order_is_refused() -> None:
    m = machine(Mode.NOTIFY)
    with pytest.raises(RuntimeError):
        m.stayed(at=1.0)  # before the notice was said
    m.disclosed(at=1.0)
    with pytest.raises(RuntimeError):
        m.answered("yes", at=2.0)  # notify takes no answer


@pytest.mark.parametrize(("caller", "callee", "rule"), [
    (CALIFORNIA, ONE_PARTY, "all-party:US-CA"),
    (ONE_PARTY, PENNSYLVANIA, "all-party:US-PA"),
    (CALIFORNIA, PENNSYLVANIA, "all-party:US-CA"),  # two all-party states
    (JAPAN, LONDON, "all-party:UK"),
    ("+4930123456", ONE_PARTY, "all-party:EU-DE"),
])
def test_all_party_makes_notify_ask(caller: str, callee: str, rule: str) -> None:
    m = machine(Mode.NOTIFY, caller, callee)
    assert (m.mode, m.rule, m.asks) == (Mode.CONSENT, rule, True)
    m.disclosed(at=1.0)
    d = m.answered("okay", at=2.0)
    assert (d.outcome, d.mode, d.rule, d.record) == ("consent", "consent", rule, True)
    with pytest.raises(RuntimeError):
        machine(Mode.NOTIFY, caller, callee).stayed(at=1.0)


def test_all_party_does_not_turn_off_into_recording() -> None:
    assert machine(Mode.OFF, CALIFORNIA, LONDON).decision.outcome == "off"  # type: ignore[union-attr]


def test_consent_mode_stays_consent_with_its_rule() -> None:
    assert machine(Mode.CONSENT, CALIFORNIA).rule == "setting"


def test_jurisdictions() -> None:
    assert jurisdiction(CALIFORNIA).code == "US-CA"
    assert jurisdiction(ONE_PARTY).code == "US" and not jurisdiction(ONE_PARTY).all_party
    assert jurisdiction("+35312345678").code == "EU-IE"
    assert jurisdiction("browser:alice").code == ""
    assert all_party_rule(ONE_PARTY, JAPAN, "") == ""


def test_classify() -> None:
    assert classify("Sure, go ahead") == "yes"
    assert classify("Nope") == "no"
    assert classify("hmm") == "unclear"


def test_settings() -> None:
    s = load_settings(env={"CALLPORT_RECORDING_MODE": "notify",
                           "CALLPORT_RECORDING_PAUSED": "skip"})
    assert (s.recording.mode, s.recording.paused) == ("notify", "skip")
    assert load_settings(env={}).recording.mode == "off"
    with pytest.raises(ConfigError, match=r"recording\.mode"):
        load_settings(env={"CALLPORT_RECORDING_MODE": "always"})
