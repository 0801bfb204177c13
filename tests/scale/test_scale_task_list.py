"""The page's task list across nodes: it reads ``GET /api/tasks`` (web/app.js polls it every
second), so with one PostgreSQL a task changed through node A is what node B answers at once,
and only to its owner."""

from __future__ import annotations

import time

import httpx

from callport.config import ServerSettings, Settings
from callport.server.app import create_app
from callport.server.runtime import Runtime
from callport.store.postgres_stores import PgStores, pg_stores

BASE = "http://localhost:8080"
ORIGIN = {"origin": BASE}


def node(name: str, stores: PgStores) -> Runtime:
    settings = Settings(server=ServerSettings(db=":memory:", node_id=name))
    return Runtime(settings=settings, calls=stores.calls, users=stores.users,
                   tokens=stores.tokens, tasks=stores.tasks)


async def signed_in(runtime: Runtime, name: str) -> httpx.AsyncClient:
    issued = await runtime.tokens.create(name, kind="session", ttl_s=600, now=time.time())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime, channels=[])),
                             base_url=BASE, cookies={"callport_session": issued.secret})


async def test_a_task_changed_on_node_a_is_what_node_b_lists_to_its_owner_only(
        pg_url: str) -> None:
    one, two = pg_stores(pg_url), pg_stores(pg_url)  # two nodes, one database
    a, b = node("node-a", one), node("node-b", two)
    await one.users.add("alice")
    await one.users.add("bob")
    try:
        async with await signed_in(a, "alice") as alice_a, \
                await signed_in(b, "alice") as alice_b, await signed_in(b, "bob") as bob_b:
            r = await alice_a.post("/api/tasks", json={"title": "call the dentist"},
                                   headers=ORIGIN)
            assert r.status_code == 201, r.text
            task_id = r.json()["id"]
            assert [t["title"] for t in (await alice_b.get("/api/tasks")).json()] == [
                "call the dentist"]
            r = await alice_a.patch(f"/api/tasks/{task_id}", json={"done": True},
                                    headers=ORIGIN)
            assert r.status_code == 200, r.text
            assert (await alice_b.get("/api/tasks")).json() == []  # the page lists open ones
            done = (await alice_b.get("/api/tasks?all=true")).json()
            assert [(t["id"], t["done"]) for t in done] == [(task_id, True)]
            # bob, on the node that lists alice's task, sees none of it and cannot touch it
            assert (await bob_b.get("/api/tasks")).json() == []
            assert (await bob_b.get(f"/api/tasks/{task_id}")).status_code == 404
            r = await bob_b.patch(f"/api/tasks/{task_id}", json={"title": "x"}, headers=ORIGIN)
            assert r.status_code == 404
            assert (await alice_b.get(f"/api/tasks/{task_id}")).json()["title"] == \
                "call the dentist"
    finally:
        await one.db.close()
        await two.db.close()
