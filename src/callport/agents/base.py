"""The Agent protocol: what talks on a call (the public import path for agent authors).

callport wraps turn-based text agents with STT and TTS: the session transcribes each caller
turn, hands the agent an ``AgentInput`` and speaks every ``Say`` it yields (sentence by
sentence, so the first audio leaves early). Agents may also yield actions. When the caller
barges in, the session cancels the running ``respond`` and calls ``interrupted`` with the
part of the reply the caller actually heard (from the leg's marks).

The definitions live in ``callport.call.agent`` (the call core consumes them, and layers import
downwards only) and ``callport.types`` (``CallInfo``, ``User``); this module re-exports them, so
``from callport.agents.base import Agent, Say, UserSaid`` keeps working.
"""

from __future__ import annotations

from callport.call.agent import (
    ActionRefused,
    Agent,
    AgentFactory,
    AgentInput,
    AgentOutput,
    Enqueue,
    HangUpCall,
    HasGreeting,
    HasVocabulary,
    PauseRecording,
    Say,
    TransferCall,
    TurnInfo,
    UserPressed,
    UserSaid,
)
from callport.call.controls import Refusal, Refused
from callport.types import CallInfo, User

__all__ = [
    "ActionRefused", "Agent", "AgentFactory", "AgentInput", "AgentOutput", "CallInfo",
    "Enqueue", "HangUpCall", "HasGreeting", "HasVocabulary", "PauseRecording", "Refusal", "Refused",
    "Say", "TransferCall", "TurnInfo", "User", "UserPressed", "UserSaid",
]
