"""The JSON task API over an in-memory and a SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from callport.agents.taskmanager.api import task_routes
from callport.store.sqlite_tasks import SqliteTaskStore
from callport.store.tasks import MemoryTaskLists, MemoryTaskStore, TaskStore
from callport.types import User

NOW = datetime(2025, 3, 12, 9, 0)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TaskStore]:
    if request.param == "memory":
        yield MemoryTaskStore(clock=lambda: NOW)
    else:
        sq = SqliteTaskStore(tmp_path / "api.db", clock=lambda: NOW)
        yield sq
        sq.close()


def as_user(app: ASGIApp, name: str | None) -> ASGIApp:
    """What the server's AuthMiddleware does once it has authenticated ``name``."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["user"] = User(name=name) if name is not None else None
        await app(scope, receive, send)

    return wrapped


def api(store: TaskStore, name: str | None = "alice") -> httpx.AsyncClient:
    lists = MemoryTaskLists(lists={"alice": store})
    app = Starlette(routes=[Mount("/api/tasks", routes=task_routes(lists))])
    transport = httpx.ASGITransport(app=as_user(app, name))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(store: TaskStore) -> AsyncIterator[httpx.AsyncClient]:
    async with api(store) as c:
        yield c


async def test_every_route_needs_a_user_and_sees_only_theirs(store: TaskStore) -> None:
    await store.add("alice's")
    async with api(store, None) as anonymous, api(store, "bob") as bob:
        for method, url in [("GET", "/api/tasks/"), ("POST", "/api/tasks/"),
                            ("GET", "/api/tasks/1"), ("PATCH", "/api/tasks/1"),
                            ("DELETE", "/api/tasks/1")]:
            r = await anonymous.request(method, url, json={"title": "x", "done": True})
            assert r.status_code == 401, (method, url)
        assert (await bob.get("/api/tasks/")).json() == []
        assert (await bob.delete("/api/tasks/1")).status_code == 404
    assert [t.title for t in await store.list()] == ["alice's"]


async def test_create_list_get(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/tasks/", json={"title": "buy milk", "due": "2025-03-13T15:00"})
    assert r.status_code == 201
    body = r.json()
    assert body["title"] == "buy milk" and body["due"] == "2025-03-13T15:00:00"
    assert body["done"] is False and body["created_at"] == "2025-03-12T09:00:00"
    r = await client.post("/api/tasks/", json={"title": "pay rent", "due": "2025-04-01"})
    assert r.json()["due"] == "2025-04-01T23:59:00"  # a date means the end of that day
    listed = (await client.get("/api/tasks/")).json()
    assert [t["title"] for t in listed] == ["buy milk", "pay rent"]
    one = await client.get(f"/api/tasks/{body['id']}")
    assert one.status_code == 200 and one.json() == body


async def test_patch_and_delete(client: httpx.AsyncClient) -> None:
    tid = (await client.post("/api/tasks/", json={"title": "x", "due": "2025-03-13"})).json()["id"]
    r = await client.patch(f"/api/tasks/{tid}", json={"done": True})
    assert r.status_code == 200 and r.json()["done"] is True and r.json()["due"] is not None
    assert (await client.get("/api/tasks/")).json() == []
    assert len((await client.get("/api/tasks/?all=true")).json()) == 1
    r = await client.patch(f"/api/tasks/{tid}", json={"due": None, "title": "y"})
    assert r.json()["due"] is None and r.json()["title"] == "y"
    assert (await client.delete(f"/api/tasks/{tid}")).status_code == 204
    assert (await client.delete(f"/api/tasks/{tid}")).status_code == 404
    assert (await client.get(f"/api/tasks/{tid}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"title": ""}', "title"),
        (b'{"title": "   "}', "empty"),
        (b'{"due": "2025-01-01"}', "title"),
        (b'{"title": "x", "due": "next tuesday"}', "ISO 8601"),
        (b'{"title": "x", "due": 5}', "ISO 8601"),
        (b'{"title": "x", "colour": "red"}', "colour"),
        (b'{"title": "' + b"x" * 300 + b'"}', "title"),
        (b"\xff\xfe", "malformed JSON"),
    ],
)
async def test_bad_create_is_400_and_stores_nothing(
    client: httpx.AsyncClient, body: bytes, needle: str
) -> None:
    r = await client.post("/api/tasks/", content=body,
                          headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert needle in r.json()["error"]
    assert (await client.get("/api/tasks/?all=1")).json() == []


@pytest.mark.parametrize(
    "body", [b"{", b'{"done": "yes"}', b'{"title": null}', b'{"done": null}', b'{"due": "x"}']
)
async def test_bad_patch_is_400_and_changes_nothing(client: httpx.AsyncClient, body: bytes) -> None:
    created = (await client.post("/api/tasks/", json={"title": "keep"})).json()
    r = await client.patch(f"/api/tasks/{created['id']}", content=body)
    assert r.status_code == 400, r.text
    assert (await client.get(f"/api/tasks/{created['id']}")).json() == created


@pytest.mark.parametrize("tid", ["999", "abc", "-1", "0", str(2**70)])
async def test_unknown_ids_are_404(client: httpx.AsyncClient, tid: str) -> None:
    assert (await client.get(f"/api/tasks/{tid}")).status_code == 404
    assert (await client.patch(f"/api/tasks/{tid}", json={"done": True})).status_code == 404
    assert (await client.delete(f"/api/tasks/{tid}")).status_code == 404
