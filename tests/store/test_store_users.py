"""Contract suite for UserStore and TokenStore implementations (memory, SQLite, PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callport.store.memory_users import MemoryTokenStore, MemoryUserStore
from callport.store.owner import ensure_owner
from callport.store.postgres import PgDb
from callport.store.postgres_users import PgTokenStore, PgUserStore
from callport.store.sqlite import SqliteDb
from callport.store.sqlite_tokens import SqliteTokenStore
from callport.store.sqlite_users import SqliteUserStore
from callport.store.users import TokenStore, UserError, UserStore, token_digest

NOW = 1_750_000_000.0


@dataclass
class Stores:
    users: UserStore
    tokens: TokenStore
    db_path: Path | None  # the SQLite file, to look at what is really stored


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    if request.param == "memory":
        users = MemoryUserStore()
        yield Stores(users, MemoryTokenStore(users=users), None)
    elif request.param == "postgres":
        pg = PgDb(request.getfixturevalue("pg_url"))
        yield Stores(PgUserStore(pg), PgTokenStore(pg), None)
        await pg.close()
    else:
        path = tmp_path / "users.db"
        db = SqliteDb(path)
        yield Stores(SqliteUserStore(db), SqliteTokenStore(db), path)
        db.close()


def raw_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(r) for r in conn.execute(sql).fetchall()]
    finally:
        conn.close()


# -- users ----------------------------------------------------------------------------------


async def test_add_get_and_by_phone_with_any_formatting(stores: Stores) -> None:
    users = stores.users
    alice = await users.add("alice", display_name="  Alice   Smith ",
                            phones=["+1 (555) 123-4567", "+44 20 7946 0000"],
                            roles=["admin", "user"])  # fmt: skip
    assert alice.name == "alice" and alice.display_name == "Alice Smith"
    assert alice.phones == ("+15551234567", "+442079460000")
    assert alice.roles == frozenset({"admin", "user"})
    assert not alice.has_pin and not alice.has_password and not alice.guest
    assert await users.get("alice") == alice
    assert await users.get("bob") is None
    assert await users.by_phone("+15551234567") == alice
    assert await users.by_phone("+1.555.123.4567") == alice
    assert await users.by_phone("+442079460000") == alice
    assert await users.by_phone("+15550000000") is None
    assert await users.by_phone("anonymous") is None  # a withheld caller ID is nobody
    assert await users.by_phone("") is None


async def test_default_role_is_user_and_list_is_by_name(stores: Stores) -> None:
    users = stores.users
    await users.add("zoe")
    await users.add("bob", phones=["+15550000001"])
    listed = await users.list()
    assert [u.name for u in listed] == ["bob", "zoe"]
    assert listed[1].roles == frozenset({"user"})
    assert await users.count() == 2


async def test_duplicate_name_or_phone_is_refused(stores: Stores) -> None:
    users = stores.users
    await users.add("alice", phones=["+15551234567"])
    with pytest.raises(UserError, match="already exists"):
        await users.add("alice")
    with pytest.raises(UserError, match="already belongs to 'alice'"):
        await users.add("bob", phones=["+1 555 123 4567"])
    assert await users.get("bob") is None  # nothing half-written
    assert await users.count() == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Alice"}, "user name"),
        ({"name": ""}, "user name"),
        ({"name": "a" * 65}, "user name"),
        ({"name": "bob", "phones": ["5551234567"]}, "E.164"),
        ({"name": "bob", "phones": ["+0123456789"]}, "E.164"),
        ({"name": "bob", "pin": "12"}, "PIN"),
        ({"name": "bob", "pin": "12ab"}, "PIN"),
        ({"name": "bob", "password": "short"}, "password"),
        ({"name": "bob", "roles": ["root"]}, "role 'root'"),
        ({"name": "bob", "display_name": "x" * 101}, "display name"),
    ],
)
async def test_bad_fields_are_refused(
    stores: Stores, fields: dict[str, object], message: str
) -> None:
    rest = dict(fields)
    name = str(rest.pop("name"))
    with pytest.raises(UserError, match=message):
        await stores.users.add(name, **rest)  # type: ignore[arg-type]
    assert await stores.users.count() == 0


async def test_password_and_pin_are_checked_and_never_stored_plain(stores: Stores) -> None:
    users = stores.users
    alice = await users.add("alice", pin="4321", password="correct horse")
    assert alice.has_pin and alice.has_password
    assert await users.check_password("alice", "correct horse") == alice
    assert await users.check_password("alice", "wrong horse!") is None
    assert await users.check_password("nobody", "correct horse") is None
    assert await users.check_pin("alice", "4321")
    assert not await users.check_pin("alice", "1234")
    assert not await users.check_pin("nobody", "4321")
    if stores.db_path is not None:
        rows = raw_rows(stores.db_path, "SELECT * FROM users")
        dump = repr(rows)
        assert "correct horse" not in dump and "4321" not in dump
        assert dump.count("scrypt$") == 2


async def test_users_without_secrets_never_match(stores: Stores) -> None:
    users = stores.users
    await users.add("bob")
    assert await users.check_password("bob", "") is None
    assert await users.check_password("bob", "anything at all") is None
    assert not await users.check_pin("bob", "")
    assert not await users.check_pin("bob", "0000")


async def test_set_and_clear_password_and_pin(stores: Stores) -> None:
    users = stores.users
    await users.add("bob")
    assert await users.set_password("bob", "a new password")
    assert await users.set_pin("bob", "98765")
    bob = await users.get("bob")
    assert bob is not None and bob.has_password and bob.has_pin
    assert await users.check_password("bob", "a new password") == bob
    assert await users.check_pin("bob", "98765")
    assert await users.set_pin("bob", None) and await users.set_password("bob", None)
    bob = await users.get("bob")
    assert bob is not None and not bob.has_pin and not bob.has_password
    assert not await users.check_pin("bob", "98765")
    assert await users.check_password("bob", "a new password") is None
    assert not await users.set_pin("nobody", "1234")
    assert not await users.set_password("nobody", "password123")
    with pytest.raises(UserError):
        await users.set_pin("bob", "12")


async def test_remove_frees_the_name_and_phone(stores: Stores) -> None:
    users = stores.users
    await users.add("alice", phones=["+15551234567"])
    assert await users.remove("alice")
    assert not await users.remove("alice")
    assert await users.get("alice") is None
    assert await users.by_phone("+15551234567") is None
    bob = await users.add("bob", phones=["+15551234567"])  # the number is free again
    assert await users.by_phone("+15551234567") == bob
    if stores.db_path is not None:
        assert raw_rows(stores.db_path, "SELECT user FROM user_phones") == [("bob",)]


async def test_concurrent_adds_of_one_phone_give_it_to_one_user(stores: Stores) -> None:
    results = await asyncio.gather(
        *(stores.users.add(f"user{i}", phones=["+15551234567"]) for i in range(5)),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(made) == 1
    assert all(isinstance(r, UserError) for r in results if isinstance(r, BaseException))
    assert await stores.users.by_phone("+15551234567") == made[0]


# -- tokens ---------------------------------------------------------------------------------


async def test_api_token_verifies_until_revoked(stores: Stores) -> None:
    await stores.users.add("alice")
    issued = await stores.tokens.create("alice", label="laptop", now=NOW)
    assert issued.secret.startswith(f"cp_{issued.info.id}_") and len(issued.secret) > 40
    assert issued.info.kind == "api" and issued.info.expires_at is None
    user = await stores.tokens.verify(issued.secret, kinds=["api"], now=NOW + 10)
    assert user is not None and user.name == "alice"
    assert await stores.tokens.verify(issued.secret, kinds=["api"], now=NOW + 1e6) is not None
    [listed] = await stores.tokens.list()
    assert listed.last_used_at == NOW + 1e6 and listed.label == "laptop" and not listed.revoked
    assert await stores.tokens.revoke(issued.info.id)
    assert await stores.tokens.verify(issued.secret, kinds=["api"], now=NOW + 20) is None
    assert not await stores.tokens.revoke("nope")
    [listed] = await stores.tokens.list()
    assert listed.revoked


async def test_token_kind_must_be_asked_for(stores: Stores) -> None:
    await stores.users.add("alice")
    session = await stores.tokens.create("alice", kind="session", ttl_s=3600, now=NOW)
    api = await stores.tokens.create("alice", now=NOW)
    assert await stores.tokens.verify(session.secret, kinds=["api"], now=NOW) is None
    assert await stores.tokens.verify(api.secret, kinds=["session"], now=NOW) is None
    assert await stores.tokens.verify(session.secret, kinds=["session"], now=NOW) is not None
    assert await stores.tokens.verify(api.secret, kinds=["api", "session"], now=NOW) is not None
    with pytest.raises(UserError):
        await stores.tokens.create("alice", kind="root", now=NOW)  # type: ignore[arg-type]


async def test_tokens_expire_by_now(stores: Stores) -> None:
    await stores.users.add("alice")
    issued = await stores.tokens.create("alice", kind="session", ttl_s=60, now=NOW)
    assert issued.info.expires_at == NOW + 60
    assert await stores.tokens.verify(issued.secret, kinds=["session"], now=NOW + 59) is not None
    assert await stores.tokens.verify(issued.secret, kinds=["session"], now=NOW + 60) is None
    assert await stores.tokens.verify(issued.secret, kinds=["session"], now=NOW + 61) is None
    with pytest.raises(UserError):
        await stores.tokens.create("alice", ttl_s=0, now=NOW)


async def test_signin_token_is_single_use(stores: Stores) -> None:
    await stores.users.add("alice")
    issued = await stores.tokens.create("alice", kind="signin", ttl_s=600, now=NOW)
    results = await asyncio.gather(
        *(stores.tokens.verify(issued.secret, kinds=["signin"], now=NOW + 1) for _ in range(5))
    )
    assert [r.name for r in results if r is not None] == ["alice"]
    assert await stores.tokens.verify(issued.secret, kinds=["signin"], now=NOW + 2) is None


async def test_forged_and_malformed_tokens_fail(stores: Stores) -> None:
    await stores.users.add("alice")
    issued = await stores.tokens.create("alice", now=NOW)
    forged = issued.secret[:-4] + ("AAAA" if not issued.secret.endswith("AAAA") else "BBBB")
    for secret in (forged, "", "cp__x", "nonsense", f"cp_{issued.info.id}_", "cp_" + "x" * 300):
        assert await stores.tokens.verify(secret, kinds=["api"], now=NOW) is None
    assert await stores.tokens.verify(issued.secret, kinds=["api"], now=NOW) is not None


async def test_tokens_need_an_existing_user(stores: Stores) -> None:
    with pytest.raises(UserError, match="no user"):
        await stores.tokens.create("ghost", now=NOW)
    assert await stores.tokens.list() == []


async def test_removing_a_user_revokes_their_tokens(stores: Stores) -> None:
    await stores.users.add("alice")
    await stores.users.add("bob")
    a = await stores.tokens.create("alice", now=NOW)
    s = await stores.tokens.create("alice", kind="session", ttl_s=60, now=NOW)
    b = await stores.tokens.create("bob", now=NOW)
    assert await stores.users.remove("alice")
    assert await stores.tokens.verify(a.secret, kinds=["api"], now=NOW) is None
    assert await stores.tokens.verify(s.secret, kinds=["session"], now=NOW) is None
    assert all(t.revoked for t in await stores.tokens.list(user="alice"))
    # a new user of the same name does not inherit the old tokens
    await stores.users.add("alice")
    assert await stores.tokens.verify(a.secret, kinds=["api"], now=NOW) is None
    bob = await stores.tokens.verify(b.secret, kinds=["api"], now=NOW)
    assert bob is not None and bob.name == "bob"


async def test_revoke_user_by_kind(stores: Stores) -> None:
    await stores.users.add("alice")
    api = await stores.tokens.create("alice", now=NOW)
    s1 = await stores.tokens.create("alice", kind="session", ttl_s=60, now=NOW)
    s2 = await stores.tokens.create("alice", kind="session", ttl_s=60, now=NOW + 1)
    assert await stores.tokens.revoke_user("alice", kinds=["session"]) == 2
    assert await stores.tokens.revoke_user("alice", kinds=["session"]) == 0
    for s in (s1, s2):
        assert await stores.tokens.verify(s.secret, kinds=["session"], now=NOW) is None
    assert await stores.tokens.verify(api.secret, kinds=["api"], now=NOW) is not None
    assert await stores.tokens.revoke_user("alice") == 1


async def test_list_shows_no_secrets_and_digests_only_are_stored(stores: Stores) -> None:
    await stores.users.add("alice")
    await stores.users.add("bob")
    a = await stores.tokens.create("alice", label="ci", now=NOW)
    b = await stores.tokens.create("bob", kind="session", ttl_s=60, now=NOW + 1)
    listed = await stores.tokens.list()
    assert [t.id for t in listed] == [a.info.id, b.info.id]
    assert [t.id for t in await stores.tokens.list(user="bob")] == [b.info.id]
    assert a.secret not in repr(listed) and b.secret not in repr(listed)
    if stores.db_path is not None:
        dump = repr(raw_rows(stores.db_path, "SELECT * FROM tokens"))
        assert a.secret not in dump and b.secret not in dump
        assert token_digest(a.secret) in dump


# -- the first-run owner --------------------------------------------------------------------


async def test_ensure_owner_creates_the_owner_only_on_an_empty_store(stores: Stores) -> None:
    owner, created = await ensure_owner(stores.users, name="owner")
    assert created and owner.name == "owner" and owner.roles == frozenset({"admin"})
    assert not owner.has_password and not owner.has_pin
    again, created = await ensure_owner(stores.users, name="owner")
    assert again == owner and not created
    assert await stores.users.count() == 1


async def test_ensure_owner_does_not_recreate_a_removed_owner(stores: Stores) -> None:
    await stores.users.add("alice", roles=["admin"])
    with pytest.raises(UserError, match=r"identity\.owner"):
        await ensure_owner(stores.users, name="owner")
    assert await stores.users.get("owner") is None


async def test_sqlite_users_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    users = SqliteUserStore(path)
    tokens = SqliteTokenStore(users.db)
    alice = await users.add("alice", phones=["+15551234567"], pin="1234")
    issued = await tokens.create("alice", now=NOW)
    users.close()
    again = SqliteUserStore(path)
    assert await again.by_phone("+15551234567") == alice
    assert await again.check_pin("alice", "1234")
    verified = await SqliteTokenStore(again.db).verify(issued.secret, kinds=["api"], now=NOW)
    assert verified == alice
    again.close()


# -- SIP digest keys (agents' desk phones register with their password) ---------------------


async def test_digest_keys_only_for_agents_with_a_password(stores: Stores) -> None:
    from callport.store.users import DIGEST_REALM, digest_keys

    users = stores.users
    await users.add("alice", password="correct horse", roles=["agent"])
    await users.add("bob", password="correct horse", roles=["user"])
    await users.add("carol", roles=["agent"])
    keys = await users.digest_keys("alice")
    assert keys == digest_keys("alice", "correct horse", DIGEST_REALM)
    assert keys is not None and keys.for_algorithm("md5") == keys.md5
    assert await users.digest_keys("bob") is None  # not an agent: no password-equivalent kept
    assert await users.digest_keys("carol") is None  # no password yet
    assert await users.digest_keys("nobody") is None
    assert await users.set_password("carol", "battery staple")
    assert await users.digest_keys("carol") == digest_keys("carol", "battery staple")
    assert await users.set_password("alice", "new password!")
    assert await users.digest_keys("alice") == digest_keys("alice", "new password!")
    assert await users.set_password("alice", None)
    assert await users.digest_keys("alice") is None
    if stores.db_path is not None:  # never the password itself
        assert not any("correct horse" in str(r) or "battery" in str(r)
                       for r in raw_rows(stores.db_path, "SELECT * FROM users"))


def test_sqlite_users_table_from_before_digest_keys_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE users (name TEXT PRIMARY KEY, display_name TEXT NOT NULL "
                       "DEFAULT '', roles TEXT NOT NULL, pin_hash TEXT, password_hash TEXT, "
                       "created_at REAL NOT NULL);"
                       "INSERT INTO users VALUES ('old', '', 'agent', NULL, NULL, 0);")
    conn.commit()
    conn.close()

    async def run() -> None:
        db = SqliteDb(path)
        try:
            users = SqliteUserStore(db)
            assert await users.digest_keys("old") is None
            assert await users.set_password("old", "s3cret-pass")
            assert await users.digest_keys("old") is not None
        finally:
            db.close()

    asyncio.run(run())


async def test_agents_queue_memberships_are_kept_replaced_and_checked(stores: Stores) -> None:
    users = stores.users
    alice = await users.add("alice", roles=["agent"], queues=["support", "sales", "support"])
    assert alice.queues == ("support", "sales")
    assert (await users.get("alice")) == alice
    assert (await users.add("bob")).queues == ()
    assert await users.set_queues("alice", ["billing"])
    got = await users.get("alice")
    assert got is not None and got.queues == ("billing",)
    assert [u.queues for u in await users.list()] == [("billing",), ()]
    assert not await users.set_queues("nobody", ["support"])
    for bad in (["no spaces"], [""], ["a,b"]):
        with pytest.raises(UserError, match="queue"):
            await users.add("carol", roles=["agent"], queues=bad)
        with pytest.raises(UserError, match="queue"):
            await users.set_queues("alice", bad)
    assert await users.get("carol") is None
    got = await users.get("alice")
    assert got is not None and got.queues == ("billing",)  # a refused change changes nothing


def test_sqlite_users_table_from_before_queues_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE users (name TEXT PRIMARY KEY, display_name TEXT NOT NULL "
                       "DEFAULT '', roles TEXT NOT NULL, pin_hash TEXT, password_hash TEXT, "
                       "created_at REAL NOT NULL, digest_keys TEXT);"
                       "INSERT INTO users VALUES ('old', '', 'agent', NULL, NULL, 0, NULL);")
    conn.commit()
    conn.close()

    async def run() -> None:
        db = SqliteDb(path)
        try:
            users = SqliteUserStore(db)
            old = await users.get("old")
            assert old is not None and old.queues == ()
            assert await users.set_queues("old", ["support"])
        finally:
            db.close()
        db = SqliteDb(path)  # it survives a reopen
        try:
            again = await SqliteUserStore(db).get("old")
            assert again is not None and again.queues == ("support",)
        finally:
            db.close()

    asyncio.run(run())


async def test_roles_are_replaced_checked_and_a_lost_agent_role_drops_the_digest_keys(
        stores: Stores) -> None:
    from callport.store.users import digest_keys

    users = stores.users
    await users.add("alice", password="correct horse", roles=["agent"], queues=["support"])
    await users.add("bob")
    assert await users.set_roles("bob", ["admin", "agent"])
    got = await users.get("bob")
    assert got is not None and got.roles == frozenset({"admin", "agent"})
    assert await users.digest_keys("bob") is None  # no password to make them from
    assert await users.set_roles("bob", [])  # none: a plain user
    got = await users.get("bob")
    assert got is not None and got.roles == frozenset({"user"})
    assert not await users.set_roles("nobody", ["admin"])
    with pytest.raises(UserError, match="role"):
        await users.set_roles("alice", ["root"])
    got = await users.get("alice")
    assert got is not None and got.roles == frozenset({"agent"})  # a refused change: none
    assert await users.digest_keys("alice") == digest_keys("alice", "correct horse")
    assert await users.set_roles("alice", ["agent", "admin"])  # still an agent: keys kept
    assert await users.digest_keys("alice") == digest_keys("alice", "correct horse")
    assert await users.set_roles("alice", ["user"])
    assert await users.digest_keys("alice") is None  # no SIP sign-in for a non-agent
    got = await users.get("alice")
    assert got is not None and got.roles == frozenset({"user"}) and got.queues == ("support",)
    assert [sorted(u.roles) for u in await users.list()] == [["user"], ["user"]]
