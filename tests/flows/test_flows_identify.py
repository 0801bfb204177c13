"""The identification gate's pure decisions: caller numbers, policies, the PIN dialogue in
simulated time (``now`` is an argument; nothing here waits)."""

from __future__ import annotations

import pytest

from callport.flows.identify import (
    GOODBYE_PIN,
    NO_PIN_HEARD,
    PROMPT,
    RETRY,
    ActAsOwner,
    AskPin,
    CheckPin,
    Identified,
    NeedPin,
    PinAccepted,
    PinEntry,
    PinRejected,
    Reject,
    caller_number,
    decide,
    guest_user,
    spoken_digits,
)
from callport.types import CallInfo, User

ALICE = User(name="alice", phones=("+15550001111",), has_pin=True)
BOB = User(name="bob", phones=("+15550002222",))


# -- caller numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "number"),
    [
        ("+15550001111", "+15550001111"),
        ("+1 (555) 000-1111", "+15550001111"),
        ("tel:+15550001111", "+15550001111"),
        ("sip:+15550001111@trunk.example;user=phone", "+15550001111"),
        ("<sip:+15550001111@10.0.0.1>", None),  # a header, not a URI: channels pass URIs
        ("sip:alice@example.com", None),
        ("anonymous", None),
        ("Restricted", None),
        ("5550001111", None),  # national format is not E.164
        ("", None),
        ("+0123456789", None),
    ],
)
def test_caller_number_is_e164_or_unknown(caller: str, number: str | None) -> None:
    assert caller_number(CallInfo(call_id="c", channel="sip", caller=caller)) == number


def test_outbound_calls_identify_the_callee() -> None:
    info = CallInfo(call_id="c", channel="twilio", caller="+15559990000", callee="+15550002222",
                    direction="outbound")  # fmt: skip
    assert caller_number(info) == "+15550002222"
    inbound = CallInfo(call_id="c", channel="twilio", caller="+15559990000", callee="+15550002222")
    assert caller_number(inbound) == "+15559990000"


# -- decisions ------------------------------------------------------------------------------


def test_known_users_with_and_without_pin() -> None:
    assert decide(BOB, unknown="reject", owner="owner", call_id="c") == Identified(BOB)
    assert decide(ALICE, unknown="owner", owner="owner", call_id="c") == NeedPin(ALICE)


def test_unknown_caller_policies() -> None:
    rejected = decide(None, unknown="reject", owner="owner", call_id="CA0123456789abcdef")
    assert isinstance(rejected, Reject)
    assert "goodbye" in rejected.message.lower()
    assert "alice" not in rejected.message.lower() and "owner" not in rejected.message.lower()
    assert decide(None, unknown="owner", owner="me", call_id="c") == ActAsOwner("me")
    guest = decide(None, unknown="guest", owner="owner", call_id="CA0123456789abcdef")
    assert guest == Identified(User(name="guest-89abcdef", display_name="guest", guest=True))
    assert decide(None, unknown="nonsense", owner="o", call_id="c") == Reject()
    callee = decide(None, unknown="reject", owner="o", call_id="c", outbound=True)
    assert isinstance(callee, Reject) and "calling from" not in callee.message
    assert "automated assistant" in callee.message and "Goodbye" in callee.message


def test_guest_names_are_safe_and_per_call() -> None:
    assert guest_user("talk-1a2b3c4d").name == "guest-1a2b3c4d"
    assert guest_user("Call/ID..x").name == "guest-callidx"
    assert guest_user("---").name == "guest-call"
    assert guest_user("a1").guest and guest_user("a1").name != guest_user("a2").name


# -- spoken digits --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("one two three four", "1234"),
        ("One, two, three, four.", "1234"),
        ("1, 2, 3, 4.", "1234"),
        ("1234", "1234"),
        ("12 34", "1234"),
        ("1-2-3-4", "1234"),
        ("my PIN is nine oh one two", "9012"),
        ("double five, seven, eight", "5578"),
        ("triple 0 one", "0001"),
        ("zero zero zero zero", "0000"),
        ("I don't remember", None),
        ("", None),
    ],
)
def test_spoken_digits(text: str, digits: str | None) -> None:
    assert spoken_digits(text) == digits


# -- the PIN dialogue -----------------------------------------------------------------------


def started(attempts: int = 3, timeout_s: float = 10.0) -> PinEntry:
    entry = PinEntry(attempts=attempts, timeout_s=timeout_s, digit_gap_s=3.0)
    assert entry.start() == [AskPin(PROMPT)]
    assert entry.get_timer() is None  # no clock runs while the prompt is being said
    entry.listening(100.0)
    return entry


