"""The outbound half of the PSTN channel template (``callport.channels.pstn``): the neutral
``Dialer`` over a provider's REST ``CallControl``, shared by Twilio, Telnyx and any next one.

A provider supplies one function, ``Prepare``: given the target, caller id and options it
builds the call record (our call id, a stream token bound to it) and the provider's
``DialRequest`` (raising ``NotConfigured`` when its settings cannot place calls).
``PstnDialer`` does the rest the same way for every provider:

1. the REST create; a refusal becomes ``DialFailed`` with the HTTP status and the provider's
   error code (401/403 auth, 5xx carrier error, 400/422 bad target, unreachable);
2. ``until="placed"``: ``Placed`` at once (the HTTP endpoints answer 201 then);
3. else it waits for the provider's verdict, which the channel feeds in with ``observe``
   (every verified callback after ``CallRecords.apply``) and ``admitted`` (the call's media
   stream was admitted): answered / in-progress / stream admitted -> ``Answered`` (the
   channel's media route runs the flow through the runtime); an ending -> ``DialFailed``
   with the cause (busy, no-answer, rejected, ...) and the SIP status the provider reports;
   nothing within ``timeout_s`` (+ a grace for the API) -> the call is hung up and the
   result is ``NO_ANSWER`` (it rang) or ``TIMEOUT`` (the carrier never said a thing).

``PstnDialer`` also serves processes that receive no callbacks (``callport call`` beside a
running server): with ``poll`` (Twilio's call fetch) it asks the API for the status, without
it the result is ``Placed``.

``calls_endpoint`` is the shared JSON handler of ``POST /twilio/calls`` and
``POST /api/calls``: the admin bearer check of ``callport.channels.api_auth`` first, then
``{"to", "from"?, "via"?}`` through a Dialer with ``until="placed"``: 201 ``{call_id,
provider_call_id, carrier}``, 400 bad body, target or carrier choice, 502 the carrier
refused, 503 not configured or not running here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callport import safejson
from callport.call.dial import (
    Answered,
    DialCause,
    Dialer,
    DialFailed,
    DialOptions,
    DialResult,
    Placed,
    cause_of_ending,
    cause_of_http,
    cause_of_sip,
)
from callport.channels.api_auth import check_admin_bearer
from callport.channels.callbook import ProviderCall
from callport.channels.callrecords import CallRecords
from callport.channels.provider import (
    CallAnswered,
    CallControl,
    CallEnded,
    CallEvent,
    CallRinging,
    DialRequest,
    ProviderError,
)
from callport.store.users import TokenStore

__all__ = ["NotConfigured", "Prepare", "PstnDialer", "calls_endpoint", "failure_of"]

log = logging.getLogger(__name__)

# Provider words for an unanswered ending that the shared vocabulary folds into "failed".
_REJECTED = frozenset({"call_rejected", "rejected", "declined"})
API_GRACE_S = 10.0  # beyond the ring time: the provider's own no-answer report may lag
POLL_S = 1.0


class NotConfigured(ProviderError):
    """This process's settings cannot place calls with this provider (nothing was sent)."""


Prepare = Callable[[str, str, DialOptions, float], tuple[ProviderCall, DialRequest]]
Poll = Callable[[str], Awaitable[str]]  # provider call id -> its status word


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[DialResult]
    call: ProviderCall
    rang: bool = False
    seen: set[str] = field(default_factory=set)


def failure_of(exc: ProviderError, *, carrier: str, call_id: str = "") -> DialFailed:
    """A REST refusal as a typed failure (the HTTP status and the provider's code kept)."""
    cause = DialCause.NOT_CONFIGURED if isinstance(exc, NotConfigured) else cause_of_http(
        exc.status)
    return DialFailed(carrier=carrier, cause=cause, detail=str(exc), http_status=exc.status,
                      provider_code=exc.code, call_id=call_id)


def ending_failure(event: CallEnded, *, carrier: str, call_id: str, rang: bool) -> DialFailed:
    """A call that ended before it was answered, as a typed failure."""
    if event.sip_status:
        cause = cause_of_sip(event.sip_status)
    elif event.cause in _REJECTED:
        cause = DialCause.REJECTED
    else:
        cause = cause_of_ending(event.reason)
    return DialFailed(carrier=carrier, cause=cause, detail=f"ended: {event.reason}",
                      sip_status=event.sip_status, provider_code=event.cause,
                      early_media=rang, call_id=call_id)


