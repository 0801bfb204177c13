"""``callport doctor`` on queues: agents for each queue, music that plays, no stray members."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from callport.config import QueueSettings, QueuesSettings, Settings
from callport.doctor_queues import queue_checks
from callport.types import User


def test_queue_checks(tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio at all")
    settings = dataclasses.replace(Settings(), queues=QueuesSettings(named=(
        QueueSettings(name="support"), QueueSettings(name="sales", hold_music=str(broken)))))
    users = [User(name="alice", roles=frozenset({"agent"}), queues=("support", "billing")),
             User(name="bob", roles=frozenset({"user"}), queues=("sales",))]
    checks = {name: (ok, detail) for name, ok, detail in queue_checks(settings, users)}
    assert checks["queue support"] == (True, "longest-idle; agents: alice")
    ok, detail = checks["queue sales"]  # bob is no agent
    assert not ok and "--role agent --queue sales" in detail
    assert checks["queue support hold music"][0]
    ok, detail = checks["queue sales hold music"]
    assert not ok and "built-in loop plays instead" in detail
    ok, detail = checks["agent alice"]
    assert not ok and "billing" in detail
    assert queue_checks(Settings(), users) == [  # no queues at all: only the stray members
        ("agent alice", False, "member of support, billing, which no [queues.NAME] configures")]
