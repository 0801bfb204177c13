"""Call records and their event log: ``CallStore`` protocol, in-memory and SQLite versions.

Channels create a record when a call starts, move its ``status`` as the provider reports it
(status callbacks are the truth, not the media WebSocket) and append ``CallEvent``s for what
happened on the way (answered, transferred, DTMF, errors). A terminal status sets
``ended_at``. Times are passed in (``at``) or taken from the store's clock.

``close_unfinished`` is for start-up: a record still ringing or in progress then belongs to a
process that died (kill -9, power loss), so it is ended with an ``ended`` event naming the
cause (``crash``), not left in progress forever. One process owns a store's live calls (the
embedded SQLite file); a store shared by several live processes must not be swept this way.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from callport.store.tasks import Clock, local_now

TERMINAL = frozenset({"completed", "failed", "busy", "no-answer", "canceled", "ended"})


class CallStoreError(ValueError):
    """A call-store request is invalid (duplicate id, unknown call)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CallAttempt:
    """One carrier tried for an outbound call (``callport.routing``)."""

    carrier: str
    outcome: str  # answered, placed, failed
    cause: str = ""  # the carrier's failure ("sip 503 Service Unavailable", "http 500")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    call_id: str
    channel: str
    direction: str = "inbound"  # inbound, outbound
    caller: str = ""
    callee: str = ""
    provider_call_id: str = ""
    status: str = "ringing"
    started_at: datetime
    ended_at: datetime | None = None
    user: str = ""  # the identified user's name (empty: not identified)
    answered_at: datetime | None = None
    # answered, busy, no-answer, declined, invalid-number, unavailable, canceled, failed,
    # refused (by routing's rules); empty: see ``outcome``
    disposition: str = ""
    hangup_cause: str = ""  # why it ended (the session's hang-up reason, a provider's)
    carrier: str = ""  # twilio, telnyx, sip, a trunk's name
    attempts: tuple[CallAttempt, ...] = ()
    billable_s: int = 0
    cost: Decimal | None = None  # None: no rate known
    currency: str = ""
    amd: str = ""  # answering-machine detection: human, machine, unknown; empty: not run

    @property
    def duration_s(self) -> float:
        """Seconds from the answer to the end (0 when unanswered or still running)."""
        if self.answered_at is None or self.ended_at is None:
            return 0.0
        return max((self.ended_at - self.answered_at).total_seconds(), 0.0)

    @property
    def outcome(self) -> str:
        """``disposition``, else what the status says (answered, in-progress, busy, ...)."""
        if self.disposition:
            return self.disposition
        if self.status in ("completed", "ended"):
            return "answered" if self.answered_at is not None else self.status
        return self.status


@dataclass(frozen=True, slots=True)
class CallEvent:
    call_id: str
    at: datetime
    kind: str
    detail: str = ""


class CallStore(Protocol):
    async def create(self, record: CallRecord) -> CallRecord: ...

    async def update_status(
        self, call_id: str, status: str, *, at: datetime | None = None
    ) -> CallRecord | None: ...

    async def set_provider_id(self, call_id: str, provider_call_id: str) -> CallRecord | None: ...

    async def add_event(
        self, call_id: str, kind: str, detail: str = "", *, at: datetime | None = None
    ) -> CallEvent: ...

    async def events(self, call_id: str) -> list[CallEvent]: ...

    async def get(self, call_id: str) -> CallRecord | None: ...

    async def by_provider_id(self, provider_call_id: str) -> CallRecord | None: ...

    async def list_recent(self, limit: int = 50) -> list[CallRecord]: ...

    async def amend(
        self,
        call_id: str,
        *,
        user: str | None = None,
        answered_at: datetime | None = None,
        disposition: str | None = None,
        hangup_cause: str | None = None,
        carrier: str | None = None,
        attempts: tuple[CallAttempt, ...] | None = None,
        billable_s: int | None = None,
        cost: Decimal | None = None,
        currency: str | None = None,
        amd: str | None = None,
    ) -> CallRecord | None:
        """Set the given details (None: keep); None when the call is unknown."""
        ...

    async def list_calls(
        self, *, since: datetime | None = None, user: str | None = None, limit: int = 100
    ) -> list[CallRecord]:
        """Newest first; ``since``: started at or after; ``user``: that user's calls only."""
        ...

    async def close_unfinished(self, cause: str, *, at: datetime | None = None,
                               started_before: datetime | None = None,
                               keep: Collection[str] = ()) -> int:
        """End every record not in a ``TERMINAL`` status (status ``ended``, ``ended_at`` =
        ``at``, ``hangup_cause`` = ``cause`` unless one was recorded) and add an ``ended``
        event with ``cause`` as its detail; returns how many. ``started_before``: only those
        that started before then; ``keep``: call ids left alone (calls still live)."""
        ...


