"""Admission by capacity as channels see it: ask the runner, refuse before answering.

The server's runtime decides (``callport.server.capacity``: ``server.max_conversations``
and the speech backlog); a channel only asks :func:`refusal_of` before it answers a new
call and, when refused, turns the caller away in its own terms: SIP ``503`` with
``Retry-After``, Twilio ``<Reject reason="busy">``, Telnyx hangs the ringing call up, the
browser answers ``503`` so the page shows "all lines are busy". A runner without the
method (tests, benches) admits every call.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Refusal", "refusal_of"]


class Refusal(Protocol):
    """Why a new call is refused, and when to try again."""

    @property
    def reason(self) -> str: ...

    @property
    def retry_after_s(self) -> int: ...


def refusal_of(runner: object) -> Refusal | None:
    """The runner's refusal of one more call now, or None when it fits."""
    ask = getattr(runner, "refusal", None)
    if not callable(ask):
        return None
    verdict = ask()
    return verdict if verdict is not None else None
