"""The registrar's driver side: the agents it admits, kept in step with the user store.

The sans-IO ``Registrar`` answers REGISTERs from a snapshot of the agents' ``DigestKeys``.
``AgentRegistrar`` loads that snapshot from the ``UserStore`` (users with the ``agent``
role and a password) at start and again every ``refresh_s`` seconds, so an agent added,
given a new password or removed with ``callport users ...`` (another process, the same
database) can register, or is dropped, without a restart; a REGISTER from a name it does
not know asks for an early refresh, so a phone's retry after the first 403 gets in. The same
loop drops expired bindings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from callport.channels.sip.registrar import Registrar, RegistrarPolicy
from callport.channels.sip.registrar_bindings import Binding
from callport.config import SipSettings
from callport.store.users import DigestKeys, UserStore

log = logging.getLogger(__name__)

REFRESH_S = 5.0
MIN_GAP_S = 0.5


class AgentRegistrar:
    def __init__(self, *, users: UserStore, clock: Callable[[], float],
                 policy: RegistrarPolicy | None = None, refresh_s: float = REFRESH_S) -> None:
        self.users = users
        self.clock = clock
        self.registrar = Registrar(policy=policy)
        self.registrar.on_unknown = lambda _name: self.wake()
        self.refresh_s = refresh_s
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: SipSettings, *, users: UserStore,
                      clock: Callable[[], float]) -> AgentRegistrar:
        policy = RegistrarPolicy(min_expires=settings.registrar_min_expires_s,
                                 max_expires=settings.registrar_max_expires_s,
                                 default_expires=settings.registrar_max_expires_s)
        return cls(users=users, clock=clock, policy=policy)

    async def refresh(self) -> None:
        """Load every agent's keys from the store into the registrar."""
        keys: dict[str, DigestKeys] = {}
        for user in await self.users.list():
            if not user.has_role("agent"):
                continue
            found = await self.users.digest_keys(user.name)
            if found is not None:
                keys[user.name] = found
        for gone in self.registrar.set_agents(keys):
            log.info("SIP registrar: %s is no longer an agent with a password; bindings dropped",
                     gone)

    def wake(self) -> None:
        """Refresh soon (a REGISTER came from a name the snapshot does not hold)."""
        self._wake.set()

    def contacts(self, agent: str) -> list[Binding]:
        return self.registrar.contacts(agent, self.clock())

    def online(self, agent: str) -> bool:
        return self.registrar.online(agent, self.clock())

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="sip-registrar")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh_s)
            self._wake.clear()
            try:
                await self.refresh()
            except Exception:  # a store hiccup must not stop registrations
                log.exception("SIP registrar: could not load the agents")
            self.registrar.expire(self.clock())
            await asyncio.sleep(MIN_GAP_S)  # a flood of unknown names cannot spin the store
