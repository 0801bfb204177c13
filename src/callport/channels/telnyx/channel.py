"""The Telnyx channel: webhook, TeXML and media routes filled into the PSTN template.

Call Control set-up (default):

1. ``call.initiated`` (incoming) arrives signed at ``webhook_path``: we verify it (403 and
   nothing else on failure), mint our call id and a stream token (expiring after
   ``telnyx.token_ttl_s``, bound to the call id and the ``call_control_id``), and ``answer``
   with bidirectional ``rtp`` streaming to ``media_path`` (``client_state`` = our call id);
   while draining, the call is hung up instead.
2. Telnyx opens the media WebSocket; ``start`` names the call; the token (``connected``
   frame or ``x-telnyx-streaming-auth-token`` header) must be one we minted for that call,
   unexpired and unused (the call book spends it); the template runs the call.
3. ``call.hangup`` is the truth about the call ending: it ends the leg (and the socket).
   The rest of the hang-up policy is the template's (``callport.channels.pstn``).

Outbound calls go through ``self.outbound`` (``callport.call.dial.Dialer``): their verdict
(answered, or the hang-up cause) arrives at ``webhook_path`` too.

TeXML set-up: the TeXML application's voice URL is ``texml_path``; we answer
``<Connect><Stream>`` with our call id and token as ``<Parameter>``s.

With several nodes (``server.redis``) the stream URL and a dial's ``webhook_url`` name this
node (``callport.channels.node_urls``: ``media_path/{node}``, ``?node=``), so a load balancer
sends them back here.

Without a valid ``telnyx.public_key`` nothing is accepted: every webhook gets 403 and every
media socket is closed before anything starts (a warning at start says what to set).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from callport.channels.busy import refusal_of
from callport.channels.callbook import StreamGrant
from callport.channels.callrecords import CallRunner
from callport.channels.node_urls import node_of
from callport.channels.provider import (
    CallControl,
    CallRinging,
    ProviderError,
    StreamConnected,
    StreamStart,
    StreamTarget,
    WebhookRejected,
)
from callport.channels.pstn import PstnCalls
from callport.channels.pstn_dial import PstnDialer
from callport.channels.telnyx import outbound, tokens
from callport.channels.telnyx.media import AUTH_TOKEN_FIELD, TelnyxMediaCore
from callport.channels.telnyx.outbound import media_url
from callport.channels.telnyx.rest import PARAM_CALL_ID, PARAM_TOKEN
from callport.channels.telnyx.texml import connect_stream
from callport.channels.telnyx.webhook import TelnyxWebhooks

__all__ = ["UNCONFIGURED", "CallRunner", "TelnyxChannel", "media_url"]

log = logging.getLogger(__name__)

UNCONFIGURED = (
    "telnyx: CALLPORT_TELNYX_PUBLIC_KEY (telnyx.public_key) is unset or not a valid Ed25519 "
    "key: every Telnyx webhook gets 403 and every media stream is refused; set it to the "
    "public key from the Telnyx portal (base64)"
)


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
        self._cfg = runner.settings.telnyx
        self._node = node_of(runner)  # several nodes: URLs we hand Telnyx name this one
        self._webhooks = webhooks or TelnyxWebhooks(public_key=self._cfg.public_key)
        self._clock = clock
        self._secret = tokens.stream_secret(self._cfg)
        self.calls = PstnCalls(
            name=self.name, runner=runner, webhooks=self._webhooks,
            configured=lambda: self._webhooks.configured, unconfigured=UNCONFIGURED,
            public_url=lambda url, _: url, control=control or outbound.control_of(self._cfg),
            core=TelnyxMediaCore, check=self._check, clock=clock,
            prepare=lambda t, c, o, n: outbound.prepare(self._cfg, t, c, o, n, node=self._node),
        )
        self.book = self.calls.book
        self.records = self.calls.records
        self.outbound: PstnDialer = self.calls.dialer  # the neutral Dialer (call.dial)

    # ---- Channel protocol ------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route(self._cfg.webhook_path, self.webhook, methods=["POST"]),
            Route(self._cfg.texml_path, self.texml, methods=["POST"]),
            WebSocketRoute(self._cfg.media_path, self.media),
            WebSocketRoute(self._cfg.media_path.rstrip("/") + "/{node}", self.media),
        ]

    async def start(self) -> None:
        await self.calls.start()

    async def stop(self) -> None:
        await self.calls.stop()

    # ---- webhooks --------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        try:
            _, events = await self.calls.verified(request)
        except WebhookRejected as exc:
            return self.calls.rejected(exc, json=True)
        for event in events:
            known = self.book.find(call_id=event.call_id,
                                   provider_call_id=event.provider_call_id)
            if known is None and isinstance(event, CallRinging) and event.direction == "inbound":
                await self._answer(event, str(request.url))
            else:
                await self.calls.apply(event)
        return JSONResponse({})

    async def _answer(self, event: CallRinging, request_url: str) -> None:
        """A new incoming call: enter it, answer with streaming to our media route."""
        call = await self.records.enter(self.book.new_call(
            call_id=tokens.new_call_id(), provider_call_id=event.provider_call_id,
            direction="inbound", caller=event.caller, callee=event.callee,
        ))
        await self.calls.apply(event)
        control = self.calls.control
        if self.calls.draining or control is None:  # SIGTERM: answer no new call
            await self.calls.refuse(call)
            return
        if refusal_of(self.calls.runner) is not None:  # at capacity: hung up unanswered
            await self.calls.refuse(call, reason="busy")
            return
        target = StreamTarget(url=media_url(self._cfg, request_url, node=self._node),
                              parameters=self._stream_parameters(call.call_id,
                                                                 event.provider_call_id))
        try:
            await control.answer(event.provider_call_id, target)
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

    async def texml(self, request: Request) -> Response:
        try:
            hook, _ = await self.calls.verified(request, parse=False)
        except WebhookRejected as exc:
            return self.calls.rejected(exc)
        form = {k: v[0] for k, v in parse_qs(hook.body.decode("utf-8", "replace")).items()}
        ccid = form.get("CallSid", "")
        if not ccid:
            return Response("no CallSid", status_code=400)
        call = self.book.by_provider_id(ccid) or await self.records.enter(self.book.new_call(
            call_id=tokens.new_call_id(), provider_call_id=ccid, direction="inbound",
            caller=form.get("From", ""), callee=form.get("To", ""),
        ))
        xml = connect_stream(url=media_url(self._cfg, str(request.url), node=self._node),
                             codec=self._cfg.codec,
                             parameters=self._stream_parameters(call.call_id, ccid))
        return Response(xml, media_type="application/xml")

    # ---- media -----------------------------------------------------------------------

    async def media(self, ws: WebSocket) -> None:
        await self.calls.media(ws)

    def _check(self, start: StreamStart, connected: StreamConnected | None,
               headers: Mapping[str, str], now: float) -> StreamGrant | None:
        params = start.custom_parameters
        call_id = params.get("client_state") or params.get(PARAM_CALL_ID, "")
        token = ((connected.auth_token if connected else "") or headers.get(AUTH_TOKEN_FIELD, "")
                 or params.get(PARAM_TOKEN, ""))
        return tokens.check(self._secret, call_id=call_id, token=token,
                            provider_call_id=start.provider_call_id, now=now,
                            caller=start.caller, callee=start.callee)
