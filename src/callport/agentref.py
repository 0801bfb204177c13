"""What ``--agent`` / ``server.agent`` names: the user's own factory, or an adapter by scheme.

Pure parsing, no I/O, so config validates it once at start and the server picks the adapter:

- ``mybot.agent:make_agent``: a Python callable (``callport.plugins.load_reference``);
- ``relay:wss://app/ws``: a ConversationRelay-compatible app (Twilio's and Telnyx's text
  protocol; callport does the VAD, STT, TTS, turns and barge-in);
- ``llm:http://host/v1``: any OpenAI-compatible chat endpoint (streaming, tool calls);
- ``twilio-ws:wss://bot/ws``, ``telnyx-ws:wss://bot/ws``: a bot that speaks Twilio Media
  Streams or Telnyx media streaming (a Pipecat bot with its Twilio or Telnyx serializer);
- ``openai-realtime``, ``gemini-live``: speech-to-speech models (settings in ``[agent]``);
  those in ``NOT_YET`` are recognised but refused with a clear ``ConfigError``.

An empty reference means the built-in Task Manager.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ADAPTERS", "NOT_YET", "AgentRef", "AgentRefError", "parse_agent_ref"]

# scheme -> the URL schemes its target may use (empty: the scheme takes no target)
ADAPTERS: dict[str, tuple[str, ...]] = {
    "relay": ("ws", "wss"),
    "llm": ("http", "https"),
    "twilio-ws": ("ws", "wss"),
    "telnyx-ws": ("ws", "wss"),
    "openai-realtime": (),
    "gemini-live": (),
}
NOT_YET: frozenset[str] = frozenset()


class AgentRefError(ValueError):
    """The reference names nothing callport can load; the message says what to write."""


@dataclass(frozen=True, slots=True)
class AgentRef:
    """``scheme`` is ``"python"`` for ``module:attribute`` (``target`` the reference itself),
    else an adapter name with its URL (or ``""`` for adapters that take none)."""

    scheme: str
    target: str

    @property
    def available(self) -> bool:
        return self.scheme not in NOT_YET

    def __str__(self) -> str:
        if self.scheme == "python":
            return self.target
        return f"{self.scheme}:{self.target}" if self.target else self.scheme


def _python_ref(ref: str) -> bool:
    module, sep, attr = ref.partition(":")
    parts = [*module.split("."), *attr.split(".")]
    return bool(sep) and all(p.isidentifier() for p in parts)


def parse_agent_ref(ref: str) -> AgentRef:
    """Classify ``ref``; ``AgentRefError`` when it is neither an adapter nor a Python reference."""
    ref = ref.strip()
    scheme, sep, target = ref.partition(":")
    if scheme in ADAPTERS:
        allowed = ADAPTERS[scheme]
        if not allowed:
            if target:
                raise AgentRefError(f"{ref!r}: {scheme} takes no URL (configure it in [agent])")
            return AgentRef(scheme, "")
        url_scheme = target.partition("://")[0].lower()
        if not sep or url_scheme not in allowed or not target.partition("://")[2]:
            example = f"{scheme}:{allowed[-1]}://host/path"
            raise AgentRefError(f"{ref!r}: expected {example} ({' or '.join(allowed)} URL)")
        return AgentRef(scheme, target)
    if _python_ref(ref):
        return AgentRef("python", ref)
    names = ", ".join(f"{s}:URL" if ADAPTERS[s] else s for s in ADAPTERS)
    raise AgentRefError(
        f"{ref!r}: expected 'package.module:attribute' (e.g. 'mybot.agent:make_agent') or an "
        f"adapter: {names}"
    )
