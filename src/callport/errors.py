"""Ground-floor errors every layer may raise or catch.

Nothing here imports anything of callport's. An error lives here when more than one layer
must know it: ``MissingSpeechDependency`` is raised by speech engines and VAD models alike and
caught by the CLI and ``doctor``.
"""

from __future__ import annotations

__all__ = ["AgentFailed", "MissingSpeechDependency"]


class MissingSpeechDependency(RuntimeError):
    """A speech engine's package or model is not installed; the message names what to install."""


class AgentFailed(RuntimeError):
    """The agent (or the flow) raised mid-call. Raised by ``Call`` out of the conversation so
    the runtime can apologise and apply ``server.fallback``; the message is ``Type: text``."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause
