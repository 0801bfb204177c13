"""Reframer: arbitrary chunks in, exact frames out, nothing lost or reordered."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callport.audio.frame import Reframer, frame_samples


def test_frame_samples() -> None:
    assert frame_samples(8000, 20) == 160
    assert frame_samples(16000, 20) == 320
    assert frame_samples(48000, 10) == 480
    assert frame_samples(22050, 20) == 441
    assert frame_samples(8000, 2.5) == 20
    with pytest.raises(ValueError):
        frame_samples(22050, 10)  # 220.5 samples
    with pytest.raises(ValueError):
        frame_samples(0, 20)


def test_small_chunks_accumulate() -> None:
    r = Reframer(frame_samples=160)
    assert r.push(np.arange(100, dtype=np.int16)) == []
    assert r.pending_samples == 100
    frames = r.push(np.arange(100, 200, dtype=np.int16))
    assert len(frames) == 1
    assert frames[0].tolist() == list(range(160))
    assert r.pending_samples == 40


def test_big_chunk_yields_many_frames_and_frames_are_independent() -> None:
    r = Reframer(frame_samples=4)
    src = np.arange(10, dtype=np.int16)
    frames = r.push(src)
    assert [f.tolist() for f in frames] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    src[:] = -1  # the caller reuses its buffer
    frames[0][0] = 99
    assert frames[1].tolist() == [4, 5, 6, 7]
    more = r.push(np.array([10, 11], dtype=np.int16))
    assert [f.tolist() for f in more] == [[8, 9, 10, 11]]


def test_flush_pads_or_not() -> None:
    r = Reframer(frame_samples=4)
    assert r.flush() is None
    r.push(np.array([1, 2, 3], dtype=np.int16))
    out = r.flush()
    assert out is not None and out.tolist() == [1, 2, 3, 0]
    assert r.pending_samples == 0
    r.push(np.array([5], dtype=np.int16))
    out = r.flush(pad=False)
    assert out is not None and out.tolist() == [5]
    r.push(np.array([7, 8], dtype=np.int16))
    r.reset()
    assert r.pending_samples == 0 and r.flush() is None


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        Reframer(frame_samples=0)
    with pytest.raises(TypeError):
        Reframer(frame_samples=4).push(np.zeros(4, dtype=np.float64))


@given(
    st.lists(st.integers(min_value=0, max_value=700), max_size=30), st.sampled_from([1, 160, 320])
)
def test_stream_is_preserved(chunks: list[int], n: int) -> None:
    total = sum(chunks)
    src = (np.arange(total) % 30000).astype(np.int16)
    r = Reframer(frame_samples=n)
    out: list[np.ndarray] = []
    pos = 0
    for c in chunks:
        got = r.push(src[pos : pos + c])
        pos += c
        assert all(f.shape == (n,) and f.dtype == np.int16 for f in got)
        out.extend(got)
    assert r.pending_samples == total % n
    tail = r.flush(pad=False)
    joined = np.concatenate([*out, *([] if tail is None else [tail])]) if total else np.zeros(0)
    assert np.array_equal(joined, src)
