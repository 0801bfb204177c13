"""The first run stays two commands: ``serve`` makes sure the owner account exists and, while
the owner has no password, prints a fresh one-time sign-in link on every start (the Jupyter
pattern): ``callport: sign in at http://HOST:PORT/login?token=cp_...``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from callport.config import Settings
from callport.store.owner import ensure_owner
from callport.store.users import TokenStore, UserStore

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def base_url(host: str, port: int) -> str:
    """Where a browser on this machine reaches the server (a wildcard bind: localhost)."""
    name = "localhost" if host in WILDCARD_HOSTS else host
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    return f"http://{name}:{port}"


async def owner_signin_link(settings: Settings, *, users: UserStore, tokens: TokenStore,
                            clock: Callable[[], float] = time.time) -> str | None:
    """The owner's one-time sign-in URL, or None when the owner has a password (they sign in
    with it). Creates the owner (admin, no secrets) when no user exists; raises ``UserError``
    when other users exist but the configured owner does not."""
    owner, _ = await ensure_owner(users, name=settings.identity.owner)
    if owner.has_password:
        return None
    issued = await tokens.create(owner.name, kind="signin",
                                 ttl_s=float(settings.identity.signin_ttl_s),
                                 label="serve: first-run sign-in link", now=clock())
    return f"{base_url(settings.server.host, settings.server.port)}/login?token={issued.secret}"
