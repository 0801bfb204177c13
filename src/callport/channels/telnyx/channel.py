"""The Telnyx channel driver: webhook, TeXML and media-WebSocket routes (asyncio).

Call Control set-up (default):

1. ``call.initiated`` (incoming) arrives signed at ``webhook_path``: we verify it (403 and
   nothing else on failure), mint our call id and a stream token (expiring after
   ``telnyx.token_ttl_s``, bound to the call id and the ``call_control_id``), and ``answer``
   with bidirectional ``rtp`` streaming to ``media_path`` (``client_state`` = our call id).
2. Telnyx opens the media WebSocket; ``start`` names the call; the token (``connected``
   frame or ``x-telnyx-streaming-auth-token`` header) must be one we minted for that call,
   unexpired and unused (the call book spends it); the shared ``run_media_stream`` builds a
   ``MediaStreamLeg`` and runs ``runtime.run_call`` on it.
3. ``call.hangup`` is the truth about the call ending: it ends the leg (and the socket).
   A stream that stops while Telnyx has not said the call ended is followed by a REST
   hang-up (unless the call was transferred), so no caller is left in silence; "already
   ended" (422/90018) is success.

TeXML set-up: the TeXML application's voice URL is ``texml_path``; we answer
``<Connect><Stream>`` with our call id and token as ``<Parameter>``s.

Without a valid ``telnyx.public_key`` nothing is accepted: every webhook gets 403 and every
media socket is closed before anything starts (a warning at start says what to set).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from callport.agents.base import CallInfo
from callport.call.leg import Leg
from callport.channels.callbook import CallBook
from callport.channels.callrecords import CallRecords, CallRunner
from callport.channels.media_leg import MediaStreamLeg
from callport.channels.media_stream import Admission, run_websocket_stream
from callport.channels.provider import (
    CallControl,
    CallEnded,
    CallEvent,
    CallRinging,
    DialRequest,
    ProviderError,
    StreamConnected,
    StreamStart,
    StreamStopped,
    StreamTarget,
    StreamViolation,
    WebhookRejected,
    WebhookRequest,
    public_base,
    stream_url,
)
from callport.channels.telnyx import tokens
from callport.channels.telnyx.media import AUTH_TOKEN_FIELD, TelnyxMediaCore
from callport.channels.telnyx.rest import PARAM_CALL_ID, PARAM_TOKEN, TelnyxCallControl
from callport.channels.telnyx.texml import connect_stream
from callport.channels.telnyx.webhook import TelnyxWebhooks
from callport.config import TelnyxSettings

__all__ = ["CallRunner", "TelnyxChannel", "media_url"]

log = logging.getLogger(__name__)

UNCONFIGURED = (
    "telnyx: CALLPORT_TELNYX_PUBLIC_KEY (telnyx.public_key) is unset or not a valid Ed25519 "
    "key: every Telnyx webhook gets 403 and every media stream is refused; set it to the "
    "public key from the Telnyx portal (base64)"
)


def media_url(settings: TelnyxSettings, request_url: str = "") -> str:
    """``wss://`` URL of our media route, under ``public_base_url`` or the request's origin."""
    return stream_url(public_base(settings.public_base_url, request_url), settings.media_path)


