"""Run an ``Ivr`` on a call: every menu is one ``call.gather``; options lead to actions.

``IvrFlow(ivr=..., voicemail=...)`` is a flow (``await flow(call)``). Each call's decisions and
outcome are kept in ``flow.journals[call_id]`` (``callport talk --json`` prints them):
``steps`` of ``{menu, heard, digits, choice, by, confidence}`` and ``outcome``
(``transfer:sip:...``, ``queue:support``, ``agent:taskmanager``, ``voicemail``, ``hangup``).

Global commands: ``back`` returns to the previous menu, ``main`` to the start, ``operator``
(or key 0) transfers to ``ivr.operator``. When the ladder runs out the menu's fallback (else
the IVR's) is taken. A queue option joins through the ``QueueJoiner`` given (else the call's
own ``call.queues``, the server's queues); with neither it apologises politely and ends the
call. Its outcome is ``queue:NAME`` either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from callport.agents.base import AgentFactory
from callport.call.call import Call
from callport.call.controls import Refused
from callport.call.gather import Chosen, Digits, NoInput, NoMatch, Said
from callport.call.results import HungUp
from callport.call.understand import Understanding
from callport.flows.ivr.hours import start_menu
from callport.flows.ivr.model import (
    Action,
    AgentAction,
    GoMenu,
    Ivr,
    Menu,
    QueueAction,
    TransferAction,
    VoicemailAction,
)
from callport.flows.voicemail import take_message
from callport.nlu.intents import Embedder
from callport.store.calls import CallStore
from callport.store.voicemail import Voicemail, VoicemailStore

log = logging.getLogger(__name__)

CANNOT_TRANSFER = "I'm sorry, I can't put you through right now."
NO_QUEUES = "I'm sorry, waiting in line for {queue} is not available yet. Please call again later."


class QueueJoiner(Protocol):
    """What the queue work provides: put the call in ``queue`` (returns when it leaves)."""

    async def join(self, call: Call, queue: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Move(Action):
    """Go to ``menu`` without remembering where we were (back, main menu)."""

    menu: str


@dataclass(slots=True)
class IvrJournal:
    steps: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = ""


class IvrFlow:
    """The flow that runs ``ivr``; ``agents(ref)`` makes an option's agent factory (None: the
    call's own agent), ``now()`` is when the call happens (``at`` overrides it: talk --at)."""

    def __init__(
        self,
        *,
        ivr: Ivr,
        voicemail: VoicemailStore,
        agents: Callable[[str], AgentFactory | None] | None = None,
        queues: QueueJoiner | None = None,
        now: Callable[[], datetime] | None = None,
        embedder: Embedder | None = None,
        owner: str = "owner",
        calls: CallStore | None = None,
    ) -> None:
        self.ivr = ivr
        self.voicemail = voicemail
        self._agents = agents
        self.queues = queues
        self._now = now or (lambda: datetime.now().astimezone())
        self.at: datetime | None = None
        self.owner = owner
        self.calls = calls
        """Where each call's decisions and outcome go as an ``ivr`` event (the call record)."""
        self.journals: dict[str, IvrJournal] = {}
        self._understanding = {
            name: Understanding(choices=[o.choice for o in menu.options], embedder=embedder)
            for name, menu in ivr.menus.items() if menu.options
        }

    def warm(self) -> None:
        for understanding in self._understanding.values():
            understanding.warm()

    def now(self) -> datetime:
        return self.at if self.at is not None else self._now()

    async def __call__(self, call: Call) -> None:
        journal = self.journals.setdefault(call.info.call_id, IvrJournal())
        name = start_menu(self.ivr.start, self.ivr.hours, self.now())
        back: list[str] = []
        while not call.ended:
            menu = self.ivr.menus[name]
            action = await self._ask(call, menu, journal, back)
            if action is None:  # the caller hung up
                return
            if isinstance(action, _Move):  # back / main menu: the stack is already adjusted
                name = action.menu
                continue
            if isinstance(action, GoMenu):
                back.append(name)
                name = action.menu
                continue
            await self._act(call, action, menu, journal)
            return

    async def _ask(
        self, call: Call, menu: Menu, journal: IvrJournal, back: list[str]
    ) -> Action | None:
        if not menu.options:
            if menu.prompt:
                await call.say(menu.prompt)
            return menu.action
        result = await call.gather(menu.prompt, understanding=self._understanding[menu.name],
                                   timeout=menu.timeout_s, max_tries=menu.max_tries)
        step: dict[str, Any] = {"menu": menu.name, "heard": None, "digits": None,
                                "choice": None, "by": None, "confidence": None}
        journal.steps.append(step)
        fallback = menu.fallback or self.ivr.fallback
        match result:
            case Chosen(choice=choice, by=by, confidence=confidence, heard=heard,
                        digits=digits):
                step.update(heard=heard or None, digits=digits or None, choice=choice, by=by,
                            confidence=confidence)
                option = menu.option(choice)
                if option.say:
                    await call.say(option.say)
                return option.action
            case Said(command=command, by=by, heard=heard, digits=digits):
                step.update(heard=heard or None, digits=digits or None,
                            choice=f"command:{command}", by=by, confidence=1.0)
                if command == "operator":
                    return TransferAction(self.ivr.operator) if self.ivr.operator else fallback
                if command == "main" or not back:
                    back.clear()
                    return _Move(self.ivr.start if command == "main" else menu.name)
                return _Move(back.pop())
            case NoInput() | NoMatch():
                step.update(heard=getattr(result, "heard", "") or None, choice=None,
                            by="fallback")
                return fallback
            case Digits(digits=digits):
                step.update(digits=digits, by="dtmf")
                return fallback
            case HungUp():
                step.update(by="hangup")
                journal.outcome = "hangup"
                await self._record(call, journal)
                return None
        return fallback

    async def _act(self, call: Call, action: Action, menu: Menu, journal: IvrJournal) -> None:
        journal.outcome = outcome_of(action)
        await self._record(call, journal)
        match action:
            case TransferAction(target=target):
                result = await call.transfer(target)
                if isinstance(result, Refused) and not call.ended:
                    await call.say(CANNOT_TRANSFER)
                    await self._goodbye(call)
            case AgentAction(ref=ref):
                factory = self._agents(ref) if self._agents is not None else None
                agent = factory(call.info) if factory is not None else call.new_agent()
                await call.connect(agent)
            case QueueAction(queue=queue):
                joiner = self.queues or getattr(call, "queues", None)  # else the call's own
                if joiner is not None:
                    await joiner.join(call, queue)
                else:
                    await call.say(NO_QUEUES.format(queue=queue))
                    await self._goodbye(call)
            case VoicemailAction(for_user=for_user):
                await self.take_message(call, menu.name,
                                        for_user or self.ivr.voicemail_for or self.owner)
            case _:  # HangupAction: say-and-hang-up
                await self._goodbye(call)

    async def _record(self, call: Call, journal: IvrJournal) -> None:
        """One ``ivr`` event on the call record: each menu's decision, then the outcome."""
        if self.calls is None:
            return
        steps = []
        for step in journal.steps:  # "main: sales (dtmf 1)", "main: support (speech)"
            how = (f" ({step['by']}{' ' + step['digits'] if step['digits'] else ''})"
                   if step["by"] else "")
            steps.append(f"{step['menu']}: {step['choice'] or 'no choice'}{how}")
        detail = " > ".join([*steps, journal.outcome])
        try:
            await self.calls.add_event(call.info.call_id, "ivr", detail)
        except Exception:  # the record is a report: the call goes on without it
            log.exception("call %s: cannot record the IVR outcome", call.info.call_id)

    async def _goodbye(self, call: Call) -> None:
        if not call.ended:
            await call.say(self.ivr.goodbye, interruptible=False)
        if not call.ended:
            await call.hangup("ivr")

    async def take_message(self, call: Call, menu: str, for_user: str) -> Voicemail | None:
        """Record a message after the tone (``callport.flows.voicemail.take_message``)."""
        return await take_message(call, store=self.voicemail, for_user=for_user, menu=menu,
                                  at=self.now())


def outcome_of(action: Action) -> str:
    """The outcome string of an action: ``transfer:sip:...``, ``agent:taskmanager``,
    ``queue:support``, ``voicemail`` or ``hangup``."""
    match action:
        case TransferAction(target=target):
            return f"transfer:{target}"
        case AgentAction(ref=ref):
            return f"agent:{ref}"
        case QueueAction(queue=queue):
            return f"queue:{queue}"
        case VoicemailAction():
            return "voicemail"
    return "hangup"
