"""MarkBook: the mark / clear / close rules every Leg shares, as one pure object.

A leg places a mark after the audio it has sent so far and is told, later, whether that audio
was played. Whatever carries the audio (a provider's remote buffer, a page's player, an RTP
socket with no buffer at all), the rules are the same, and they live here once:

- marks are pending in the order they were placed; a far end that reports a mark played has
  played everything before it, so every earlier pending mark is answered ``played=True`` first;
- ``clear()`` answers every pending mark ``played=False`` at once (the audio was dropped), and a
  late echo of a cleared mark is ignored; ``drop(tokens)`` does it for some marks only (a far
  end that confirms a clear names what it dropped; marks placed since stay pending);
- ``close()`` answers every pending mark ``played=False``; a mark placed after close is answered
  ``played=False`` at once (the leg's inbox delivers it only if its ``HungUp`` has not been taken
  yet: nothing follows ``HungUp``);
- every mark goes to the wire under a unique token (``m1``, ``m2``, ...), so two marks with the
  same name never answer each other.

Answers queue up in the book until ``take()``; ``callport.call.inbox.EventInbox`` holds one book
per leg and moves its answers into the event stream, so every leg composes it. No I/O.
"""

from __future__ import annotations

from collections import OrderedDict

from callport.call.events import Marked

__all__ = ["MarkBook"]


class MarkBook:
    """Pending marks of one leg, in order, and the answers they produced."""

    def __init__(self, *, prefix: str = "m") -> None:
        self._prefix = prefix
        self._serial = 0
        self._pending: OrderedDict[str, str] = OrderedDict()  # wire token -> name
        self._answers: list[Marked] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> tuple[str, ...]:
        """Names of the marks not yet answered, oldest first."""
        return tuple(self._pending.values())

    def place(self, name: str) -> str | None:
        """Record a mark; returns the token to send, or None when closed (answered unplayed)."""
        if self._closed:
            self._answers.append(Marked(name, played=False))
            return None
        self._serial += 1
        token = f"{self._prefix}{self._serial}"
        self._pending[token] = name
        return token

    def played(self, token: str) -> bool:
        """The far end played up to ``token``: answer it and every mark before it, played.

        Returns False for a token that is not pending (cleared, already answered, unknown).
        """
        if token not in self._pending:
            return False
        while self._pending:
            wire, name = self._pending.popitem(last=False)
            self._answers.append(Marked(name, played=True))
            if wire == token:
                break
        return True

    def clear(self) -> tuple[str, ...]:
        """Audio dropped: answer every pending mark ``played=False``; returns their tokens."""
        tokens = tuple(self._pending)
        self._answers.extend(Marked(name, played=False) for name in self._pending.values())
        self._pending.clear()
        return tokens

    def drop(self, tokens: tuple[str, ...]) -> None:
        """These marks' audio was dropped: each one still pending is answered ``played=False``
        (in placing order); the others stay pending."""
        for token in [t for t in self._pending if t in set(tokens)]:
            self._answers.append(Marked(self._pending.pop(token), played=False))

    def close(self) -> None:
        """The leg ended: pending marks are answered unplayed, later ones at once."""
        self.clear()
        self._closed = True

    def take(self) -> list[Marked]:
        """The answers produced since the last ``take``, in order."""
        answers, self._answers = self._answers, []
        return answers
