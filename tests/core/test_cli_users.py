"""``callport users``, ``tokens`` and ``tasks`` against a temporary database."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from callport.cli import main
from callport.store.sqlite import SqliteDb
from callport.store.sqlite_tasks import SqliteTaskLists
from callport.store.sqlite_tokens import SqliteTokenStore
from callport.store.sqlite_users import SqliteUserStore


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("CALLPORT_CONFIG", "CALLPORT_DB", "CALLPORT_IDENTITY_OWNER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "cli.db"


def run(db: Path, *argv: str) -> int:
    return main(["--db", str(db), *argv])


def out_json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_users_add_list_remove(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "users", "add", "alice", "--phone", "+1 (555) 123-4567", "--phone",
               "+442079460000", "--pin", "2468", "--role", "admin", "--role", "user",
               "--display-name", "Alice Smith") == 0  # fmt: skip
    assert "alice (Alice Smith)" in capsys.readouterr().out
    assert run(db, "users", "add", "bob") == 0
    capsys.readouterr()
    assert run(db, "users", "list", "--json") == 0
    assert out_json(capsys) == [
        {"name": "alice", "display_name": "Alice Smith",
         "phones": ["+15551234567", "+442079460000"], "roles": ["admin", "user"],
         "has_pin": True, "has_password": False, "queues": []},
        {"name": "bob", "display_name": "", "phones": [], "roles": ["user"],
         "has_pin": False, "has_password": False, "queues": []},
    ]  # fmt: skip
    assert run(db, "users", "list") == 0
    text = capsys.readouterr().out
    assert "alice (Alice Smith): +15551234567, +442079460000; roles admin, user; PIN" in text
    assert "2468" not in text
    assert run(db, "users", "remove", "bob") == 0
    assert "removed bob" in capsys.readouterr().out
    assert run(db, "users", "remove", "bob") == 2
    assert "no user 'bob'" in capsys.readouterr().err
    assert run(db, "users", "list", "--json") == 0
    assert [u["name"] for u in out_json(capsys)] == ["alice"]


def test_password_from_stdin_is_stored_hashed(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert run(db, "users", "add", "carol", "--password-stdin", "--pin", "97531") == 0
    conn = sqlite3.connect(db)
    dump = repr(conn.execute("SELECT * FROM users").fetchall())
    conn.close()
    assert "correct horse" not in dump and "97531" not in dump

    async def check() -> bool:
        users = SqliteUserStore(db)
        try:
            return await users.check_password("carol", "correct horse battery") is not None
        finally:
            users.close()

    assert asyncio.run(check())
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert run(db, "users", "add", "dave", "--password-stdin") == 2
    assert "no password on stdin" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["users", "add", "Bad Name"], "user name"),
        (["users", "add", "erin", "--phone", "555-1234"], "E.164"),
        (["users", "add", "erin", "--pin", "12"], "PIN"),
        (["tokens", "create", "ghost"], "no user 'ghost'"),
        (["tokens", "create", "alice", "--ttl-days", "0"], "--ttl-days"),
        (["tokens", "revoke", "nope"], "no token 'nope'"),
        (["tasks", "list", "--user", "ghost"], "no user 'ghost'"),
        (["users", "add", "alice"], "already exists"),
        (["users", "add", "frank", "--phone", "+15551234567"], "already belongs to 'alice'"),
    ],
)
def test_refused_requests_exit_2_with_one_line(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(db, "users", "add", "alice", "--phone", "+15551234567") == 0
    capsys.readouterr()
    assert run(db, *argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("callport: ") and err.count("\n") == 1


def test_tokens_create_prints_the_secret_alone_and_it_works(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(db, "users", "add", "alice") == 0
    capsys.readouterr()
    assert run(db, "tokens", "create", "alice", "--label", "ci box", "--ttl-days", "2") == 0
    captured = capsys.readouterr()
    secret = captured.out.strip()
    assert captured.out == secret + "\n" and secret.startswith("cp_")
    assert "shown once" in captured.err

    async def verify(now: float) -> str | None:
        database = SqliteDb(db)
        try:
            user = await SqliteTokenStore(database).verify(secret, kinds=["api"], now=now)
            return user.name if user else None
        finally:
            database.close()

    assert asyncio.run(verify(time.time())) == "alice"
    assert asyncio.run(verify(time.time() + 3 * 86400)) is None  # --ttl-days 2
    assert run(db, "tokens", "list", "--json") == 0
    [listed] = out_json(capsys)
    assert listed["user"] == "alice" and listed["label"] == "ci box"
    assert listed["state"] == "active" and listed["kind"] == "api"
    assert listed["last_used_at"] is not None
    assert secret not in json.dumps(listed)
    assert run(db, "tokens", "list") == 0
    text = capsys.readouterr().out
    assert listed["id"] in text and "active" in text and secret not in text
    assert run(db, "tokens", "revoke", listed["id"]) == 0
    capsys.readouterr()
    assert asyncio.run(verify(time.time())) is None
    assert run(db, "tokens", "list", "--json") == 0
    assert out_json(capsys)[0]["state"] == "revoked"


def test_removing_a_user_revokes_their_tokens(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, "users", "add", "alice") == 0
    assert run(db, "tokens", "create", "alice") == 0
    assert run(db, "users", "remove", "alice") == 0
    capsys.readouterr()
    assert run(db, "tokens", "list", "--json") == 0
    assert [t["state"] for t in out_json(capsys)] == ["revoked"]


def test_tasks_list_shows_one_users_tasks(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async def seed() -> None:
        lists = SqliteTaskLists(db)
        await lists.of("owner").add("owner's task")
        await lists.of("alice").add("alice's task")
        lists.close()

    asyncio.run(seed())
    assert run(db, "users", "add", "alice") == 0
    capsys.readouterr()
    assert run(db, "tasks", "list") == 0  # no --user: identity.owner
    text = capsys.readouterr().out
    assert "owner's task" in text and "alice's task" not in text
    assert run(db, "tasks", "list", "--user", "alice", "--json") == 0
    assert [t["title"] for t in out_json(capsys)] == ["alice's task"]
    assert run(db, "tasks", "list", "--user", "bob") == 2  # neither a user nor any tasks


def test_db_and_config_after_the_action(
    tmp_path: Path, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "callport.toml"
    config.write_text(
        f'[server]\ndb = "{tmp_path / "from-config.db"}"\n\n[identity]\nowner = "olga"\n'
    )
    assert main(["users", "add", "alice", "--db", str(db)]) == 0
    other = str(tmp_path / "other.db")
    capsys.readouterr()
    assert main(["--db", other, "users", "list", "--json", "--db", str(db)]) == 0
    assert [u["name"] for u in out_json(capsys)] == ["alice"]  # the later --db wins
    assert main(["users", "list", "--json", "--db", str(db)]) == 0
    assert [u["name"] for u in out_json(capsys)] == ["alice"]
    assert main(["tasks", "list", "--config", str(config)]) == 0
    assert "no tasks for olga" in capsys.readouterr().out
    assert (tmp_path / "from-config.db").exists()


def test_users_set_changes_and_clears_secrets(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(db, "users", "add", "owner", "--role", "admin") == 0

    async def check(pin: str, password: str) -> tuple[bool, bool]:
        users = SqliteUserStore(db)
        try:
            return (await users.check_pin("owner", pin),
                    await users.check_password("owner", password) is not None)  # fmt: skip
        finally:
            users.close()

    monkeypatch.setattr("sys.stdin", io.StringIO("a fine password\n"))
    assert run(db, "users", "set", "owner", "--pin", "1357", "--password-stdin") == 0
    assert "PIN and password" in capsys.readouterr().out
    assert asyncio.run(check("1357", "a fine password")) == (True, True)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert run(db, "users", "set", "owner", "--pin", "8642", "--password-stdin") == 2
    assert asyncio.run(check("1357", "a fine password")) == (True, True)  # nothing changed
    assert run(db, "users", "set", "owner", "--no-pin", "--no-password") == 0
    assert "no PIN or password" in capsys.readouterr().out
    assert asyncio.run(check("1357", "a fine password")) == (False, False)
    assert run(db, "users", "set", "owner") == 2
    assert run(db, "users", "set", "ghost", "--no-pin") == 2
    assert "no user 'ghost'" in capsys.readouterr().err


def test_agents_with_queues(db: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("agent-pass-1\n"))
    assert run(db, "users", "add", "alice", "--role", "agent", "--queue", "support",
               "--queue", "sales", "--password-stdin") == 0
    out = capsys.readouterr()
    assert "roles agent; queues support, sales; password" in out.out
    assert "no [queues.support] in the configuration yet" in out.err
    assert run(db, "users", "add", "bob", "--queue", "support") == 2  # not an agent
    assert "add --role agent" in capsys.readouterr().err
    assert run(db, "users", "set", "alice", "--queue", "billing") == 0
    capsys.readouterr()
    assert run(db, "users", "list", "--json") == 0
    assert out_json(capsys)[0]["queues"] == ["billing"]
    assert run(db, "users", "set", "alice", "--queue", "bad name") == 2
    assert "queue 'bad name'" in capsys.readouterr().err
    assert run(db, "users", "set", "alice", "--no-queues") == 0
    capsys.readouterr()
    assert run(db, "users", "list", "--json") == 0
    assert out_json(capsys)[0]["queues"] == []
