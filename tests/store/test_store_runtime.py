"""``build_runtime`` wires users, tokens and every user's tasks on the one SQLite database."""

from __future__ import annotations

import time
from pathlib import Path

from callport.config import IdentitySettings, ServerSettings, Settings
from callport.server.runtime import build_runtime
from callport.store.calls import MemoryCallStore
from callport.store.memory_users import MemoryTokenStore, MemoryUserStore
from callport.store.owner import ensure_owner
from callport.store.sqlite_tasks import SqliteTaskLists
from callport.store.sqlite_tokens import SqliteTokenStore
from callport.store.sqlite_users import SqliteUserStore
from callport.store.tasks import MemoryTaskLists, MemoryTaskStore


def settings(db: Path, owner: str = "owner") -> Settings:
    return Settings(server=ServerSettings(db=str(db)), identity=IdentitySettings(owner=owner))


async def test_defaults_share_one_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "rt.db"
    runtime = build_runtime(settings(db, owner="olga"))
    assert isinstance(runtime.users, SqliteUserStore)
    assert isinstance(runtime.tokens, SqliteTokenStore)
    assert isinstance(runtime.tasks, SqliteTaskLists)
    assert runtime.store is runtime.tasks.of("olga")  # the owner's list, one feed
    owner, created = await ensure_owner(runtime.users, name="olga")
    assert created and owner.has_role("admin")
    issued = await runtime.tokens.create("olga", now=time.time())
    mine = await runtime.tasks.of("olga").add("olga's")
    await runtime.tasks.of("alice").add("alice's")
    # what another process (the CLI) sees in the same file
    users, lists = SqliteUserStore(db), SqliteTaskLists(db)
    tokens = SqliteTokenStore(users.db)
    assert await users.get("olga") == owner
    assert await tokens.verify(issued.secret, kinds=["api"], now=time.time()) == owner
    assert [t.id for t in await lists.of("olga").list()] == [mine.id]
    assert await lists.owners() == ["alice", "olga"]
    users.close()
    lists.close()


async def test_overrides_replace_the_stores(tmp_path: Path) -> None:
    users = MemoryUserStore()
    tokens = MemoryTokenStore(users=users)
    tasks = MemoryTaskLists()
    runtime = build_runtime(settings(tmp_path / "unused.db"), users=users, tokens=tokens,
                            tasks=tasks, calls=MemoryCallStore())  # fmt: skip
    assert runtime.users is users and runtime.tokens is tokens and runtime.tasks is tasks
    assert runtime.store is tasks.of("owner")
    assert not (tmp_path / "unused.db").exists()  # nothing opened a database


async def test_a_single_store_stands_in_for_the_owners_list(tmp_path: Path) -> None:
    store = MemoryTaskStore()
    runtime = build_runtime(settings(tmp_path / "rt.db"), store=store)
    assert runtime.store is store and runtime.tasks.of("owner") is store
    assert runtime.tasks.of("alice") is not store
