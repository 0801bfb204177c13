"""PostgreSQL as the shared database of several nodes: migrations, two nodes on one database,
the app on PostgreSQL, and ``callport serve`` / ``callport doctor`` with ``CALLPORT_DB`` a URL."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from callport.config import load_settings
from callport.server.runtime import build_runtime
from callport.store.migrations_pg import MIGRATIONS, apply_migrations, check_order
from callport.store.postgres import PgDb, redact
from callport.store.postgres_stores import check_postgres, pg_stores
from callport.store.users import UserError
from loadgen.ports import free_port

CALLPORT = str(Path(sys.executable).parent / "callport")
ORIGIN = {"origin": "http://localhost:8080"}


async def test_migrations_run_once_and_record_every_version(pg_url: str) -> None:
    db = PgDb(pg_url)
    await db.open()
    assert db.migrated == tuple(v for v, _, _ in MIGRATIONS)
    async with db.transaction() as conn:
        assert await apply_migrations(conn) == ()  # idempotent: nothing left to apply
        cur = await conn.execute("SELECT version, name FROM callport_migrations ORDER BY version")
        assert [(r["version"], r["name"]) for r in await cur.fetchall()] == [
            (v, n) for v, n, _ in MIGRATIONS]
    await db.close()
    again = PgDb(pg_url)  # a restart, or a second node
    await again.open()
    assert again.migrated == ()
    await again.close()
    ok, detail = check_postgres(pg_url)
    assert ok and "up to date" in detail


async def test_nodes_starting_together_migrate_once(pg_url: str) -> None:
    nodes = [PgDb(pg_url) for _ in range(4)]
    await asyncio.gather(*(n.open() for n in nodes))
    assert sorted(len(n.migrated) for n in nodes) == [0, 0, 0, len(MIGRATIONS)]
    for n in nodes:
        await n.close()


def test_migration_versions_must_be_in_order() -> None:
    check_order()
    with pytest.raises(RuntimeError, match=r"1\.\.n"):
        check_order(((1, "a", ""), (3, "b", "")))


def test_the_password_never_reaches_a_log_line() -> None:
    assert redact("postgresql://cp:s3cret@db:5432/callport") == "postgresql://cp:***@db:5432/callport"
    assert redact("postgresql://cp@db/callport") == "postgresql://cp@db/callport"


async def test_a_failed_transaction_leaves_nothing(pg_url: str) -> None:
    stores = pg_stores(pg_url)
    tasks = stores.tasks.of("alice")
    await tasks.add("survivor")
    with pytest.raises(RuntimeError):
        async with stores.db.transaction() as conn:
            await conn.execute("DELETE FROM tasks")
            raise RuntimeError("crash mid-transaction")
    assert [t.title for t in await tasks.list()] == ["survivor"]
    await stores.db.close()


async def test_two_nodes_share_users_tasks_calls_and_one_time_tokens(pg_url: str) -> None:
    a, b = pg_stores(pg_url), pg_stores(pg_url)  # two callport nodes, one database
    await a.users.add("alice", phones=["+15551230001"])
    found = await b.users.by_phone("+1 555 123 0001")
    assert found is not None and found.name == "alice"
    # both nodes try to give one number to a new user at once: exactly one wins
    results = await asyncio.gather(a.users.add("bob", phones=["+15551230002"]),
                                   b.users.add("carol", phones=["+15551230002"]),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["User", "UserError"]
    assert all(isinstance(r, UserError) for r in results if not hasattr(r, "name"))
    # a one-time sign-in link presented to both nodes at once signs in once
    issued = await a.tokens.create("alice", kind="signin", ttl_s=60, now=1000.0)
    got = await asyncio.gather(*(node.tokens.verify(issued.secret, kinds=["signin"], now=1001.0)
                                 for node in (a, b, a, b)))
    assert [u.name for u in got if u is not None] == ["alice"]
    task = await a.tasks.of("alice").add("call mum")
    assert await b.tasks.of("alice").get(task.id) == task
    assert await b.tasks.owners() == ["alice"]
    for node in (a, b):
        await node.db.close()


def test_the_app_serves_the_task_manager_api_from_postgres(pg_url: str) -> None:
    from starlette.testclient import TestClient

    from callport.server.app import create_app

    settings = load_settings(None, env={"CALLPORT_DB": pg_url, "CALLPORT_TURN_VAD": "webrtc"})
    rt = build_runtime(settings)
    assert type(rt.users).__name__ == "PgUserStore"
    asyncio.run(rt.users.add("alice"))
    secret = asyncio.run(rt.tokens.create("alice", kind="session", ttl_s=600,
                                          now=time.time())).secret
    with TestClient(create_app(rt), base_url="http://localhost:8080") as client:
        client.cookies.set("callport_session", secret)
        r = client.post("/api/tasks/", json={"title": "buy milk"}, headers=ORIGIN)
        assert r.status_code in (200, 201), r.text
        assert [t["title"] for t in client.get("/api/tasks/").json()] == ["buy milk"]
    other = pg_stores(pg_url)  # another node sees the row
    assert [t.title for t in asyncio.run(other.tasks.of("alice").list())] == ["buy milk"]


def _serve(url: str, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "CALLPORT_DB": url, "CALLPORT_TURN_VAD": "webrtc"}
    proc = subprocess.Popen([CALLPORT, "serve", "--no-warmup", "--port", str(port)],
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "Uvicorn running" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(60):
        proc.kill()
        pytest.fail("".join(lines))
    link = next((m.group(1) for line in lines if (m := re.search(r"sign in at (\S+)", line))), "")
    return proc, link


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@pytest.mark.slow
def test_two_serve_nodes_on_one_postgres_and_doctor_reports_it(pg_url: str) -> None:
    doctor = subprocess.run([CALLPORT, "doctor"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "CALLPORT_DB": pg_url})
    assert "PostgreSQL postgresql://postgres@127.0.0.1" in doctor.stdout + doctor.stderr
    ports = free_port(), free_port()
    (a, link), (b, _) = _serve(pg_url, ports[0]), _serve(pg_url, ports[1])
    try:
        assert link.startswith(f"http://127.0.0.1:{ports[0]}/login?token=cp_")
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}") as node_a:
            assert node_a.get(link).status_code == 200
            cookie = node_a.cookies["callport_session"]
            r = node_a.post("/api/tasks/", json={"title": "call the dentist"},
                            headers={"origin": f"http://127.0.0.1:{ports[0]}"})
            assert r.status_code in (200, 201), r.text
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}",
                          cookies={"callport_session": cookie}) as node_b:
            r = node_b.get("/api/tasks/")  # the session and the task, on the other node
            assert r.status_code == 200 and [t["title"] for t in r.json()] == ["call the dentist"]
    finally:
        _stop(a)
        _stop(b)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT owner, title FROM tasks").fetchall()
    assert rows == [("owner", "call the dentist")]
    doctor = subprocess.run([CALLPORT, "doctor"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "CALLPORT_DB": pg_url})
    assert "up to date" in doctor.stdout + doctor.stderr
