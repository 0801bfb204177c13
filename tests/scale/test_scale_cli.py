"""Every data command works on PostgreSQL (``CALLPORT_DB=postgresql://...``), not only ``serve``:
``users``, ``tokens``, ``tasks``, ``calls``, ``voicemail``, ``queues status`` and ``privacy`` run
as subprocesses against the throwaway server and their writes are seen by the stores (what a
``callport serve`` node on the same database opens); no ``postgresql:`` folder is ever made."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from callport.store.calls import CallRecord
from callport.store.stores import Stores, open_stores
from callport.store.voicemail import Voicemail
from loadgen.ports import free_port

CALLPORT = str(Path(sys.executable).parent / "callport")

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(pg_url: str, tmp_path: Path) -> Run:
    """``callport ARGS`` on ``pg_url``, in an empty working folder with its own data dir."""
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "CALLPORT_DB": pg_url, "CALLPORT_CONFIG": "",
           "XDG_DATA_HOME": str(tmp_path / "data")}

    def run(*args: str, stdin: str = "", code: int = 0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([CALLPORT, *args], input=stdin, capture_output=True, text=True,
                              env=env, cwd=work, timeout=120)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        assert not any(p.name.startswith("postgres") for p in work.iterdir()), list(work.iterdir())
        return done

    return run


def _stores(url: str) -> Stores:
    return open_stores(url, owner="owner")


def test_users_tokens_and_tasks_commands_on_postgres(cli: Run, pg_url: str) -> None:
    cli("users", "add", "alice", "--phone", "+14155550100", "--pin", "4321",
        "--password-stdin", "--role", "admin", stdin="correct horse battery\n")
    cli("users", "add", "bob", "--role", "agent", "--queue", "sales")
    listed = json.loads(cli("users", "list", "--json").stdout)
    assert [(u["name"], u["has_pin"], u["has_password"], u["queues"]) for u in listed] == [
        ("alice", True, True, []), ("bob", False, False, ["sales"])]
    cli("users", "set", "alice", "--no-pin")
    cli("users", "add", "alice", code=2)  # exists: refused, one line

    async def seen_by_the_store() -> None:  # what `callport serve` on this database opens
        db = _stores(pg_url)
        try:
            alice = await db.users.by_phone("+14155550100")
            assert alice is not None and alice.name == "alice" and not alice.has_pin
            assert await db.users.check_password("alice", "correct horse battery") is not None
            await db.tasks.of("alice").add("call the dentist")
        finally:
            await db.close()

    asyncio.run(seen_by_the_store())
    secret = cli("tokens", "create", "alice", "--label", "laptop").stdout.strip()
    tokens = json.loads(cli("tokens", "list", "--json").stdout)
    assert [(t["user"], t["label"], t["state"]) for t in tokens] == [("alice", "laptop", "active")]

    async def verify() -> bool:
        db = _stores(pg_url)
        try:
            return await db.tokens.verify(secret, kinds=("api",),
                                          now=datetime.now().timestamp()) is not None
        finally:
            await db.close()

    assert asyncio.run(verify())
    cli("tokens", "revoke", tokens[0]["id"])
    assert not asyncio.run(verify())
    assert json.loads(cli("tokens", "list", "--json").stdout)[0]["state"] == "revoked"
    tasks = json.loads(cli("tasks", "list", "--user", "alice", "--json").stdout)
    assert [t["title"] for t in tasks] == ["call the dentist"]
    cli("tasks", "list", "--user", "nobody", code=2)
    cli("users", "remove", "bob")
    assert [u["name"] for u in json.loads(cli("users", "list", "--json").stdout)] == ["alice"]


def test_queues_status_reads_its_admin_from_postgres(cli: Run) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    no_admin = cli("queues", "status", "--url", url, code=1)
    assert "no admin user" in no_admin.stderr
    cli("users", "add", "root", "--role", "admin")
    unreachable = cli("queues", "status", "--url", url, code=1)
    assert "cannot reach the server" in unreachable.stderr
    minted = json.loads(cli("tokens", "list", "--json").stdout)  # its 60 s token, revoked after
    assert [(t["user"], t["label"], t["state"]) for t in minted] == [
        ("root", "queues status", "revoked")]


def test_calls_voicemail_and_privacy_commands_on_postgres(cli: Run, pg_url: str,
                                                          tmp_path: Path) -> None:
    now = datetime.now().astimezone()

    async def seed() -> None:
        db = _stores(pg_url)
        try:
            for call_id, user, caller in (("c1", "alice", "+14155550100"),
                                          ("c2", "bob", "+12125550100")):
                await db.calls.create(CallRecord(call_id=call_id, channel="sip", user=user,
                                                 caller=caller, started_at=now,
                                                 status="completed"))  # fmt: skip
                await db.calls.add_event(call_id, "answered")
                await db.voicemail.add(Voicemail(call_id=call_id, caller=caller, for_user=user,
                                                 menu="main", at=now, transcript="call me back",
                                                 audio=b"\x00\x01" * 800, sample_rate=8000))
            await db.tasks.of("alice").add("buy bananas")
            await db.tasks.of("bob").add("walk the dog")
        finally:
            await db.close()

    asyncio.run(seed())
    calls = json.loads(cli("calls", "list", "--json").stdout)
    assert sorted(c["call_id"] for c in calls) == ["c1", "c2"]
    assert [c["call_id"] for c in json.loads(cli("calls", "list", "--json", "--user",
                                                 "alice").stdout)] == ["c1"]
    mail = json.loads(cli("voicemail", "list", "--json", "--user", "bob").stdout)
    assert [(m["call_id"], m["caller"], m["transcript"]) for m in mail] == [
        ("c2", "+12125550100", "call me back")]
    out = tmp_path / "export"
    cli("privacy", "export", "--phone", "+14155550100", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"recordings": 0, "calls": 1, "tasks": 0, "voicemail": 1}
    erased = json.loads(cli("privacy", "erase", "--user", "alice", "--yes").stdout)
    assert erased["deleted"] == {"recordings": 0, "calls": 1, "tasks": 1, "voicemail": 1}

    async def left() -> tuple[list[str], list[str], list[str], int]:
        db = _stores(pg_url)
        try:
            calls = [r.call_id for r in await db.calls.list_calls(limit=100)]
            mail = [m.call_id for m in await db.voicemail.list()]
            tasks = [t.title for o in ("alice", "bob")
                     for t in await db.tasks.of(o).list(include_done=True)]
            return calls, mail, tasks, len(await db.calls.events("c1"))
        finally:
            await db.close()

    assert asyncio.run(left()) == (["c2"], ["c2"], ["walk the dog"], 0)  # bob's data stays
    erased = json.loads(cli("privacy", "erase", "--phone", "+12125550100", "--yes").stdout)
    assert erased["deleted"] == {"recordings": 0, "calls": 1, "tasks": 0, "voicemail": 1}
    assert asyncio.run(left())[:2] == ([], [])


@pytest.mark.slow
def test_a_serve_node_on_the_same_database_sees_what_the_cli_wrote(cli: Run, pg_url: str,
                                                                   tmp_path: Path) -> None:
    import httpx
    from test_scale_postgres import _serve, _stop

    cli("users", "add", "owner", "--role", "admin")
    cli("users", "add", "alice", "--phone", "+14155550100")
    secret = cli("tokens", "create", "alice", "--label", "script").stdout.strip()
    port = free_port()
    node, _ = _serve(pg_url, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            bearer = {"authorization": f"Bearer {secret}"}
            r = client.post("/api/tasks", json={"title": "renew the passport"}, headers=bearer)
            assert r.status_code in (200, 201), r.text
            assert client.get("/api/tasks/").status_code == 401  # no token: locked
            revoked = json.loads(cli("tokens", "list", "--json").stdout)[0]["id"]
            cli("tokens", "revoke", revoked)  # the CLI's revocation holds on the node at once
            assert client.get("/api/tasks/", headers=bearer).status_code == 401
    finally:
        _stop(node)
    tasks = json.loads(cli("tasks", "list", "--user", "alice", "--json").stdout)
    assert [t["title"] for t in tasks] == ["renew the passport"]