def _amended(record: CallRecord, **changes: object) -> CallRecord:
    return replace(record, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


def _matches(record: CallRecord, since: datetime | None, user: str | None) -> bool:
    if user is not None and record.user != user:
        return False
    return since is None or _after(record.started_at, since)


def _after(at: datetime, since: datetime) -> bool:
    if (at.tzinfo is None) != (since.tzinfo is None):  # compare naive local with aware
        at, since = at.astimezone(), since.astimezone()
    return at >= since


def _with_status(record: CallRecord, status: str, at: datetime) -> CallRecord:
    ended = record.ended_at
    if status in TERMINAL and ended is None:
        ended = at
    return replace(record, status=status, ended_at=ended)


class MemoryCallStore:
    def __init__(self, *, clock: Clock = local_now) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._events: dict[str, list[CallEvent]] = {}
        self._clock = clock

    async def create(self, record: CallRecord) -> CallRecord:
        if record.call_id in self._calls:
            raise CallStoreError(f"call {record.call_id!r} already exists")
        self._calls[record.call_id] = record
        self._events[record.call_id] = []
        return record

    async def update_status(
        self, call_id: str, status: str, *, at: datetime | None = None
    ) -> CallRecord | None:
        record = self._calls.get(call_id)
        if record is None:
            return None
        record = _with_status(record, status, at or self._clock())
        self._calls[call_id] = record
        return record

    async def set_provider_id(self, call_id: str, provider_call_id: str) -> CallRecord | None:
        record = self._calls.get(call_id)
        if record is None:
            return None
        record = replace(record, provider_call_id=provider_call_id)
        self._calls[call_id] = record
        return record

    async def add_event(
        self, call_id: str, kind: str, detail: str = "", *, at: datetime | None = None
    ) -> CallEvent:
        if call_id not in self._calls:
            raise CallStoreError(f"no call {call_id!r}")
        event = CallEvent(call_id, at or self._clock(), kind, detail)
        self._events[call_id].append(event)
        return event

    async def events(self, call_id: str) -> list[CallEvent]:
        return list(self._events.get(call_id, []))

    async def get(self, call_id: str) -> CallRecord | None:
        return self._calls.get(call_id)

    async def by_provider_id(self, provider_call_id: str) -> CallRecord | None:
        if not provider_call_id:
            return None
        for record in self._calls.values():
            if record.provider_call_id == provider_call_id:
                return record
        return None

    async def list_recent(self, limit: int = 50) -> list[CallRecord]:
        ordered = sorted(self._calls.values(), key=lambda r: r.started_at, reverse=True)
        return ordered[: max(limit, 0)]

    async def amend(self, call_id: str, **changes: Any) -> CallRecord | None:
        record = self._calls.get(call_id)
        if record is None:
            return None
        record = self._calls[call_id] = _amended(record, **changes)
        return record

    async def list_calls(
        self, *, since: datetime | None = None, user: str | None = None, limit: int = 100
    ) -> list[CallRecord]:
        found = [r for r in self._calls.values() if _matches(r, since, user)]
        return sorted(found, key=lambda r: r.started_at, reverse=True)[: max(limit, 0)]

    async def close_unfinished(self, cause: str, *, at: datetime | None = None,
                               started_before: datetime | None = None,
                               keep: Collection[str] = ()) -> int:
        when = at or self._clock()
        open_ids = [r.call_id for r in self._calls.values()
                    if r.status not in TERMINAL and r.call_id not in keep
                    and (started_before is None or not _after(r.started_at, started_before))]
        for call_id in open_ids:
            record = _with_status(self._calls[call_id], "ended", when)
            self._calls[call_id] = replace(record, hangup_cause=record.hangup_cause or cause)
            self._events[call_id].append(CallEvent(call_id, when, "ended", cause))
        return len(open_ids)


# -- SQLite ----------------------------------------------------------------------------------
