"""bench/previous.py: ratios against the previous figures, and --record's write."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from previous import Previous  # noqa: E402


def test_ratios_against_the_recorded_row(tmp_path: Path) -> None:
    path = tmp_path / "previous.json"
    path.write_text(json.dumps({"bench_load": {"sip N=50": {
        "when": "2026-12-02 10:06 UTC", "commit": "abc1234", "load": 0.5,
        "figures": {"cpu_ms_per_call_s": 10.0, "lat_p95_ms": 4.0}}}}))
    prev = Previous.load("bench_load", path)
    line = prev.against("sip N=50", {"cpu_ms_per_call_s": 5.0, "lat_p95_ms": 6.0,
                                     "new_only": 1.0})
    assert "abc1234" in line and "2026-12-02 10:06 UTC" in line
    assert "cpu_ms_per_call_s 5 / 10 = 0.50x" in line
    assert "lat_p95_ms 6 / 4 = 1.50x" in line
    assert "new_only" not in line  # nothing to compare it with


def test_unknown_rows_and_benches_say_so(tmp_path: Path) -> None:
    prev = Previous.load("bench_ear", tmp_path / "absent.json")
    assert prev.against("sip", {"x": 1.0}) == "sip: no previous figures on record"


def test_record_replaces_only_the_rows_it_measured(tmp_path: Path) -> None:
    path = tmp_path / "previous.json"
    path.write_text(json.dumps({
        "bench_load": {"sip N=10": {"figures": {"cpu_ms_per_call_s": 20.0}},
                       "sip N=50": {"figures": {"cpu_ms_per_call_s": 10.0}}},
        "bench_ear": {"sip": {"figures": {"first_reply_p50_ms": 875}}}}))
    prev = Previous.load("bench_load", path)
    prev.keep("sip N=50", {"cpu_ms_per_call_s": 4.2, "nan": float("nan"), "none": None},
              load=1.25)
    assert prev.save() == 1
    data = json.loads(path.read_text())
    assert data["bench_load"]["sip N=10"]["figures"] == {"cpu_ms_per_call_s": 20.0}
    assert data["bench_load"]["sip N=50"]["figures"] == {"cpu_ms_per_call_s": 4.2}
    assert data["bench_load"]["sip N=50"]["load"] == 1.25
    assert data["bench_ear"]["sip"]["figures"] == {"first_reply_p50_ms": 875}
    assert Previous.load("bench_load", path).against(
        "sip N=50", {"cpu_ms_per_call_s": 4.2}).endswith("= 1.00x")


def test_nothing_kept_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "previous.json"
    assert Previous.load("bench_load", path).save() == 0
    assert not path.exists()


def test_a_hand_edited_file_that_is_broken_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "previous.json"
    path.write_text("{not json")
    with pytest.raises(json.JSONDecodeError):
        Previous.load("bench_load", path)


def test_the_shipped_file_names_every_bench_it_holds() -> None:
    data = json.loads((BENCH / "previous.json").read_text())
    for bench, rows in data.items():
        assert (BENCH / f"{bench}.py").is_file(), bench
        for row in rows.values():
            assert row["figures"] and row["when"] and row["commit"]
