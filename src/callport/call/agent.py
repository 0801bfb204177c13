"""The Agent protocol: what talks on a call, as the call core consumes it.

callport wraps turn-based text agents with STT and TTS: the session transcribes each caller
turn, hands the agent an ``AgentInput`` and speaks every ``Say`` it yields (sentence by
sentence, so the first audio leaves early). Agents may also yield actions. When the caller
barges in, the session cancels the running ``respond`` and calls ``interrupted`` with the
part of the reply the caller actually heard (from the leg's marks).

The protocol lives in the call layer because the call core is what consumes it; agents (one
layer up) implement it. The public import path for agent authors is ``callport.agents.base``,
which re-exports everything here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from callport.call.controls import Refused
from callport.call.transfers import TransferResult
from callport.types import CallInfo

if TYPE_CHECKING:
    from callport.call.call import Call

__all__ = [
    "ActionRefused", "Agent", "AgentFactory", "AgentInput", "AgentOutput", "AudioAgent", "Enqueue",
    "HangUpCall", "HasGreeting", "HasVocabulary", "Say", "TransferCall", "TurnInfo", "UserPressed",
    "UserSaid",
]


@dataclass(frozen=True, slots=True)
class AgentInput:
    """Base of what the session hands an agent."""


@dataclass(frozen=True, slots=True)
class UserSaid(AgentInput):
    text: str


@dataclass(frozen=True, slots=True)
class UserPressed(AgentInput):
    digits: str


@dataclass(frozen=True, slots=True)
class AgentOutput:
    """Base of what an agent yields."""


@dataclass(frozen=True, slots=True)
class ActionRefused(AgentInput):
    """An action the agent yielded could not be carried out on this call (a ``TransferCall``
    on a browser call, a carrier that said no). The caller has already heard an apology; the
    call goes on, and whatever the agent yields now is said next. ``refused.refusal`` says
    why (``callport.call.controls.Refusal``), ``refused.detail`` says more."""

    action: AgentOutput
    refused: Refused
    transfer: TransferResult | None = None  # for a TransferCall: how it ended (busy, declined)


@dataclass(frozen=True, slots=True)
class Say(AgentOutput):
    text: str


@dataclass(frozen=True, slots=True)
class HangUpCall(AgentOutput):
    reason: str = "agent"


@dataclass(frozen=True, slots=True)
class TransferCall(AgentOutput):
    """Hand the caller to ``target`` (``tel:+1...``, ``sip:...``). ``warm``: the caller waits
    on hold music while the person hears who is calling and why, and accepts or declines
    (``callport.flows.transfer``); a transfer that does not go through leaves the caller with
    the agent, which gets ``ActionRefused`` with ``transfer`` set."""

    target: str
    warm: bool = False


@dataclass(frozen=True, slots=True)
class Enqueue(AgentOutput):
    """Put the caller in ``queue`` (``[queues.NAME]``) to wait for a person, with hold music.
    When a person answered, or the caller left the queue some other way (a message, a call
    back), the call is over for the agent; when the wait ran out or the queue is unavailable
    the agent gets ``ActionRefused`` and the call goes on with it."""

    queue: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class PauseRecording(AgentOutput):
    """Pause (``paused=True``) or resume the call's recording now, e.g. before asking for a
    card number; nothing happens when the call is not recorded."""

    paused: bool = True


@dataclass(frozen=True, slots=True)
class TurnInfo(AgentOutput):
    """What the agent understood (intent, score, slots), for logs, ``callport talk`` and tests."""

    intent: str | None
    score: float = 0.0
    slots: Mapping[str, str] = field(default_factory=dict)


class Agent(Protocol):
    def respond(self, event: AgentInput) -> AsyncIterator[AgentOutput]: ...

    def interrupted(self, heard: str) -> None: ...


@runtime_checkable
class HasVocabulary(Protocol):
    """An agent that knows what the caller is likely to say next (optional).

    The call asks before each caller turn and hands the phrases to STT as hints, so a
    small model hears "buy milk" rather than "by Mocha" when the caller has that task.
    """

    async def vocabulary(self) -> Sequence[str]: ...


@runtime_checkable
class HasGreeting(Protocol):
    """An agent with its own first words (optional); the default flow says them.

    A greeting must say plainly that the caller is talking to an automated assistant.
    """

    @property
    def greeting(self) -> str: ...


@runtime_checkable
class AudioAgent(Protocol):
    """An audio-native agent (optional): it hears the caller and speaks itself (a bot over a
    media-stream WebSocket, a speech-to-speech model).

    ``Call.connect`` hands it the call instead of running turns: callport's STT, TTS and turn
    detection stay out, the agent's audio goes to the caller through the call's pacer (marks,
    taps and recording see both directions), and it returns when the call is over for it.
    Raising ends the conversation like a failing ``respond``: an apology and the fallback.
    """

    async def converse(self, call: Call) -> None: ...


AgentFactory = Callable[[CallInfo], Agent]
