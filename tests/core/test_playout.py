from __future__ import annotations

import numpy as np

from callport.call.playout import FrameItem, MarkItem, Playout


def frames(n: int) -> list[np.ndarray]:
    return [np.zeros(160, np.int16) for _ in range(n)]


def test_marks_every_n_frames_and_at_clause_end() -> None:
    p = Playout(mark_every=10)
    names = p.add_clause("one two three four", frames(25))
    assert len(names) == 3
    items = [p.pop() for _ in range(len(p))]
    kinds = ["m" if isinstance(i, MarkItem) else "f" for i in items]
    assert kinds == ["f"] * 10 + ["m"] + ["f"] * 10 + ["m"] + ["f"] * 5 + ["m"]
    assert all(isinstance(i, FrameItem | MarkItem) for i in items)


def test_heard_text_whole_and_partial_clauses() -> None:
    p = Playout(mark_every=10)
    a = p.add_clause("first clause here.", frames(10))
    b = p.add_clause("one two three four five six seven eight nine ten", frames(20))
    while p.pop() is not None:  # everything handed to the leg
        pass
    assert p.marked(a[0], True) and p.marked(b[0], True)  # 10 of 20 frames of clause two
    assert p.marked(b[1], False)  # the rest was cleared by a barge-in
    assert p.heard_text() == "first clause here. one two three four five"
    assert p.full_text().startswith("first clause here. one two")
    assert not p.marked("not-ours", True)


def test_clear_returns_queued_marks() -> None:
    p = Playout(mark_every=10)
    a = p.add_clause("x", frames(15))
    assert p.clear() == a and len(p) == 0 and p.queued_frames == 0


def test_unplayed_marks_do_not_count_as_heard() -> None:
    p = Playout(mark_every=10)
    a = p.add_clause("hello there", frames(5))
    p.marked(a[0], False)
    assert p.heard_text() == ""
    assert p.pending_marks == 0
