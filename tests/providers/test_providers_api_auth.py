"""The bearer check of call-placing endpoints: header parsing, a failing token store."""

from __future__ import annotations

from callport.channels.api_auth import bearer_of, check_admin_bearer
from callport.store.memory_users import MemoryTokenStore, MemoryUserStore


def test_bearer_of_reads_only_bearer_headers() -> None:
    assert bearer_of("Bearer abc") == "abc"
    assert bearer_of("bearer  abc ") == "abc"
    assert bearer_of("Basic abc") == "" and bearer_of("") == "" and bearer_of("Bearer") == ""


async def test_a_failing_token_store_refuses_with_401() -> None:
    class Broken(MemoryTokenStore):
        async def verify(self, *_: object, **__: object) -> None:  # type: ignore[override]
            raise RuntimeError("database is locked")

    verdict = await check_admin_bearer("Bearer cp_x_y", tokens=Broken(users=MemoryUserStore()),
                                       static_token="", now=0.0)
    assert (verdict.status, verdict.allowed) == (401, False)


async def test_an_expired_admin_token_is_401() -> None:
    users = MemoryUserStore()
    await users.add("ada", roles=("admin",))
    tokens = MemoryTokenStore(users=users)
    issued = await tokens.create("ada", ttl_s=60, now=1000.0)
    ok = await check_admin_bearer(f"Bearer {issued.secret}", tokens=tokens, static_token="",
                                  now=1030.0)
    assert ok.allowed and ok.who == "ada"
    late = await check_admin_bearer(f"Bearer {issued.secret}", tokens=tokens, static_token="",
                                    now=1061.0)
    assert late.status == 401
