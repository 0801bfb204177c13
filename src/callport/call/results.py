"""What ``Call.listen()`` returns: one explicit result per outcome, never ``None``.

    match await call.listen(timeout=5):
        case Heard(text=text): ...
        case Pressed(digits=digits): ...
        case Timeout(): ...
        case HungUp(reason=reason): ...

``HungUp`` here is a listen result; the leg event of the same name is
``callport.call.events.HungUp``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ListenResult:
    """Base of the listen results."""


@dataclass(frozen=True, slots=True)
class Heard(ListenResult):
    """The caller said ``text`` (never empty). ``confidence`` when the STT reports one;
    ``started_at``/``ended_at`` are media seconds of the speech."""

    text: str
    confidence: float | None = None
    started_at: float = 0.0
    ended_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Pressed(ListenResult):
    digits: str


@dataclass(frozen=True, slots=True)
class Timeout(ListenResult):
    """Nothing was said or pressed within the timeout."""


@dataclass(frozen=True, slots=True)
class HungUp(ListenResult):
    """The call ended (``reason`` as the session recorded it: caller, transferred, ...)."""

    reason: str = "normal"
