"""The loaded server's heap is frozen out of the collector's sight, and collection pauses are
observed into ``/metrics`` (``callport.server.heap``)."""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_support import callport_serve

from callport.metrics import Metrics
from callport.server.heap import GcPauses, freeze_startup
from loadgen.ports import free_port


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process's heap back under the collector


def test_freeze_startup_takes_the_loaded_heap_out_of_collections(unfrozen: None) -> None:
    kept = [[i] for i in range(1000)]  # tracked objects alive now
    frozen = freeze_startup()
    assert frozen == gc.get_freeze_count() >= len(kept)
    collected = {id(obj) for obj in gc.get_objects()}  # what collections would scan
    assert not any(id(x) in collected for x in kept)


def test_every_collection_is_observed_while_installed() -> None:
    metrics = Metrics()
    with GcPauses(metrics):
        for _ in range(3):
            gc.collect()
    seen = metrics.gc_pause_seconds.count
    assert seen >= 3
    assert metrics.gc_pause_seconds.total > 0
    gc.collect()  # uninstalled: no longer observed
    assert metrics.gc_pause_seconds.count == seen
    assert "callport_gc_pause_seconds_count" in metrics.render()


def test_the_frozen_count_is_published_on_entry(unfrozen: None) -> None:
    metrics = Metrics()
    freeze_startup()
    with GcPauses(metrics):
        assert metrics.gc_frozen_objects.value == gc.get_freeze_count() > 0


@pytest.mark.slow
def test_callport_serve_freezes_its_loaded_heap_and_reports_pauses(tmp_path: Path) -> None:
    port = free_port()
    env = {"CALLPORT_DB": str(tmp_path / "c.db"), "XDG_DATA_HOME": str(tmp_path),
           "CALLPORT_METRICS_PUBLIC": "true"}
    with (callport_serve(["serve", "--no-warmup", "--port", str(port)], env),
          httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client):
        for _ in range(20):  # some work, so the collector runs
            client.get("/healthz")
        text = client.get("/metrics").text
    frozen = re.search(r"^callport_gc_frozen_objects (\S+)$", text, re.M)
    assert frozen is not None and float(frozen.group(1)) > 10_000, text[-2000:]
    assert re.search(r"^callport_gc_pause_seconds_count \d+$", text, re.M), text[-2000:]