def test_keypad_pin_ends_with_hash() -> None:
    entry = started()
    for i, d in enumerate("1234"):
        assert entry.digit(d, 101.0 + i) == []
    assert entry.digit("#", 105.0) == [CheckPin("1234")]
    assert entry.get_timer() is None  # no timer while the store checks
    assert entry.checked(True) == [PinAccepted()]
    assert entry.done and entry.wrong_attempts == 0


def test_keypad_pin_without_hash_ends_after_a_pause_once_long_enough() -> None:
    entry = started()
    entry.digit("1", 101.0)
    entry.digit("2", 101.5)
    entry.digit("3", 102.0)
    assert entry.get_timer() == 112.0  # three digits cannot be a PIN: the full timeout runs
    entry.digit("4", 102.5)
    assert entry.get_timer() == 105.5  # four can: the digit gap submits
    assert entry.handle_timer(105.4) == []
    assert entry.handle_timer(105.5) == [CheckPin("1234")]


def test_twelve_digits_submit_at_once_and_star_starts_over() -> None:
    entry = started()
    for d in "99*":
        entry.digit(d, 101.0)
    for d in "123456789012":
        out = entry.digit(d, 102.0)
    assert out == [CheckPin("123456789012")]


def test_spoken_pin_is_one_turn() -> None:
    entry = started()
    assert entry.speech("one two three four") == [CheckPin("1234")]
    assert entry.checked(True) == [PinAccepted()]


def test_keypad_digits_then_spoken_rest() -> None:
    entry = started()
    entry.digit("1", 101.0)
    entry.digit("2", 101.2)
    assert entry.speech("three four") == [CheckPin("1234")]


def test_empty_transcript_is_not_an_attempt_but_words_are() -> None:
    entry = started()
    assert entry.speech("  ") == []
    assert entry.speech("I forgot it") == [AskPin(NO_PIN_HEARD)]
    assert entry.wrong_attempts == 1


def test_silence_counts_as_a_wrong_attempt() -> None:
    entry = started(timeout_s=10.0)
    assert entry.handle_timer(109.9) == []
    assert entry.handle_timer(110.0) == [AskPin(NO_PIN_HEARD)]
    assert entry.wrong_attempts == 1 and entry.get_timer() is None
    entry.listening(115.0)
    assert entry.get_timer() == 125.0


def test_three_wrong_pins_end_the_call_politely() -> None:
    entry = started(attempts=3)
    assert entry.speech("1111") == [CheckPin("1111")]
    assert entry.checked(False) == [AskPin(RETRY)]
    entry.listening(110.0)
    entry.digit("123", 111.0)  # a multi-character "digit" is not one key: ignored
    for d in "2222#":
        out = entry.digit(d, 111.0)
    assert out == [CheckPin("2222")]
    assert entry.checked(False) == [AskPin(RETRY)]
    entry.listening(120.0)
    assert entry.speech("three three three three") == [CheckPin("3333")]
    assert entry.checked(False) == [PinRejected()]
    assert PinRejected().text == GOODBYE_PIN == "Sorry, that PIN didn't match. Goodbye."
    assert entry.done and entry.wrong_attempts == 3
    assert entry.digit("1", 130.0) == [] and entry.speech("1234") == []
    assert entry.handle_timer(1000.0) == []


def test_timeouts_and_wrong_pins_share_the_attempts() -> None:
    entry = started(attempts=2)
    assert entry.handle_timer(110.0) == [AskPin(NO_PIN_HEARD)]
    entry.listening(111.0)
    assert entry.speech("9 9 9 9") == [CheckPin("9999")]
    assert entry.checked(False) == [PinRejected()]


def test_implausible_entries_fail_without_a_store_check() -> None:
    entry = started(attempts=3)
    assert entry.digit("#", 101.0) == [AskPin(NO_PIN_HEARD)]  # hash alone
    entry.listening(102.0)
    for d in "12#":
        out = entry.digit(d, 103.0)
    assert out == [AskPin(RETRY)]  # two digits: no PIN is that short
    entry.listening(104.0)
    entry.digit("5", 105.0)
    assert entry.handle_timer(115.0) == [PinRejected()]  # one digit, then silence
    assert entry.wrong_attempts == 3


def test_checked_out_of_turn_is_a_programming_error() -> None:
    entry = started()
    with pytest.raises(RuntimeError):
        entry.checked(True)
    with pytest.raises(ValueError):
        PinEntry(attempts=0, timeout_s=1.0)
