"""Levels and saturating mix/gain."""

from __future__ import annotations

import numpy as np
import pytest

from callport.audio.level import gain, mix, rms_dbfs
from callport.audio.tones import tone


def test_rms_dbfs_reference_levels() -> None:
    square = np.tile(np.array([32767, -32768], dtype=np.int16), 400)
    assert rms_dbfs(square) == pytest.approx(0.0, abs=0.01)
    sine = tone(1000.0, sample_rate=8000, duration_ms=1000, amplitude=1.0)
    assert rms_dbfs(sine) == pytest.approx(-3.01, abs=0.05)
    assert rms_dbfs(gain(sine, -20.0)) == pytest.approx(-23.01, abs=0.05)
    assert rms_dbfs(np.zeros(160, dtype=np.int16)) == -120.0
    assert rms_dbfs(np.zeros(0, dtype=np.int16), floor=-90.0) == -90.0
    assert rms_dbfs(np.ones(160, dtype=np.int16)) == pytest.approx(-90.31, abs=0.01)


def test_gain_saturates_and_rounds() -> None:
    x = np.array([20000, -20000, 3, 0], dtype=np.int16)
    assert gain(x, 6.0206).tolist() == [32767, -32768, 6, 0]
    assert gain(x, 0.0).tolist() == x.tolist()
    assert gain(x, -120.0).tolist() == [0, 0, 0, 0]


def test_mix_pads_and_saturates() -> None:
    a = np.array([30000, -30000, 5], dtype=np.int16)
    b = np.array([10000, -10000], dtype=np.int16)
    assert mix(a, b).tolist() == [32767, -32768, 5]
    assert mix().size == 0
    assert mix(b).tolist() == b.tolist()
