"""The IVR's compiled form: menus, options, actions and opening hours (plain frozen data).

``callport.flows.ivr.load`` builds it from TOML (and validates it); ``callport.flows.ivr.run``
runs it on a call with ``call.gather``. Python flows can build these directly too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callport.call.understand import Choice


@dataclass(frozen=True, slots=True)
class Action:
    """Base of what an option does."""


@dataclass(frozen=True, slots=True)
class GoMenu(Action):
    menu: str


@dataclass(frozen=True, slots=True)
class AgentAction(Action):
    """Connect an agent: ``taskmanager`` (the built-in), the server's agent (``default``) or
    any ``--agent`` reference (``module:attribute``)."""

    ref: str


@dataclass(frozen=True, slots=True)
class QueueAction(Action):
    queue: str


@dataclass(frozen=True, slots=True)
class TransferAction(Action):
    target: str  # tel:/sip: URI


@dataclass(frozen=True, slots=True)
class VoicemailAction(Action):
    for_user: str = ""  # empty: ivr.voicemail_for (the owner by default)


@dataclass(frozen=True, slots=True)
class HangupAction(Action):
    """Say-and-hang-up (the option's ``say`` is the goodbye)."""


@dataclass(frozen=True, slots=True)
class Option:
    choice: Choice
    action: Action
    say: str = ""  # said before the action ("Connecting you to sales.")


@dataclass(frozen=True, slots=True)
class Menu:
    """A question with ``options``, or (no options) an announcement then ``action``."""

    name: str
    prompt: str
    options: tuple[Option, ...] = ()
    action: Action | None = None
    fallback: Action | None = None  # after the ladder ran out; None: the IVR's fallback
    max_tries: int = 3
    timeout_s: float = 5.0

    def option(self, name: str) -> Option:
        return next(o for o in self.options if o.choice.name == name)


@dataclass(frozen=True, slots=True)
class Hours:
    """Open ``week[weekday]`` ranges (minutes since midnight, Monday = 0) in ``timezone``;
    ``holidays`` (ISO dates) are closed all day; closed -> the ``closed`` menu."""

    timezone: str
    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[str] = frozenset()
    closed: str = ""


@dataclass(frozen=True, slots=True)
class Ivr:
    start: str
    menus: dict[str, Menu]
    hours: Hours | None = None
    operator: str = ""  # transfer target of the operator command (0 / "operator")
    fallback: Action = field(default_factory=HangupAction)
    voicemail_for: str = ""
    goodbye: str = "Thank you for calling. Goodbye."
    source: str = ""  # the file it came from
