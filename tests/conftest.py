"""Suite-wide options: ``--event-loop=uvloop`` runs every asyncio test on uvloop.

``callport serve`` runs on uvicorn's default loop, which is uvloop when it is installed
(``loop="auto"``), so timers, sockets and subprocesses must behave the same on both. The
default stays asyncio; ``CALLPORT_TEST_LOOP=uvloop`` does the same as the option. ``make test``
runs the whole suite with ``--event-loop=uvloop``, then the fast tests the loop changes
(``--on-the-loop-only``) on asyncio."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--event-loop", choices=("asyncio", "uvloop"),
                     default=os.environ.get("CALLPORT_TEST_LOOP", "asyncio"),
                     help="event loop for asyncio tests (callport serve uses uvloop)")
    parser.addoption("--on-the-loop-only", action="store_true",
                     help="only the tests --event-loop changes: coroutine tests and tests "
                          "with an async fixture (the others run the same on any loop)")


def _on_the_loop(item: pytest.Item) -> bool:
    """Does ``--event-loop`` change how ``item`` runs? A coroutine test, or one that uses an
    async fixture, runs on the chosen loop; a plain test (one that calls ``asyncio.run``
    itself, or starts a ``callport`` process) runs the same whatever the option says."""
    if item.get_closest_marker("asyncio") is not None:
        return True
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    return any(inspect.iscoroutinefunction(d.func) or inspect.isasyncgenfunction(d.func)
               for chain in defs for d in chain)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--on-the-loop-only"):
        return
    keep = [item for item in items if _on_the_loop(item)]
    dropped = [item for item in items if not _on_the_loop(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_asyncio_loop_factories(config: pytest.Config,
                                  item: pytest.Item) -> Mapping[str, Callable[[], Any]]:
    if config.getoption("--event-loop") == "uvloop":
        import uvloop

        return {"uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


def pytest_report_header(config: pytest.Config) -> str:
    return f"event loop: {config.getoption('--event-loop')}"


# -- no call left in progress ------------------------------------------------------------------
# Every call a test makes must end with a disposition: after each test (fast or slow, every
# directory), the call stores it made (MemoryCallStore instances created during it, SQLite
# databases under its tmp_path) must hold no record in a live status. A test that leaves one
# (a leaked call, an unfinished record, a stand-in that never sends the provider's final
# status) fails at teardown, naming the calls. A test that leaves calls live on purpose is
# marked ``open_calls``.

_LIVE_STORES: list[Any] = []

# Tests whose open records are not calls at all (file::test prefix -> why). Shrink this list;
# never grow it for a call: fix the channel, or make the stand-in end the call as the real
# provider does (Twilio's completed status callback, Telnyx's call.hangup).
KNOWN_OPEN = {
    "tests/store/": "the call store's own contract tests: fabricated records, no calls",
    "tests/server/test_edge_sockets.py::test_stale_records_are_closed_live_and_recent": (
        "fabricated live and recent records the stale sweep must leave open"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "open_calls: the test leaves call records in progress "
                            "on purpose (no end-of-test check)")
    from callport.store import calls

    original = calls.MemoryCallStore.__init__

    def registering(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _LIVE_STORES.append(self)

    calls.MemoryCallStore.__init__ = registering  # type: ignore[method-assign]


def _open_calls(request: pytest.FixtureRequest, stores: list[Any]) -> list[str]:
    import sqlite3

    from callport.store.calls import TERMINAL

    found = [f"{r.call_id} ({r.channel}, {r.status})" for store in stores
             for r in store._calls.values() if r.status not in TERMINAL]
    tmp = request.node.funcargs.get("tmp_path")
    if tmp is None:
        return found
    marks = ",".join("?" * len(TERMINAL))
    for db in tmp.rglob("*.db"):
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0)
            try:
                rows = conn.execute(f"SELECT call_id, channel, status FROM calls WHERE status "
                                    f"NOT IN ({marks})", sorted(TERMINAL)).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:  # not a call store (or no calls table yet)
            continue
        found += [f"{c} ({ch}, {st}) in {db.name}" for c, ch, st in rows]
    return found


@pytest.fixture(autouse=True)
def _no_call_left_in_progress(request: pytest.FixtureRequest) -> Any:
    first = len(_LIVE_STORES)
    yield
    stores = _LIVE_STORES[first:]
    del _LIVE_STORES[first:]
    if request.node.get_closest_marker("open_calls") is not None or any(
            request.node.nodeid.startswith(known) for known in KNOWN_OPEN):
        return
    if request.node.rep_call_failed if hasattr(request.node, "rep_call_failed") else False:
        return
    left = _open_calls(request, stores)
    if left:
        pytest.fail("calls left in progress after the test (every call must end with a "
                    "disposition): " + ", ".join(left[:5]), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call_failed = report.failed  # type: ignore[attr-defined]
    return report
