"""nlu.phonetic: a general sound key, checked on homophones no table in the code lists."""

from __future__ import annotations

import pytest

from callport.nlu.phonetic import sound_key, sounds_alike
from callport.store.tasks import title_score, unmatched_words


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sighs", "size"), ("knot", "not"), ("wrap", "rap"), ("phase", "faze"),
        ("gnaw", "naw"), ("hi", "high"), ("plum", "plumb"), ("cent", "sent"),
        ("seller", "cellar"), ("knead", "need"), ("wring", "ring"), ("8", "eight"),
        ("tide", "tied"), ("sole", "soul"), ("write", "rite"),
    ],
)  # fmt: skip
def test_words_that_sound_the_same_share_a_key(a: str, b: str) -> None:
    assert sound_key(a) == sound_key(b)
    assert sounds_alike(a, b)


@pytest.mark.parametrize(
    ("a", "b"), [("milk", "silk"), ("call", "tall"), ("plants", "pants"), ("fix", "six")]
)
def test_different_sounds_keep_different_keys(a: str, b: str) -> None:
    assert not sounds_alike(a, b)


def test_a_vowel_alone_is_no_evidence() -> None:
    assert not sounds_alike("a", "I")


@pytest.mark.parametrize(
    ("heard", "title"),
    [("pay the sellar fee", "pay the cellar fee"), ("tie the not", "tie the knot"),
     ("fix the plum line", "fix the plumb line"), ("sew the soul", "sew the sole")],
)
def test_titles_match_through_sound_alike_words(heard: str, title: str) -> None:
    assert unmatched_words(heard, title) == []
    assert 0.85 <= title_score(heard, title) < 1.0  # the exact spelling still wins
