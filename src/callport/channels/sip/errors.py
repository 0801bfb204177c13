"""The SIP error the peer causes: garbage in, with the status a UAS should answer."""

from __future__ import annotations


class SipParseError(ValueError):
    """The peer sent garbage. ``status`` is the response a UAS should send (if it can)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
