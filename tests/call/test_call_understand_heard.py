"""Menu understanding with the recogniser's own doubt, and hints that cover every choice
(pure: a word-overlap embedder, no model)."""

from __future__ import annotations

from test_call_gather import CHOICES, words_embedder

from callport.call.understand import Choice, Confirm, Picked, Understanding, stt_hints


def sure_understanding() -> Understanding:
    return Understanding(choices=CHOICES, embedder=words_embedder, accept=0.62, confirm=0.3,
                         margin=0.06, sure_heard=0.5)


def test_a_sure_pick_from_doubtful_words_is_asked_back() -> None:
    u = sure_understanding()
    sure = u.words("pay my bill")
    assert isinstance(sure, Picked) and sure.choice == CHOICES[2]
    assert u.words("pay my bill", heard=0.9) == sure
    doubtful = u.words("pay my bill", heard=0.3)
    assert isinstance(doubtful, Confirm) and doubtful.choice == CHOICES[2]


def test_doubt_never_turns_a_key_or_a_command_into_a_question() -> None:
    u = sure_understanding()
    assert u.key("1") == Picked(CHOICES[0], "dtmf", 1.0)
    assert u.words("repeat", heard=0.1).__class__.__name__ == "Command"


def test_unknown_confidence_changes_nothing() -> None:
    u = sure_understanding()
    assert u.words("sales", heard=None) == u.words("sales")


def test_hints_name_every_choice_before_any_example() -> None:
    choices = [Choice("a", ("a1", "a2", "a3")), Choice("b", ("b1",)), Choice("c", label="see")]
    assert stt_hints(choices) == ("a", "b", "see", "a1", "b1", "a2", "a3")


def test_hints_say_a_repeated_phrase_once() -> None:
    assert stt_hints([Choice("x", ("x",)), Choice("y", ("x", "y2"))]) == ("x", "y", "y2")