class TelnyxChannel:
    name = "telnyx"

    def __init__(
        self,
        *,
        runner: CallRunner,
        control: CallControl | None = None,
        webhooks: TelnyxWebhooks | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runner = runner
        self._cfg = runner.settings.telnyx
        self._control = _HangupLedger(control or TelnyxCallControl(
            api_key=self._cfg.api_key,
            base_url=self._cfg.api_base_url,
            connection_id=self._cfg.connection_id,
            codec=self._cfg.codec,
        ))
        self._webhooks = webhooks or TelnyxWebhooks(public_key=self._cfg.public_key)
        self._clock = clock
        self._secret = tokens.stream_secret(self._cfg)
        self.book = CallBook(provider=self.name)
        self.records = CallRecords(book=self.book, store=getattr(runner, "calls", None),
                                   clock=clock)
        self._legs: dict[str, MediaStreamLeg] = {}
        self._sockets: dict[str, WebSocket] = {}
        self.violations: list[StreamViolation] = []

    # ---- Channel protocol ------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route(self._cfg.webhook_path, self.webhook, methods=["POST"]),
            Route(self._cfg.texml_path, self.texml, methods=["POST"]),
            WebSocketRoute(self._cfg.media_path, self.media),
        ]

    async def start(self) -> None:
        if not self._webhooks.configured:
            log.warning(UNCONFIGURED)

    async def stop(self) -> None:
        for leg in list(self._legs.values()):
            await leg.hangup("shutdown")
        await self.records.settle()
        await self._control.aclose()

    # ---- webhooks --------------------------------------------------------------------

    async def _verified(self, request: Request) -> WebhookRequest:
        body = await request.body()
        hook = WebhookRequest(
            url=str(request.url),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            content_type=request.headers.get("content-type", ""),
        )
        self._webhooks.verify(hook, now=self._clock())
        return hook

    async def webhook(self, request: Request) -> Response:
        try:
            hook = await self._verified(request)
            events = self._webhooks.parse(hook)
        except WebhookRejected as exc:
            log.warning("telnyx webhook refused (%d): %s", exc.status_hint, exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=exc.status_hint)
        for event in events:
            await self._on_call_event(event, str(request.url))
        return JSONResponse({})

    async def _on_call_event(self, event: CallEvent, request_url: str) -> None:
        known = self.book.find(call_id=event.call_id, provider_call_id=event.provider_call_id)
        if known is None and isinstance(event, CallRinging) and event.direction == "inbound":
            await self._answer(event, request_url)
            return
        call = await self.records.apply(event)
        match event:
            case CallEnded() if call is not None:
                await self._end_stream(call.call_id, reason="caller-hung-up")
            case StreamStopped(error=error) if call is not None and error:
                log.warning("telnyx: stream for %s failed: %s", call.call_id, error)
                await self._end_stream(call.call_id, reason="stream-failed")
            case _:
                pass

    async def _answer(self, event: CallRinging, request_url: str) -> None:
        """A new incoming call: enter it, answer with streaming to our media route."""
        call = await self.records.enter(self.book.new_call(
            call_id=tokens.new_call_id(), provider_call_id=event.provider_call_id,
            direction="inbound", caller=event.caller, callee=event.callee,
        ))
        await self.records.apply(event)
        if getattr(self._runner, "draining", False):  # SIGTERM: answer no new call
            try:
                await self._control.hangup(event.provider_call_id)
            except ProviderError as exc:
                log.warning("telnyx: refusing %s failed: %s", event.provider_call_id, exc)
            await self.records.ended(call, reason="shutdown")
            return
        target = StreamTarget(url=media_url(self._cfg, request_url),
                              parameters=self._stream_parameters(call.call_id,
                                                                 event.provider_call_id))
        try:
            await self._control.answer(event.provider_call_id, target)
        except ProviderError as exc:
            log.error("telnyx: answering %s failed: %s", event.provider_call_id, exc)
            await self.records.ended(call, reason="answer-failed")

    def stream_token(self, call_id: str, provider_call_id: str = "") -> str:
        """A token a stream for ``call_id`` (on Telnyx call ``provider_call_id`` when known)
        may present once, within ``telnyx.token_ttl_s`` from now."""
        return tokens.mint(self._secret, call_id, provider_call_id=provider_call_id,
                           expires_at=self._clock() + self._cfg.token_ttl_s)

    def _stream_parameters(self, call_id: str, provider_call_id: str) -> dict[str, str]:
        return {PARAM_CALL_ID: call_id,
                PARAM_TOKEN: self.stream_token(call_id, provider_call_id)}

    async def _end_stream(self, call_id: str, *, reason: str) -> None:
        leg = self._legs.get(call_id)
        if leg is not None:
            leg.close(reason)
        ws = self._sockets.get(call_id)
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close(1000)

    async def texml(self, request: Request) -> Response:
        try:
            hook = await self._verified(request)
        except WebhookRejected as exc:
            log.warning("telnyx texml refused: %s", exc.reason)
            return Response(exc.reason, status_code=exc.status_hint)
        form = {k: v[0] for k, v in parse_qs(hook.body.decode("utf-8", "replace")).items()}
        ccid = form.get("CallSid", "")
        if not ccid:
            return Response("no CallSid", status_code=400)
        call = self.book.by_provider_id(ccid) or await self.records.enter(self.book.new_call(
            call_id=tokens.new_call_id(), provider_call_id=ccid, direction="inbound",
            caller=form.get("From", ""), callee=form.get("To", ""),
        ))
        xml = connect_stream(
            url=media_url(self._cfg, str(request.url)),
            codec=self._cfg.codec,
            parameters=self._stream_parameters(call.call_id, ccid),
        )
        return Response(xml, media_type="application/xml")

    # ---- media -----------------------------------------------------------------------

    async def media(self, ws: WebSocket) -> None:
        if not self._webhooks.configured:  # no public key: refuse before accepting anything
            await ws.close(1008)
            return
        header_token = ws.headers.get(AUTH_TOKEN_FIELD, "")
        core = TelnyxMediaCore()
        admitted: list[str] = []

        def admit(start: StreamStart, connected: StreamConnected | None) -> Admission | None:
            params = start.custom_parameters
            call_id = params.get("client_state") or params.get(PARAM_CALL_ID, "")
            token = (connected.auth_token if connected else "") or header_token or params.get(
                PARAM_TOKEN, ""
            )
            grant = tokens.check(self._secret, call_id=call_id, token=token,
                                 provider_call_id=start.provider_call_id, now=self._clock(),
                                 caller=start.caller, callee=start.callee)
            admission = None if grant is None else self.records.admit(
                grant, provider_call_id=start.provider_call_id, control=self._control,
                caller=start.caller, callee=start.callee,
            )
            if admission is None:
                log.warning("telnyx: refused a stream for %r (token or call)", call_id[:40])
                return None
            admitted.append(admission.info.call_id)
            self._sockets[admission.info.call_id] = ws
            return admission

        leg = await run_websocket_stream(
            ws, core=core, admit=admit, run_call=self._run_call, on_violation=self._on_violation
        )
        for call_id in admitted:
            self._sockets.pop(call_id, None)
        if leg is not None and core.late_frames + core.concealed_frames:
            log.info("telnyx %s: %d late, %d concealed media frames", leg.call_id,
                     core.late_frames, core.concealed_frames)

    async def _run_call(self, leg: Leg, info: CallInfo) -> None:
        assert isinstance(leg, MediaStreamLeg)
        self._legs[info.call_id] = leg
        try:
            await self._runner.run_call(leg, info)
        finally:
            self._legs.pop(info.call_id, None)
            call = self.book.get(info.call_id)
            ccid = leg.provider_call_id
            if (call is not None and not call.ended and leg.ended
                    and leg.handed_off_to is None and ccid not in self._control.hung_up):
                # The stream stopped but Telnyx has not said the call ended: hang it up, so
                # no caller is left in silence (422/90018 if they already left: success).
                try:
                    await self._control.hangup(ccid)
                except ProviderError as exc:
                    log.warning("telnyx: hang-up of %s after the stream stopped: %s", ccid, exc)
                await self.records.ended(call, reason="stream-stopped")

    def _on_violation(self, violation: StreamViolation) -> None:
        self.violations.append(violation)
        log.debug("telnyx stream: %s: %s", violation.kind.value, violation.detail)
        del self.violations[:-50]  # keep the last few for tests and doctor, never grow


class _HangupLedger:
    """A ``CallControl`` that remembers which calls we hung up (delegates everything)."""

    def __init__(self, inner: CallControl) -> None:
        self.inner = inner
        self.hung_up: set[str] = set()

    @property
    def sends_dtmf(self) -> bool:
        return self.inner.sends_dtmf

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
