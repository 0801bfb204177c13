"""Logging set-up: every record carries the call id of the task that logged it.

Privacy rules (every handler applies them, uvicorn's access log included):

- secrets never reach a log line: ``token=``/``password=``/``pin=`` values in URLs and
  messages, ``Bearer`` credentials and ``cp_...`` tokens are replaced by ``[redacted]``;
- what the caller said is logged at DEBUG only (``log_caller_words``); call events
  (started, the agent's replies, transfers, ended) are INFO, one line each with the call id.

Peer-supplied values (SIP Call-IDs, URIs, header values, WebSocket fields) go through
``safe(value)`` before they reach a log line: control characters escaped, length capped, so
a NUL or a 30,000-character Call-ID cannot forge or flood the log. ``LogBudget`` bounds how
many lines one kind of junk may cost (the rest is counted, and summed up on the next line).

``server.log_format = "json"`` writes one JSON object per line (time, level, logger,
call_id, message).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re

current_call_id: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="-")

REDACTED = "[redacted]"
_SECRETS = (
    re.compile(r"(?i)\b((?:token|access_token|password|secret|pin|auth)=)[^&\s\"']+"),
    re.compile(r"(?i)(\bbearer\s+)[^\s\"']+"),
    re.compile(r"()\bcp_[A-Za-z0-9]+_[A-Za-z0-9_\-]+"),
)


def redact(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``[redacted]``."""
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


SAFE_LIMIT = 120


def safe(value: object, limit: int = SAFE_LIMIT) -> str:
    """``value`` fit for a log line: non-printable characters as ``\\xNN`` / ``\\uNNNN``,
    at most ``limit`` characters of it (then ``...(+N chars)``)."""
    text = str(value)
    extra = len(text) - limit
    if extra > 0:
        text = text[:limit]
    if not text.isprintable():
        text = "".join(c if c.isprintable() else
                       (f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}")
                       for c in text)
    return f"{text}...(+{extra} chars)" if extra > 0 else text


class LogBudget:
    """At most ``burst`` lines at once and ``per_s`` a second after that (token bucket over
    the ``now`` given); ``allow`` says whether to log this one, ``take_suppressed`` how many
    were skipped since the last line that was logged."""

    def __init__(self, *, per_s: float = 1.0, burst: int = 10) -> None:
        self.per_s = per_s
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at: float | None = None
        self.suppressed = 0
        self.total_suppressed = 0

    def allow(self, now: float) -> bool:
        if self._at is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_s)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.suppressed += 1
        self.total_suppressed += 1
        return False

    def take_suppressed(self) -> int:
        n, self.suppressed = self.suppressed, 0
        return n


class CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.call_id = current_call_id.get()
        return True


class RedactFilter(logging.Filter):
    """Render the message once, redacted (uvicorn's access log passes the URL as an arg)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the formatter to report
            return True
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "call_id": getattr(record, "call_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s call=%(call_id)s %(name)s: %(message)s"


def make_handler(log_format: str = "text") -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(CallIdFilter())
    handler.addFilter(RedactFilter())
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    return handler


def setup_logging(level: str = "info", log_format: str = "text") -> None:
    root = logging.getLogger()
    root.handlers[:] = [make_handler(log_format)]
    root.setLevel(level.upper())
    # uvicorn's own loggers go through the root handler (redacted, same format).
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True


def log_config() -> dict[str, object]:
    """uvicorn's ``log_config``: keep the handlers ``setup_logging`` installed."""
    return {"version": 1, "disable_existing_loggers": False}
