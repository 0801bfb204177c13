"""``server.trusted_proxies``: whose X-Forwarded-For names the client (issue 19/20).

Behind HAProxy on another host every client reached the nodes from HAProxy's address, so the
per-address anonymous rate limit and the sign-in throttle put everyone in one bucket. The
setting names the load balancers; from any other peer the header is ignored. The real test
runs the app on uvicorn as ``callport serve`` configures it (``lifecycle.uvicorn_config``)
and watches the anonymous rate limit, which counts per client address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from server_support import callport_serve, runtime_at

from callport.config import ConfigError, load_settings
from callport.config_server import forwarded_allow_ips
from callport.doctor_doors import open_doors
from callport.server.app import create_app
from callport.server.lifecycle import uvicorn_config
from loadgen.ports import free_port

# ---- the setting ------------------------------------------------------------------------------


def test_addresses_and_networks_are_read_from_the_environment() -> None:
    settings = load_settings(None, env={
        "CALLPORT_TRUSTED_PROXIES": "172.28.0.21, 10.0.0.0/24,fd00::/8"})
    assert settings.server.trusted_proxies == ("172.28.0.21", "10.0.0.0/24", "fd00::/8")
    assert forwarded_allow_ips(settings.server.trusted_proxies) == [
        "172.28.0.21", "10.0.0.0/24", "fd00::/8"]


def test_empty_trusts_loopback_only_whatever_uvicorn_s_variable_says(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert load_settings(None, env={}).server.trusted_proxies == ()
    assert forwarded_allow_ips(()) == ["127.0.0.1", "::1"]
    config = uvicorn_config(object(), host="127.0.0.1", port=0, log_level="warning",
                            grace_s=1.0)
    assert config.proxy_headers and config.forwarded_allow_ips == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(("value", "says"), [
    ("haproxy.internal", "'haproxy.internal' is not an IP address or network"),
    ("10.0.0.300", "'10.0.0.300' is not an IP address or network"),
    ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or network"),
    ("10.0.0.5,*", "'*' would let any client claim any address"),
])
def test_a_bad_entry_is_a_config_error_naming_the_setting(value: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={"CALLPORT_TRUSTED_PROXIES": value})
    assert "server.trusted_proxies" in str(err.value) and says in str(err.value)


def test_toml_lists_are_checked_too(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\ntrusted_proxies = ["10.0.0.5", "not-an-ip"]\n')
    with pytest.raises(ConfigError, match="'not-an-ip' is not an IP address"):
        load_settings(cfg, env={})
    cfg.write_text('[server]\ntrusted_proxies = ["10.0.0.5", "10.1.0.0/16"]\n')
    assert load_settings(cfg, env={}).server.trusted_proxies == ("10.0.0.5", "10.1.0.0/16")


# ---- the doctor -------------------------------------------------------------------------------

CLUSTER = {"CALLPORT_REDIS": "redis://redis.internal:6379/0", "CALLPORT_HOST": "0.0.0.0",
           "CALLPORT_ALLOWED_HOSTS": "voice.example.com"}


def _proxy_doors(**env: str) -> list[str]:
    return [d.problem for d in open_doors(load_settings(None, env=env))
            if d.setting == "server.trusted_proxies"]


def test_doctor_warns_a_public_node_of_a_cluster_without_trusted_proxies() -> None:
    (problem,) = _proxy_doors(**CLUSTER)
    assert "behind a load balancer on another host every client shares its address" in problem
    assert _proxy_doors(**CLUSTER, CALLPORT_TRUSTED_PROXIES="172.28.0.21") == []
    # one node alone, or a node bound to loopback (its proxy on the same host): no warning
    assert _proxy_doors(CALLPORT_HOST="0.0.0.0", CALLPORT_ALLOWED_HOSTS="v.example.com") == []
    assert _proxy_doors(CALLPORT_REDIS="redis://redis.internal:6379/0") == []


# ---- a real server ----------------------------------------------------------------------------

BURST = 3


@asynccontextmanager
async def _serving(tmp_path: Path, trusted: str) -> AsyncIterator[str]:
    env = {"CALLPORT_LIMITS_RATE_BURST": str(BURST), "CALLPORT_LIMITS_RATE_PER_S": "0.001"}
    if trusted:
        env["CALLPORT_TRUSTED_PROXIES"] = trusted
    runtime = runtime_at(tmp_path, env)
    settings = runtime.settings
    config = uvicorn_config(create_app(runtime), host="127.0.0.1", port=0,
                            log_level="warning", grace_s=1.0, limits=settings.limits,
                            trusted_proxies=settings.server.trusted_proxies)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn stopped before serving"
            await asyncio.sleep(0.01)
        port = int(server.servers[0].sockets[0].getsockname()[1])
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def _statuses(base: str, forwarded: str | None, n: int, *,
                    source: str = "127.0.0.1") -> list[int]:
    """``n`` anonymous GETs from the address ``source``, claiming to forward ``forwarded``."""
    headers = {}
    if forwarded is not None:
        headers["x-forwarded-for"] = forwarded
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=base, headers=headers, transport=transport) as client:
        return [(await client.get("/healthz")).status_code for _ in range(n)]


async def test_a_trusted_proxy_s_forwarded_address_has_its_own_bucket(tmp_path: Path) -> None:
    async with _serving(tmp_path, "127.0.0.1") as base:
        # 203.0.113.7 spends its burst and is refused ...
        assert await _statuses(base, "203.0.113.7", BURST + 1) == [200] * BURST + [429]
        assert await _statuses(base, "203.0.113.7", 1) == [429]
        # ... while another forwarded client and the proxy itself are not limited with it
        assert await _statuses(base, "198.51.100.20", BURST) == [200] * BURST
        assert await _statuses(base, None, BURST) == [200] * BURST
        # the client HAProxy appends last is the one believed (a client cannot pick its own)
        assert await _statuses(base, "198.51.100.99, 203.0.113.7", 1) == [429]


async def test_a_proxy_on_another_address_is_believed_only_once_named(
        tmp_path: Path) -> None:
    """127.0.0.2 stands for HAProxy on another host: not trusted by default, trusted once set."""
    async with _serving(tmp_path / "a", "") as base:
        assert await _statuses(base, "203.0.113.7", BURST, source="127.0.0.2") == [200] * BURST
        assert await _statuses(base, "198.51.100.20", 1, source="127.0.0.2") == [429]
        assert await _statuses(base, None, 1) == [200]  # 127.0.0.1 is a bucket of its own
    async with _serving(tmp_path / "b", "127.0.0.2/32") as base:
        assert await _statuses(base, "203.0.113.7", BURST + 1,
                               source="127.0.0.2") == [200] * BURST + [429]
        assert await _statuses(base, "198.51.100.20", BURST, source="127.0.0.2") == [200] * BURST
        assert await _statuses(base, "198.51.100.20", 1) == [200]  # from 127.0.0.1: ignored


async def test_loopback_is_trusted_when_nothing_is_set(tmp_path: Path) -> None:
    async with _serving(tmp_path, "") as base:
        assert await _statuses(base, "203.0.113.7", BURST + 1) == [200] * BURST + [429]
        assert await _statuses(base, "198.51.100.20", 1) == [200]


async def test_the_header_from_a_peer_that_is_not_trusted_is_ignored(tmp_path: Path) -> None:
    async with _serving(tmp_path, "10.0.0.5,192.0.2.0/24") as base:  # not the peer 127.0.0.1
        # every claimed address is 127.0.0.1's: one bucket, spent by the first client
        assert await _statuses(base, "203.0.113.7", BURST) == [200] * BURST
        assert await _statuses(base, "198.51.100.20", 1) == [429]
        assert await _statuses(base, None, 1) == [429]


# ---- callport serve, as run ----------------------------------------------------------------------


@contextmanager
def _callport_serve(tmp_path: Path, trusted: str) -> Iterator[str]:
    port = free_port()
    env = {"CALLPORT_DB": str(tmp_path / "c.db"), "XDG_DATA_HOME": str(tmp_path),
           "CALLPORT_LIMITS_RATE_BURST": str(BURST), "CALLPORT_LIMITS_RATE_PER_S": "0.001",
           "CALLPORT_TRUSTED_PROXIES": trusted, "FORWARDED_ALLOW_IPS": "*"}  # not read
    with callport_serve(["serve", "--no-warmup", "--port", str(port)], env):
        yield f"http://127.0.0.1:{port}"


@pytest.mark.slow
def test_callport_serve_believes_x_forwarded_for_only_from_a_trusted_proxy(
        tmp_path: Path) -> None:
    with _callport_serve(tmp_path / "a", "") as base:  # loopback trusted: one bucket each
        assert asyncio.run(_statuses(base, "203.0.113.7", BURST + 1)) == [200] * BURST + [429]
        assert asyncio.run(_statuses(base, "198.51.100.20", 1)) == [200]
    with _callport_serve(tmp_path / "b", "10.0.0.5") as base:  # the peer is not the proxy
        assert asyncio.run(_statuses(base, "203.0.113.7", BURST)) == [200] * BURST
        assert asyncio.run(_statuses(base, "198.51.100.20", 1)) == [429]