class PstnDialer:
    """``Dialer`` over one provider's REST call control (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str,
        control: Callable[[], CallControl | None],
        prepare: Prepare,
        clock: Callable[[], float],
        records: CallRecords | None = None,
        poll: Poll | None = None,
        no_control: str = "",
    ) -> None:
        self._name = name
        self._no_control = no_control or f"{name}: no API credentials configured"
        self._control = control
        self._prepare = prepare
        self._clock = clock
        self._records = records
        self._poll = poll
        self._pending: dict[str, _Pending] = {}

    @property
    def name(self) -> str:
        return self._name

    async def dial(
        self, target: str, caller_id: str = "", options: DialOptions | None = None
    ) -> DialResult:
        opts = options or DialOptions()
        control = self._control()
        try:
            if control is None:
                raise NotConfigured(self._no_control)
            call, request = self._prepare(target, caller_id, opts, self._clock())
        except ValueError as exc:
            return DialFailed(carrier=self._name, cause=DialCause.BAD_TARGET, detail=str(exc))
        except ProviderError as exc:
            return failure_of(exc, carrier=self._name)
        try:
            call.provider_call_id = await control.dial(request)
        except ProviderError as exc:
            log.warning("%s: dialling %s refused: %s", self._name, request.to, exc)
            return failure_of(exc, carrier=self._name, call_id=call.call_id)
        if self._records is not None:
            call = await self._records.enter(call)
        placed = Placed(carrier=self._name, call_id=call.call_id,
                        provider_call_id=call.provider_call_id)
        if opts.until == "placed" or (self._records is None and self._poll is None):
            return placed
        pending = _Pending(asyncio.get_running_loop().create_future(), call)
        self._pending[call.call_id] = pending
        try:
            return await asyncio.wait_for(self._outcome(pending), opts.timeout_s + API_GRACE_S)
        except TimeoutError:
            try:
                await control.hangup(call.provider_call_id)
            except ProviderError as exc:
                log.warning("%s: hang-up of unanswered %s: %s", self._name, call.call_id, exc)
            if self._records is not None:
                await self._records.ended(call, reason="no-answer")
            cause = DialCause.NO_ANSWER if pending.rang else DialCause.TIMEOUT
            return DialFailed(carrier=self._name, cause=cause, call_id=call.call_id,
                              detail=f"no verdict within {opts.timeout_s:g} s",
                              early_media=pending.rang)
        finally:
            self._pending.pop(call.call_id, None)

    async def _outcome(self, pending: _Pending) -> DialResult:
        if self._poll is None:
            return await pending.future
        while not pending.future.done():  # no callbacks reach this process: ask the API
            try:
                status = await self._poll(pending.call.provider_call_id)
            except ProviderError as exc:
                pending.future.set_result(failure_of(exc, carrier=self._name,
                                                     call_id=pending.call.call_id))
                break
            event: CallEvent | None = None
            if status in ("ringing",):
                event = CallRinging(provider_call_id=pending.call.provider_call_id)
            elif status == "in-progress":
                event = CallAnswered(provider_call_id=pending.call.provider_call_id)
            elif status in ("busy", "no-answer", "failed", "canceled", "completed"):
                event = CallEnded(provider_call_id=pending.call.provider_call_id, reason=status,
                                  cause=status)
            if event is not None:
                self._resolve(pending, event)
            if not pending.future.done():
                await asyncio.sleep(POLL_S)
        return pending.future.result()

    # ---- what the channel feeds in ------------------------------------------------------

    def observe(self, event: CallEvent, call: ProviderCall | None) -> None:
        """A verified callback about ``call`` (after ``CallRecords.apply``)."""
        pending = self._pending.get(call.call_id) if call is not None else None
        if pending is not None:
            self._resolve(pending, event)

    def admitted(self, call_id: str) -> None:
        """The call's media stream was admitted: it is answered and its flow runs."""
        pending = self._pending.get(call_id)
        if pending is not None:
            self._resolve(pending, CallAnswered(provider_call_id=pending.call.provider_call_id))

    def _resolve(self, pending: _Pending, event: CallEvent) -> None:
        if pending.future.done():
            return
        call = pending.call
        match event:
            case CallRinging():
                pending.rang = True
            case CallAnswered() | CallEnded(reason="completed"):  # completed: it connected
                pending.future.set_result(Answered(
                    carrier=self._name, call_id=call.call_id,
                    provider_call_id=call.provider_call_id))
            case CallEnded():
                pending.future.set_result(ending_failure(
                    event, carrier=self._name, call_id=call.call_id, rang=pending.rang))
            case _:
                pass


def _status_of(result: DialFailed) -> int:
    if result.cause is DialCause.NOT_CONFIGURED:
        return 503
    return 400 if result.cause is DialCause.BAD_TARGET and not result.http_status else 502


async def calls_endpoint(
    request: Request,
    *,
    dialers: Mapping[str, Dialer],
    choose: Callable[[str, str], str],
    tokens: TokenStore | None,
    static_token: str,
    now: float,
) -> Response:
    """``POST {"to", "from"?, "via"?}``: place a call (see the module docstring).
    ``choose(to, via)`` names the carrier (``ValueError`` with the reason: 400)."""
    verdict = await check_admin_bearer(request.headers.get("authorization", ""),
                                       tokens=tokens, static_token=static_token, now=now)
    if not verdict.allowed:
        log.warning("%s refused (%d): %s", request.url.path, verdict.status, verdict.reason)
        headers = {"WWW-Authenticate": "Bearer"} if verdict.status == 401 else None
        return JSONResponse({"error": verdict.reason}, status_code=verdict.status,
                            headers=headers)
    try:
        body = safejson.loads(await request.body())
    except ValueError:
        return JSONResponse({"error": "body must be JSON"}, status_code=400)
    fields = body if isinstance(body, dict) else {}
    to, from_, via = fields.get("to"), fields.get("from", ""), fields.get("via", "")
    if not isinstance(to, str) or not to or not isinstance(from_, str) or not isinstance(via, str):
        return JSONResponse({"error": 'need {"to": "+1...", "from"?: "+1...", "via"?: ...}'},
                            status_code=400)
    try:
        carrier = choose(to, via)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    dialer = dialers.get(carrier)
    if dialer is None:
        return JSONResponse({"error": f"{carrier}: its channel is not running here"},
                            status_code=503)
    result = await dialer.dial(to, from_, DialOptions(until="placed"))
    match result:
        case DialFailed():
            return JSONResponse({"error": result.describe(), "cause": result.cause.value},
                                status_code=_status_of(result))
        case Placed() | Answered():
            log.info("%s: %s placed a call to %s via %s", request.url.path, verdict.who, to,
                     carrier)
            return JSONResponse({"call_id": result.call_id, "carrier": result.carrier,
                                 "provider_call_id": result.provider_call_id}, status_code=201)
