"""Ground-floor names every layer may use: who is calling, and what a call is.

Nothing here imports anything of callport's: stores, the call core, agents, channels and the
server all depend on these records, never the other way round. ``PCM16`` (a numpy int16 array
of mono samples) is the audio type DSP, VAD, speech, the call core and every channel share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

PCM16 = NDArray[np.int16]
"""Mono 16-bit PCM samples (the sample rate travels alongside, never inside)."""

ROLES = ("admin", "agent", "user")


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A person callport knows, as every layer may see them (no secrets: those stay in the store).

    ``name`` is the login and the owner key of their data (tasks, calls); ``phones`` are E.164
    numbers their calls are recognised by; ``has_pin`` says a phone caller must also enter the
    PIN; ``guest`` marks a stand-in for an unknown caller (``identity.unknown = "guest"``);
    ``queues`` are the queues an ``agent`` takes calls from (``[queues.NAME]``).
    """

    name: str
    display_name: str = ""
    phones: tuple[str, ...] = ()
    roles: frozenset[str] = frozenset({"user"})
    has_pin: bool = False
    has_password: bool = False
    guest: bool = False
    queues: tuple[str, ...] = ()

    @property
    def spoken_name(self) -> str:
        return self.display_name or self.name

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What an agent factory knows about the call it is made for.

    ``caller``/``callee`` are what the channel was told (caller ID, SIP From/P-Asserted-Identity,
    the browser's address); ``user`` is who callport decided the caller is (``None`` until the
    caller has been identified, e.g. while a PIN is being asked for). ``direction`` is
    ``"outbound"`` for calls callport placed: then the callee is the person on the line.
    """

    call_id: str
    channel: str
    caller: str = ""
    callee: str = ""
    user: User | None = None
    direction: str = "inbound"
