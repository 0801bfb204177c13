"""kill -9 under a loop of task writes and 10 live SIP calls, then restart on the same file:
every task whose request got a 2xx is there, the database is intact, and the calls that were
live at the kill are ended with cause ``crash`` instead of staying in progress forever."""

from __future__ import annotations

import signal
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest
from serve_support import (
    callport,
    ended_causes,
    live_sip_calls,
    needs_sipp,
    query,
    start_callers,
    start_serve,
    stop_callers,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]

CALLS = 10
WRITES_BEFORE_KILL = 40


class Writer(threading.Thread):
    """Creates tasks one after another; remembers the titles whose POST got a 2xx."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.acked: list[str] = []
        self.refused: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=5) as client:
            i = 0
            while not self.stop.is_set():
                title = f"durable task {i}"
                i += 1
                try:
                    reply = client.post("/api/tasks/", json={"title": title})
                except httpx.HTTPError:
                    continue  # the server is gone: this write was never acknowledged
                if 200 <= reply.status_code < 300:
                    self.acked.append(title)
                else:
                    self.refused.append(reply.status_code)


def titles(base: str, token: str) -> set[str]:
    reply = httpx.get(f"{base}/api/tasks/", headers={"Authorization": f"Bearer {token}"},
                      timeout=10)
    assert reply.status_code == 200, reply.text
    listed = reply.json()
    tasks = listed if isinstance(listed, list) else listed["tasks"]
    return {t["title"] for t in tasks}


def test_kill9_loses_no_acknowledged_task_and_closes_live_calls(tmp_path: Path) -> None:
    db = tmp_path / "cp.db"
    callport("users", "add", "alice", db=db)
    # sipp's caller ID belongs to nobody: identity.unknown=owner puts it on the owner, who
    # must exist, or every call ends after its "unknown caller" message, before the kill
    callport("users", "add", "owner", "--role", "admin", db=db)
    token = callport("tokens", "create", "alice", db=db).strip().splitlines()[-1]
    first = start_serve(tmp_path, db, "first")
    callers = start_callers(tmp_path, first, CALLS)
    writer = Writer(first.base, token)
    try:
        wait_until(lambda: live_sip_calls(db) == CALLS, timeout=60, what=f"{CALLS} live calls")
        writer.start()
        wait_until(lambda: len(writer.acked) >= WRITES_BEFORE_KILL or bool(writer.refused),
                   timeout=60, what="task writes")
        assert writer.refused == []
        first.proc.send_signal(signal.SIGKILL)  # mid-write: the loop is still posting
        assert first.proc.wait(20) == -signal.SIGKILL
    finally:
        writer.stop.set()
        if writer.ident is not None:  # started: a failure before it must not be hidden
            writer.join(20)
        stop_callers(callers)
        first.stop()
    acked = set(writer.acked)
    assert len(acked) >= WRITES_BEFORE_KILL
    assert live_sip_calls(db) == CALLS  # what a dead process leaves behind

    [(check,)] = query(db, "PRAGMA integrity_check")
    assert check == "ok"

    second = start_serve(tmp_path, db, "second")
    try:
        assert acked <= titles(second.base, token)  # nothing acknowledged was lost
        assert f"closed {CALLS} call(s) left live by a previous process" in second.text()
        causes = ended_causes(db)
        assert len(causes) == CALLS
        assert set(map(tuple, causes.values())) == {("ended", "crash")}
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(20) == 0, second.text()
    finally:
        second.stop()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
