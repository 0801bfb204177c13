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


def test_queues_across_nodes_need_a_node_secret() -> None:
    from callport.config import ServerSettings

    def across(**server: str) -> tuple[bool, str] | None:
        settings = dataclasses.replace(Settings(), queues=QueuesSettings(named=(
            QueueSettings(name="support"),)), server=ServerSettings(**server))
        got = {name: (ok, detail) for name, ok, detail in queue_checks(settings, [])}
        return got.get("queues across nodes")

    assert across() is None  # one node: nothing to say
    ok, detail = across(redis="redis://127.0.0.1:6379/0")
    assert not ok and "CALLPORT_NODE_SECRET" in detail and "keeps its queues" in detail
    ok, detail = across(redis="redis://127.0.0.1:6379/0", node_secret="short")
    assert not ok and "shorter than 16" in detail
    assert across(redis="redis://127.0.0.1:6379/0", node_secret="x" * 32,
                  node_url="http://10.0.0.11:8080") == (
        True, "shared through Redis; other nodes reach this one at http://10.0.0.11:8080")
