"""The first-run owner account: ``ensure_owner`` creates it when no user exists yet.

``callport serve`` and ``callport talk`` call it so the first run stays two commands: the owner
(``identity.owner``) is an admin without a password or PIN; the one-time sign-in link printed
by ``serve`` lets them into the page, where they can set a password.
"""

from __future__ import annotations

from callport.store.users import UserError, UserStore, clean_name
from callport.types import User


async def ensure_owner(users: UserStore, *, name: str) -> tuple[User, bool]:
    """``(owner, created)``: the user ``name``, created (role admin, no secrets) when the store
    holds no user at all. When other users exist but ``name`` is not one of them, raises
    ``UserError`` (the configured owner was removed or renamed: say so rather than re-create)."""
    name = clean_name(name)
    existing = await users.get(name)
    if existing is not None:
        return existing, False
    if await users.count() == 0:
        try:
            return await users.add(name, roles=("admin",)), True
        except UserError:  # created meanwhile by another process
            existing = await users.get(name)
            if existing is not None:
                return existing, False
            raise
    raise UserError(
        f"identity.owner is {name!r} but no such user exists; add it "
        f"(callport users add {name} --role admin) or set identity.owner to an existing user"
    )
