"""The PSTN channel template: what a phone provider's channel (Twilio, Telnyx, ...) shares.

A provider channel module keeps only what differs: its routes and how each webhook is
answered (TwiML, a REST ``answer``), its signature scheme (``ProviderWebhooks``), its media
core, how a stream's token is checked, and how a dial request is built. ``PstnCalls`` does
the rest the same way for every provider:

- **webhooks**: ``verified`` builds the ``WebhookRequest`` from the public URL, verifies and
  parses it (a refusal is counted and answered by ``rejected``: 403, nothing recorded);
  ``apply`` records each event (``CallRecords``) and tells the dialer;
- **draining**: ``draining`` is true once the runtime stops admitting calls (SIGTERM); the
  provider refuses new calls (Twilio 503 so it tries the fallback URL, Telnyx a REST hang-up);
- **media**: ``media`` refuses every socket before accepting it while unconfigured, then
  admits a stream only with a grant the provider's ``check`` vouches for and the book accepts
  (one stream per call, never after it ended), and runs the flow through the runtime;
- **outbound**: ``dialer`` is the neutral ``callport.call.dial.Dialer``
  (``callport.channels.pstn_dial.PstnDialer``); ``calls_route`` serves a call-placing
  endpoint with the admin bearer check;
- **the hang-up policy**, the same for every provider: the provider's call-ended callback
  is the only truth that a call ended (it ends the leg and closes the socket). When the flow
  ends, the leg hangs the call up over REST unless it was transferred. When the stream stops
  while the provider has not said the call ended, no transfer is under way and we have not
  hung it up already, we hang it up over REST, so no caller is left in silence ("already
  ended" is success). At ``stop`` every live leg is hung up. (Twilio also fetches our
  ``<Connect action>`` URL, which answers ``<Dial>`` for a transfer, else ``<Hangup/>``.)
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.websockets import WebSocket

from callport.call.leg import Leg
from callport.channels.callbook import CallBook, ProviderCall, StreamGrant
from callport.channels.callrecords import CallRecords, CallRunner
from callport.channels.media_leg import MediaStreamLeg
from callport.channels.media_stream import Admission, run_websocket_stream
from callport.channels.provider import (
    CallControl,
    CallEnded,
    CallEvent,
    DialRequest,
    MediaCore,
    ProviderError,
    ProviderWebhooks,
    StreamConnected,
    StreamStart,
    StreamStopped,
    StreamTarget,
    StreamViolation,
    WebhookRejected,
    WebhookRequest,
)
from callport.channels.pstn_dial import Prepare, PstnDialer, calls_endpoint
from callport.edgelog import EDGE
from callport.types import CallInfo

__all__ = ["HangupLedger", "PstnCalls", "StreamCheck"]

log = logging.getLogger(__name__)

# (start, connected, socket headers, now) -> the grant a good token vouches for, else None
StreamCheck = Callable[[StreamStart, StreamConnected | None, Mapping[str, str], float],
                       StreamGrant | None]


class PstnCalls:
    """One provider channel's shared machinery (see the module docstring)."""

    def __init__(
        self,
        *,
        name: str,
        runner: CallRunner,
        webhooks: ProviderWebhooks,
        configured: Callable[[], bool],
        unconfigured: str,
        public_url: Callable[[str, Mapping[str, str]], str],
        control: CallControl | None,
        core: Callable[[], MediaCore],
        check: StreamCheck,
        prepare: Prepare,
        clock: Callable[[], float],
        no_control: str = "",
    ) -> None:
        self.name = name
        self.runner = runner
        self.webhooks = webhooks
        self._configured = configured
        self._unconfigured = unconfigured
        self._public_url = public_url
        self._core = core
        self._check = check
        self.clock = clock
        self.book = CallBook(provider=name)
        self.records = CallRecords(book=self.book, store=getattr(runner, "calls", None),
                                   clock=clock)
        self.control = control
        self.dialer = PstnDialer(name=name, control=lambda: self.control, prepare=prepare,
                                 clock=clock, records=self.records, no_control=no_control)
        self.legs: dict[str, MediaStreamLeg] = {}
        self._sockets: dict[str, WebSocket] = {}
        self.violations = 0
        self.recent_violations: list[StreamViolation] = []
        self.rejected_webhooks = 0

    @property
    def control(self) -> HangupLedger | None:
        return self._control

    @control.setter
    def control(self, control: CallControl | None) -> None:
        if control is not None and not isinstance(control, HangupLedger):
            control = HangupLedger(control)
        self._control = control

    @property
    def configured(self) -> bool:
        return self._configured()

    @property
    def draining(self) -> bool:
        return bool(getattr(self.runner, "draining", False))

    # ---- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        if not self.configured:
            log.warning(self._unconfigured)

    async def stop(self) -> None:
        for leg in list(self.legs.values()):
            await leg.hangup("shutdown")
        await self.records.settle()
        if self._control is not None:
            await self._control.aclose()

    # ---- webhooks ------------------------------------------------------------------

    async def verified(
        self, request: Request, *, parse: bool = True
    ) -> tuple[WebhookRequest, list[CallEvent]]:
        """The verified (and parsed) request; ``WebhookRejected`` (counted) when it is not."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        hook = WebhookRequest(url=self._public_url(str(request.url), headers), headers=headers,
                              body=await request.body(),
                              content_type=headers.get("content-type", ""))
        try:
            self.webhooks.verify(hook, now=self.clock())
            return hook, self.webhooks.parse(hook) if parse else []
        except WebhookRejected:
            self.rejected_webhooks += 1
            raise

    def rejected(self, exc: WebhookRejected, *, json: bool = False) -> Response:
        log.warning("%s webhook refused (%d): %s", self.name, exc.status_hint, exc.reason)
        if json:
            return JSONResponse({"error": exc.reason}, status_code=exc.status_hint)
        return Response(exc.reason, status_code=exc.status_hint, media_type="text/plain")

    async def apply(self, event: CallEvent) -> ProviderCall | None:
        """Record one verified callback; an ending or a failed stream ends our side too."""
        call = await self.records.apply(event)
        self.dialer.observe(event, call)
        match event:
            case CallEnded() if call is not None:
                await self.end_stream(call.call_id, reason="caller-hung-up")
            case StreamStopped(error=error) if call is not None and error:
                log.warning("%s: stream for %s failed: %s", self.name, call.call_id, error)
                await self.end_stream(call.call_id, reason="stream-failed")
            case _:
                pass
        return call

    async def end_stream(self, call_id: str, *, reason: str) -> None:
        leg = self.legs.get(call_id)
        if leg is not None:
            leg.close(reason)
        ws = self._sockets.get(call_id)
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000)

    async def refuse(self, call: ProviderCall, *, reason: str = "shutdown") -> None:
        """Draining (or at capacity, ``reason="busy"``): hang up a new call unanswered."""
        if self._control is not None:
            try:
                await self._control.hangup(call.provider_call_id)
            except ProviderError as exc:
                log.warning("%s: refusing %s failed: %s", self.name, call.provider_call_id, exc)
        await self.records.ended(call, reason=reason)

    # ---- media ---------------------------------------------------------------------

    async def media(self, ws: WebSocket) -> None:
        if not self.configured:  # no secret: refuse before accepting anything
            await ws.close(1008)
            return
        headers = {k.lower(): v for k, v in ws.headers.items()}
        core = self._core()
        admitted: list[str] = []

        async def admit(start: StreamStart, connected: StreamConnected | None
                        ) -> Admission | None:
            grant = self._check(start, connected, headers, self.clock())
            if grant is not None and not await self._spend(grant):
                grant = None  # spent already, on this node or another
            admission = None if grant is None else self.records.admit(
                grant, provider_call_id=start.provider_call_id, control=self._control,
                caller=start.caller, callee=start.callee,
            )
            if admission is None:
                log.warning("%s: refused a stream for %s (bad or used token, or call over)",
                            self.name, start.provider_call_id[:40])
                return None
            admitted.append(admission.info.call_id)
            self._sockets[admission.info.call_id] = ws
            self.dialer.admitted(admission.info.call_id)
            return admission

        try:
            await run_websocket_stream(ws, core=core, admit=admit, run_call=self._run_call,
                                       on_violation=self._on_violation,
                                       admission_s=self.runner.settings.limits.ws_admission_s)
        finally:
            for call_id in admitted:
                self._sockets.pop(call_id, None)

    async def _spend(self, grant: StreamGrant) -> bool:
        """Spend the stream's token in the runtime's ``spent_tokens`` (Redis with
        ``server.redis``, so once across nodes; the book also spends it in this process).
        False: spent before. Trouble reaching Redis is logged and the book's check stands."""
        spent = getattr(self.runner, "spent_tokens", None)
        if spent is None or not grant.token_id:
            return True
        try:
            return bool(await spent.spend(f"stream:{self.name}:{grant.token_id}",
                                          expires=grant.expires_at, now=self.clock()))
        except Exception:
            log.exception("%s: could not spend a stream token in the shared store", self.name)
            return True

    async def _run_call(self, leg: Leg, info: CallInfo) -> None:
        assert isinstance(leg, MediaStreamLeg)
        self.legs[info.call_id] = leg
        try:
            await self.runner.run_call(leg, info)
        finally:
            self.legs.pop(info.call_id, None)
            await self._after_stream(leg, info.call_id)

    async def _after_stream(self, leg: MediaStreamLeg, call_id: str) -> None:
        """The hang-up policy's last rule (module docstring)."""
        call = self.book.get(call_id)
        ccid = leg.provider_call_id
        control = self._control
        if (call is None or call.ended or not leg.ended or leg.handed_off_to is not None
                or control is None or ccid in control.hung_up):
            return
        try:
            await control.hangup(ccid)
        except ProviderError as exc:
            log.warning("%s: hang-up of %s after the stream stopped: %s", self.name, ccid, exc)
        await self.records.ended(call, reason="stream-stopped")

    def _on_violation(self, violation: StreamViolation) -> None:
        self.violations += 1
        self.recent_violations.append(violation)
        del self.recent_violations[:-50]  # the last few for tests and doctor, never grow
        allowed, suppressed = EDGE.report(self.name, violation.kind.value, now=self.clock())
        if allowed:  # counted always (/metrics), logged a few times a minute per kind at most
            log.info("%s stream: %s: %s%s", self.name, violation.kind.value,
                     violation.detail[:200], f" ({suppressed} more)" if suppressed else "")

    # ---- outbound ------------------------------------------------------------------

    def calls_route(self, path: str, *, static_token: str = "") -> Route:
        """``POST path`` ``{"to", "from"?}``: place a call via this provider (admin bearer)."""

        async def endpoint(request: Request) -> Response:
            return await calls_endpoint(
                request, dialers={self.name: self.dialer}, choose=lambda to, via: self.name,
                tokens=getattr(self.runner, "tokens", None), static_token=static_token,
                now=self.clock())

        return Route(path, endpoint, methods=["POST"])


class HangupLedger:
    """A ``CallControl`` that remembers which calls we hung up (delegates everything)."""

    def __init__(self, inner: CallControl) -> None:
        self.inner = inner
        self.hung_up: set[str] = set()

    @property
    def sends_dtmf(self) -> bool:
        return bool(getattr(self.inner, "sends_dtmf", False))

    async def answer(self, provider_call_id: str, stream: StreamTarget) -> None:
        await self.inner.answer(provider_call_id, stream)

    async def hangup(self, provider_call_id: str) -> None:
        self.hung_up.add(provider_call_id)
        await self.inner.hangup(provider_call_id)

    async def transfer(self, provider_call_id: str, target: str) -> None:
        await self.inner.transfer(provider_call_id, target)

    async def dial(self, request: DialRequest) -> str:
        return await self.inner.dial(request)

    async def send_dtmf(self, provider_call_id: str, digits: str) -> None:
        await self.inner.send_dtmf(provider_call_id, digits)

    async def aclose(self) -> None:
        await self.inner.aclose()
