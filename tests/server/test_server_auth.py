"""The front door over HTTP: every /api door locked, CSRF refused, foreign Hosts 421,
/metrics locked, /healthz says little to strangers, tasks belong to their owner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from server_support import (
    JSON_ORIGIN,
    ORIGIN,
    add_user,
    api_token,
    client_of,
    runtime_at,
    sign_in,
    titles,
)
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect


def owner_tasks(runtime: object, name: str) -> list[str]:
    store = runtime.tasks.of(name)  # type: ignore[attr-defined]
    return [t.title for t in asyncio.run(store.list(include_done=True))]


def test_api_without_credentials_is_401_for_every_method(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "alice")
    with client_of(rt) as client:
        calls = [client.get("/api/tasks/"), client.get("/api/tasks/1"),
                 client.post("/api/tasks/", json={"title": "x"}, headers=JSON_ORIGIN),
                 client.patch("/api/tasks/1", json={"done": True}, headers=JSON_ORIGIN),
                 client.delete("/api/tasks/1", headers=JSON_ORIGIN),
                 client.get("/api/me")]
        for r in calls:
            assert r.status_code == 401, (r.request.method, r.request.url, r.text)
            assert "error" in r.json()
        assert client.get("/api/tasks/", cookies={"callport_session": "cp_nope_x"}
                          ).status_code == 401
    assert owner_tasks(rt, "alice") == []


def test_cross_origin_text_plain_post_with_a_valid_cookie_creates_nothing(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    with client_of(rt) as client:
        sign_in(client, rt, "alice")
        # what a foreign page's <form> or no-cors fetch can send: text/plain, its own Origin
        r = client.post("/api/tasks/", content=b'{"title": "pwned"}',
                        headers={"content-type": "text/plain", "origin": "http://evil.example"})
        assert r.status_code == 415
        r = client.post("/api/tasks/", content=b'{"title": "pwned"}',
                        headers={"content-type": "text/plain", "origin": ORIGIN})
        assert r.status_code == 415
        r = client.post("/api/tasks/", json={"title": "pwned"},
                        headers={"origin": "http://evil.example"})
        assert r.status_code == 403 and "error" in r.json()
        r = client.post("/api/tasks/", json={"title": "pwned"})  # cookie, no Origin at all
        assert r.status_code == 403
        for method in ("PATCH", "DELETE"):
            assert client.request(method, "/api/tasks/1", json={"done": True},
                                  headers={"origin": "http://evil.example"}).status_code == 403
        assert titles(client) == []
        ok = client.post("/api/tasks/", json={"title": "buy milk"}, headers=JSON_ORIGIN)
        assert ok.status_code == 201, ok.text
        assert titles(client) == ["buy milk"]
    assert owner_tasks(rt, "alice") == ["buy milk"]


def test_bearer_token_works_without_origin_until_revoked(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "bob")
    secret = api_token(rt, "bob")
    auth = {"authorization": f"Bearer {secret}"}
    with client_of(rt) as client:
        r = client.post("/api/tasks/", json={"title": "call mom"}, headers=auth)
        assert r.status_code == 201, r.text
        assert titles(client, headers=auth) == ["call mom"]
        assert client.get("/api/me", headers=auth).json()["user"]["name"] == "bob"
        token_id = secret.split("_")[1]
        assert asyncio.run(rt.tokens.revoke(token_id))
        assert client.get("/api/tasks/", headers=auth).status_code == 401
        assert client.post("/api/tasks/", json={"title": "x"}, headers=auth).status_code == 401
        # a session secret is not an API token
        sess = sign_in(client, rt, "bob")
        client.cookies.clear()
        assert client.get("/api/tasks/", headers={"authorization": f"Bearer {sess}"}
                          ).status_code == 401
    assert owner_tasks(rt, "bob") == ["call mom"]


def test_each_user_sees_and_changes_only_their_own_tasks(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    with client_of(rt) as alice, client_of(rt) as bob:
        sign_in(alice, rt, "alice")
        sign_in(bob, rt, "bob")
        a = alice.post("/api/tasks/", json={"title": "alice task"}, headers=JSON_ORIGIN).json()
        bob.post("/api/tasks/", json={"title": "bob task"}, headers=JSON_ORIGIN)
        assert titles(alice) == ["alice task"] and titles(bob) == ["bob task"]
        assert bob.get(f"/api/tasks/{a['id']}").status_code == 404
        assert bob.patch(f"/api/tasks/{a['id']}", json={"done": True},
                         headers=JSON_ORIGIN).status_code == 404
        assert bob.delete(f"/api/tasks/{a['id']}", headers=JSON_ORIGIN).status_code == 404
        assert alice.get(f"/api/tasks/{a['id']}").json()["done"] is False
    assert owner_tasks(rt, "alice") == ["alice task"]


def test_foreign_host_is_421_for_http_and_websocket(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    with client_of(rt) as client:
        secret = sign_in(client, rt, "alice")
        evil = {"host": "rebind.evil.example"}
        assert client.get("/api/tasks/", headers=evil).status_code == 421
        assert client.get("/healthz", headers=evil).status_code == 421
        assert client.get("/", headers=evil).status_code == 421
        with pytest.raises(WebSocketDenialResponse) as denied, client.websocket_connect(
                "/browser/ws?token=x", headers={**evil, "origin": "http://rebind.evil.example"}):
            pass
        assert denied.value.status_code == 421
        assert client.get("/healthz", headers={"host": "localhost:8080"}).status_code == 200
        assert client.get("/api/tasks/", headers={"host": "127.0.0.1:9"},
                          cookies={"callport_session": secret}).status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect(
                "/browser/ws?token=x", headers={"host": "localhost", "origin": "http://localhost"}):
            pass
        assert closed.value.code == 1008  # allowed host: the channel's own refusal (bad token)


def test_allowed_hosts_setting(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path, {"CALLPORT_ALLOWED_HOSTS": "gw.example.com"})
    with client_of(rt) as client:
        assert client.get("/healthz", headers={"host": "gw.example.com"}).status_code == 200
        assert client.get("/healthz", headers={"host": "localhost"}).status_code == 421


def test_metrics_needs_an_admin_token_unless_public(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "root", roles=("admin",))
    add_user(rt, "pat")
    admin, user = api_token(rt, "root"), api_token(rt, "pat")
    with client_of(rt) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"authorization": "Bearer cp_x_y"}
                          ).status_code == 401
        assert client.get("/metrics", headers={"authorization": f"Bearer {user}"}
                          ).status_code == 403
        sign_in(client, rt, "root")  # a browser session is not a scrape credential
        assert client.get("/metrics").status_code == 401
        r = client.get("/metrics", headers={"authorization": f"Bearer {admin}"})
        assert r.status_code == 200 and "callport_active_calls" in r.text
    public = runtime_at(tmp_path / "p", {"CALLPORT_METRICS_PUBLIC": "true"}) \
        if (tmp_path / "p").mkdir() is None else None
    assert public is not None
    with client_of(public) as client:
        assert client.get("/metrics").status_code == 200


def test_healthz_tells_strangers_only_status_and_version(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    with client_of(rt) as client:
        assert set(client.get("/healthz").json()) == {"status", "version"}
        sign_in(client, rt, "alice")
        full = client.get("/healthz").json()
        assert full["status"] == "ok" and "channels" in full and "active_calls" in full
