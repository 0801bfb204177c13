"""Logging set-up: every record carries the call id of the task that logged it."""

from __future__ import annotations

import contextvars
import logging

current_call_id: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="-")


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = current_call_id.get()
        return True


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(CallIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s call=%(call_id)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
