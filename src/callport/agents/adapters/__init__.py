"""Adapters: agents that live elsewhere, behind callport's Agent protocol.

``adapter_factory(ref, ...)`` gives the ``AgentFactory`` for an adapter reference
(``callport.agentref``): ``relay:wss://...`` (a ConversationRelay app, ``relay``) or
``llm:http://host/v1`` (an OpenAI-compatible chat endpoint with the Task Manager's tools,
``llm``); ``twilio-ws:wss://...`` / ``telnyx-ws:wss://...`` (a bot speaking Media Streams,
``twilio_ws``: audio both ways, no STT/TTS of ours); ``openai-realtime`` (OpenAI's Realtime
API, speech to speech, the Task Manager as tools: ``openai_realtime``), ``gemini-live``
(Google's Live API, the same, resuming across connections: ``gemini_live``). Those in
``agentref.NOT_YET`` are refused with a clear ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from callport.agentref import AgentRef
from callport.agents.adapters.base import AdapterOptions, AgentLog, AgentUnavailable, Line
from callport.config import ConfigError, Settings
from callport.types import CallInfo

if TYPE_CHECKING:
    from callport.call.agent import Agent
    from callport.store.calls import CallStore
    from callport.store.tasks import TaskLists

__all__ = ["AdapterOptions", "AgentUnavailable", "Line", "adapter_factory"]

LineLookup = Callable[[str], "Line | None"]


def adapter_factory(
    ref: AgentRef, *, settings: Settings, tasks: TaskLists, calls: CallStore | None = None,
    lines: LineLookup | None = None,
) -> Callable[[CallInfo], Agent]:
    """The factory for ``ref`` (an adapter, not a Python reference). ``lines`` finds the live
    call a new agent talks on (by call id), for DTMF, audio, heard time and the end of call."""
    if not ref.available:
        raise ConfigError(
            f"server.agent={ref}: the {ref.scheme} adapter is not available yet in this version "
            "of callport; use relay:wss://... (a ConversationRelay app), llm:http://host/v1 or "
            "package.module:attribute"
        )
    options = AdapterOptions.from_settings(settings.agent)

    def agent_log(info: CallInfo) -> AgentLog:
        return AgentLog(name=str(ref), call_id=info.call_id, calls=calls)

    def line_of(info: CallInfo) -> Line | None:
        return lines(info.call_id) if lines is not None else None

    if ref.scheme == "relay":
        from callport.agents.adapters.relay import RelayAgent

        def make_relay(info: CallInfo) -> Agent:
            return RelayAgent(url=ref.target, info=info, options=options, line=line_of(info),
                              agent_log=agent_log(info))

        return make_relay
    if ref.scheme == "llm":
        from callport.agents.adapters.llm import LlmAgent, store_for

        def make_llm(info: CallInfo) -> Agent:
            return LlmAgent(base_url=ref.target, info=info, options=options,
                            store=store_for(info, tasks), agent_log=agent_log(info),
                            line=line_of(info))

        return make_llm
    if ref.scheme in ("twilio-ws", "telnyx-ws"):
        from callport.agents.adapters.twilio_ws import MediaBotAgent

        dialect: Literal["twilio", "telnyx"] = "twilio" if ref.scheme == "twilio-ws" else "telnyx"

        def make_bot(info: CallInfo) -> Agent:
            return MediaBotAgent(url=ref.target, dialect=dialect, info=info, options=options,
                                 agent_log=agent_log(info))

        return make_bot
    if ref.scheme == "openai-realtime":
        from callport.agents.adapters.llm import store_for
        from callport.agents.adapters.openai_realtime import RealtimeAgent

        def make_realtime(info: CallInfo) -> Agent:
            return RealtimeAgent(info=info, options=options, store=store_for(info, tasks),
                                 agent_log=agent_log(info))

        return make_realtime
    if ref.scheme == "gemini-live":
        from callport.agents.adapters.gemini_live import GeminiAgent
        from callport.agents.adapters.llm import store_for

        def make_gemini(info: CallInfo) -> Agent:
            return GeminiAgent(info=info, options=options, store=store_for(info, tasks),
                               agent_log=agent_log(info))

        return make_gemini
    raise ConfigError(f"server.agent={ref}: no such adapter")  # pragma: no cover - agentref
