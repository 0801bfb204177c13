"""Signing in with a password or a one-time link, signing out, throttled failures, /api/me."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from server_support import JSON_ORIGIN, add_user, client_of, runtime_at, sign_in, titles


def signin_link_token(rt: object, name: str) -> str:
    tokens = rt.tokens  # type: ignore[attr-defined]
    return asyncio.run(tokens.create(name, kind="signin", ttl_s=600, now=time.time())).secret


def test_login_page_is_served_and_sends_signed_in_browsers_home(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    with client_of(rt) as client:
        page = client.get("/login")
        assert page.status_code == 200 and 'id="login"' in page.text
        assert "{{" not in page.text and "/browser/static/login.js" in page.text
        assert client.get("/browser/static/login.js").status_code == 200
        home = client.get("/", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == "/login"
        sign_in(client, rt, "alice")
        assert client.get("/").status_code == 200
        assert 'http-equiv="refresh"' in client.get("/login").text


def test_password_sign_in_sets_a_strict_httponly_cookie(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "alice", password="correct horse")
    with client_of(rt) as client:
        r = client.post("/login", json={"name": "alice", "password": "correct horse"},
                        headers=JSON_ORIGIN)
        assert r.status_code == 200, r.text
        assert r.json() == {"user": {"name": "alice", "display_name": "alice",
                                     "roles": ["user"], "has_password": True}}
        cookie = r.headers["set-cookie"]
        for attr in ("callport_session=cp_", "HttpOnly", "SameSite=Strict", "Path=/"):
            assert attr in cookie
        assert "Secure" not in cookie  # plain http; https sets Secure (test_server_rules)
        assert client.get("/api/me").json()["user"]["name"] == "alice"
        assert client.post("/api/tasks/", json={"title": "t"}, headers=JSON_ORIGIN
                           ).status_code == 201
    with client_of(rt) as https:
        https.base_url = https.base_url.copy_with(scheme="https")
        r = https.post("/login", json={"name": "alice", "password": "correct horse"},
                       headers={"origin": "https://localhost:8080"})
        assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]


def test_login_needs_json_and_same_origin(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "alice", password="correct horse")
    body = {"name": "alice", "password": "correct horse"}
    with client_of(rt) as client:
        assert client.post("/login", json=body).status_code == 403
        assert client.post("/login", json=body, headers={"origin": "http://evil.example"}
                           ).status_code == 403
        assert client.post("/login", data=body, headers=JSON_ORIGIN).status_code == 415
        assert "set-cookie" not in client.post("/login", json=body).headers


def test_failed_logins_get_one_generic_message_and_are_throttled(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "alice", password="correct horse")
    with client_of(rt) as client:
        wrong = client.post("/login", json={"name": "alice", "password": "nope nope"},
                            headers=JSON_ORIGIN)
        nobody = client.post("/login", json={"name": "mallory", "password": "nope nope"},
                             headers=JSON_ORIGIN)
        assert wrong.status_code == nobody.status_code == 401
        assert wrong.json() == nobody.json()  # no hint which part was wrong
        statuses = [client.post("/login", json={"name": "alice", "password": f"guess{i}"},
                                headers=JSON_ORIGIN).status_code for i in range(6)]
        assert statuses[-1] == 429 and set(statuses) <= {401, 429}
        # throttled: even the right password waits
        r = client.post("/login", json={"name": "alice", "password": "correct horse"},
                        headers=JSON_ORIGIN)
        assert r.status_code == 429 and "set-cookie" not in r.headers
        assert client.post("/login", json={"name": 1}, headers=JSON_ORIGIN).status_code == 400


def test_signin_link_works_once(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "owner", roles=("admin",))
    link = signin_link_token(rt, "owner")
    with client_of(rt) as client:
        r = client.get(f"/login?token={link}", follow_redirects=False)
        assert r.status_code == 200 and 'http-equiv="refresh" content="0;url=/"' in r.text
        assert "callport_session=cp_" in r.headers["set-cookie"]
        assert client.get("/api/me").json()["user"]["roles"] == ["admin"]
    with client_of(rt) as other:
        again = other.get(f"/login?token={link}")
        assert again.status_code == 401 and "set-cookie" not in again.headers
        assert "already been used" in again.text
        assert other.get("/api/me").status_code == 401
        assert other.get("/login?token=garbage").status_code == 401


def test_sign_out_kills_the_session(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    with client_of(rt) as client:
        secret = sign_in(client, rt, "alice")
        assert titles(client) == []
        assert client.post("/logout", json={}, headers={"origin": "http://evil.example"}
                           ).status_code == 403  # a foreign page cannot sign you out
        assert client.get("/api/me").status_code == 200
        r = client.post("/logout", json={}, headers=JSON_ORIGIN)
        assert r.status_code == 200 and r.json() == {"signed_out": True}
        assert "Max-Age=0" in r.headers["set-cookie"]
    with client_of(rt) as replay:  # the old cookie, presented again, is dead
        replay.cookies.set("callport_session", secret)
        assert replay.get("/api/tasks/").status_code == 401
        assert replay.get("/", follow_redirects=False).status_code == 303
        assert replay.post("/browser/token", headers=JSON_ORIGIN).status_code == 401


def test_set_and_change_own_password(tmp_path: Path) -> None:
    rt = runtime_at(tmp_path)
    add_user(rt, "owner", roles=("admin",))
    spare_link = signin_link_token(rt, "owner")
    with client_of(rt) as client:
        sign_in(client, rt, "owner")
        assert client.post("/api/me/password", json={"password": "short"},
                           headers=JSON_ORIGIN).status_code == 400
        assert client.post("/api/me/password", json={"password": "a long password"},
                           headers={"origin": "http://evil.example"}).status_code == 403
        r = client.post("/api/me/password", json={"password": "a long password"},
                        headers=JSON_ORIGIN)
        assert r.status_code == 200 and r.json()["user"]["has_password"] is True
        # changing it again needs the current one
        assert client.post("/api/me/password", json={"password": "another password"},
                           headers=JSON_ORIGIN).status_code == 403
        assert client.post("/api/me/password", json={"password": "another password",
                                                      "current": "a long password"},
                           headers=JSON_ORIGIN).status_code == 200
    assert asyncio.run(rt.users.check_password("owner", "another password")) is not None
    with client_of(rt) as late:  # the unused first-run link is retired with the password set
        assert late.get(f"/login?token={spare_link}").status_code == 401
        assert late.post("/api/me/password", json={"password": "x" * 9},
                         headers=JSON_ORIGIN).status_code == 401
