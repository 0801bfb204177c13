"""The throwaway test servers: a missing binary fails the tests (``make test`` installs it),
except outside CI with the documented opt-out; servers are stopped by PID."""

from __future__ import annotations

import pytest
from backend_servers import OPT_OUT, Server, _missing, postgres, redis


def test_a_missing_server_fails_and_says_make_test_installs_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OPT_OUT, raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"`make test` installs .* redis-server"):
        _missing("Redis (redis-server)", "redis-server")
    monkeypatch.setenv(OPT_OUT, "1")
    monkeypatch.setenv("CI", "true")  # in CI the opt-out does not apply
    with pytest.raises(pytest.fail.Exception):
        _missing("PostgreSQL", "postgresql")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=OPT_OUT):
        _missing("PostgreSQL", "postgresql")


def test_servers_are_started_once_per_process_and_stop_by_pid() -> None:
    assert postgres() == postgres() and redis() == redis()
    import backend_servers

    started: dict[str, Server] = backend_servers._started
    for server in started.values():
        assert server.proc.poll() is None  # running, and ours (a child of this process)
    assert started["pg"].url.startswith("postgresql://postgres@127.0.0.1:")
    assert started["redis"].url.startswith("redis://127.0.0.1:")
