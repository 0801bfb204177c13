"""``server.ivr``: the IVR flow a server runs, built from its menu file at start.

``ivr_flow`` loads and validates the TOML menus (``ConfigError`` naming the line and the
option), resolves each option's agent (the call's own, a ``module:attribute`` factory, or an
adapter such as ``agent:twilio-ws:wss://...``) and checks every reference now rather than on
the first caller; voicemail goes to the server's database. ``server.runtime.build_runtime``
calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from callport.agents.base import AgentFactory
from callport.call.call import Flow
from callport.config import Settings

if TYPE_CHECKING:
    from callport.agents.adapters.base import Line
    from callport.store.calls import CallStore
    from callport.store.tasks import TaskLists
    from callport.store.voicemail import VoicemailStore


def ivr_flow(settings: Settings, voicemail: VoicemailStore, calls: CallStore,
              tasks: TaskLists, lines: Callable[[str], Line | None]) -> Flow:
    """``server.ivr``: the menu file, validated now (``ConfigError`` naming line and option),
    with voicemail in the server's database. An option's agent may be an adapter
    (``agent:twilio-ws:wss://...``, ``agent:openai-realtime``)."""
    from callport.agentref import parse_agent_ref
    from callport.config import ConfigError
    from callport.flows.ivr import IvrError, IvrFlow, load_ivr
    from callport.plugins import load_reference

    try:
        ivr = load_ivr(settings.server.ivr)
    except IvrError as exc:
        raise ConfigError(f"server.ivr: {exc}") from None

    def agents(ref: str) -> AgentFactory | None:
        if ref in ("default", "taskmanager"):
            return None  # the call's own agent (the Task Manager unless server.agent says)
        parsed = parse_agent_ref(ref)
        if parsed.scheme != "python":
            from callport.agents.adapters import adapter_factory

            return adapter_factory(parsed, settings=settings, tasks=tasks, calls=calls,
                                   lines=lines)
        factory: AgentFactory = load_reference(ref, setting="server.ivr agent")
        return factory

    for menu in ivr.menus.values():  # a bad agent reference is said at start too
        for option in menu.options:
            ref = getattr(option.action, "ref", "")
            if ref and ref not in ("default", "taskmanager"):
                agents(ref)
    return IvrFlow(ivr=ivr, voicemail=voicemail, agents=agents, owner=settings.identity.owner,
                   calls=calls)  # each call's decisions and outcome: an "ivr" event
