"""The pure decisions behind the front door: Host names, origins, cookies, the throttle."""

from __future__ import annotations

from callport.config import load_settings
from callport.server.csrf import (
    bearer_token,
    clear_session_cookie,
    is_json,
    origin_ok,
    session_cookie,
)
from callport.server.hosts import allowed_hosts, default_allowed_hosts, host_allowed, host_name
from callport.store.live import MemoryThrottle


def test_host_name_drops_ports_brackets_case_and_trailing_dot() -> None:
    assert host_name("LocalHost:8080") == "localhost"
    assert host_name("127.0.0.1") == "127.0.0.1"
    assert host_name("[::1]:8080") == "::1"
    assert host_name("[::1]") == "::1"
    assert host_name("gw.example.com.") == "gw.example.com"
    for bad in ("", "a b", "evil.example/x", "user@host", "[::1", "[::1]x", "host:port"):
        assert host_name(bad) == ""


def test_default_hosts_are_bind_host_loopback_and_public_urls() -> None:
    settings = load_settings(None, env={
        "CALLPORT_HOST": "10.0.0.5",
        "CALLPORT_TWILIO_PUBLIC_BASE_URL": "https://gw.example.com/prefix",
        "CALLPORT_TELNYX_PUBLIC_BASE_URL": "https://tx.example.org:8443"})
    assert default_allowed_hosts(settings) == {
        "10.0.0.5", "localhost", "127.0.0.1", "::1", "gw.example.com", "tx.example.org"}
    allowed = allowed_hosts(settings)
    for ok in ("localhost:8080", "127.0.0.1:1", "[::1]:8080", "gw.example.com", "10.0.0.5:80"):
        assert host_allowed(ok, allowed), ok
    for bad in ("evil.example", "evil.example:8080", "", None, "127.0.0.2", "gw.example.com.evil"):
        assert not host_allowed(bad, allowed), bad


def test_configured_hosts_replace_the_default_and_star_allows_any() -> None:
    settings = load_settings(None, env={"CALLPORT_ALLOWED_HOSTS": "app.example.com:443"})
    allowed = allowed_hosts(settings)
    assert allowed == {"app.example.com"}
    assert host_allowed("APP.example.com", allowed) and not host_allowed("localhost", allowed)
    assert host_allowed("anything", {"*"})


def test_origin_own_or_allowed_never_missing() -> None:
    host = "127.0.0.1:8080"
    assert origin_ok("http://127.0.0.1:8080", host=host, secure=False, allowed=())
    assert origin_ok("http://127.0.0.1:8080/", host=host, secure=False, allowed=("https://x",))
    assert not origin_ok("https://127.0.0.1:8080", host=host, secure=False, allowed=())
    assert not origin_ok("http://evil.example", host=host, secure=False, allowed=())
    assert origin_ok("https://app.example", host=host, secure=False,
                     allowed=("https://app.example/",))
    for missing in (None, "", "null"):
        assert not origin_ok(missing, host=host, secure=False, allowed=("*",))


def test_json_content_type() -> None:
    assert is_json("application/json") and is_json("Application/JSON; charset=utf-8")
    for other in (None, "", "text/plain", "application/x-www-form-urlencoded",
                  "multipart/form-data; boundary=x", "application/jsonx"):
        assert not is_json(other)


def test_session_cookie_attributes() -> None:
    plain = session_cookie("cp_a_b", secure=False, max_age=60).split("; ")
    assert plain[0] == "callport_session=cp_a_b"
    assert {"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=60"} <= set(plain)
    assert "Secure" not in plain
    assert "Secure" in session_cookie("v", secure=True, max_age=60).split("; ")
    cleared = clear_session_cookie(secure=True).split("; ")
    assert cleared[0] == "callport_session=" and "Max-Age=0" in cleared


def test_bearer_token_parsing() -> None:
    assert bearer_token("Bearer cp_x_y") == "cp_x_y"
    assert bearer_token("bearer   cp_x_y ") == "cp_x_y"
    for other in (None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer  "):
        assert bearer_token(other) is None


async def test_throttle_blocks_after_limit_and_forgets_with_time_and_memory_is_bounded() -> None:
    t = MemoryThrottle(limit=3, window_s=60, max_keys=100)
    for i in range(3):
        assert not await t.blocked("ip:a", now=float(i))
        await t.failed("ip:a", now=float(i))
    assert await t.blocked("ip:a", now=10.0)
    assert not await t.blocked("ip:a", now=61.0)  # the first failure left the window
    await t.reset("ip:a")
    assert not await t.blocked("ip:a", now=11.0)
    for i in range(1000):
        await t.failed(f"name:{i}", now=100.0)
    assert len(t) == 100  # oldest forgotten first
    assert not await t.blocked("name:0", now=100.0)
