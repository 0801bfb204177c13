"""The Twilio channel: routes filled into the PSTN template (``callport.channels.pstn``).

Nothing is accepted without ``twilio.auth_token`` (it verifies ``X-Twilio-Signature`` and keys
the stream tokens; an API key secret cannot verify webhooks): every webhook gets 403 and every
media socket is closed before anything starts. Routes (paths from ``[twilio]``):

- ``POST voice_path``: signed voice webhook -> TwiML ``<Connect action><Stream>`` with a
  single-use token in ``<Parameter name="token">``; bad or no signature 403; draining 503
  (Twilio tries the fallback URL);
- ``POST status_path``: signed call / stream / AMD callbacks (and our dials' verdicts);
- ``POST after_path``: signed ``<Connect action>``: ``<Dial>`` a pending transfer target,
  else ``<Hangup/>``, which ends the call on our record too (a number whose status callback
  is not set sends no ``completed``);
- ``WS media_path`` (and ``media_path/{node}``, the node-addressed form of
  ``callport.channels.node_urls``): the stream; its ``start`` must carry a live token for
  its CallSid;
- ``POST calls_path``: ``{"to", "from"?}`` through ``self.outbound`` (the neutral Dialer),
  for an admin's API token or ``twilio.calls_api_token`` only (``channels.api_auth``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from callport.channels.busy import refusal_of
from callport.channels.callbook import ProviderCall, StreamGrant
from callport.channels.callrecords import CallRecords, CallRunner
from callport.channels.node_urls import node_addressed, node_of, node_stream_path
from callport.channels.provider import (
    CallControl,
    StreamConnected,
    StreamStart,
    WebhookRejected,
    WebhookRequest,
    public_base,
    stream_url,
)
from callport.channels.pstn import HangupLedger, PstnCalls
from callport.channels.pstn_dial import PstnDialer
from callport.channels.twilio import outbound, tokens, twiml
from callport.channels.twilio.media import TwilioMediaCore
from callport.channels.twilio.outbound import dial_out
from callport.channels.twilio.webhooks import TwilioWebhooks, form_params, public_url
from callport.config import TwilioSettings

__all__ = ["UNCONFIGURED", "TwilioChannel", "dial_out"]

XML = "application/xml"
UNCONFIGURED = (
    "twilio: CALLPORT_TWILIO_AUTH_TOKEN (twilio.auth_token) is not set: every Twilio webhook "
    "gets 403 and every media stream is refused; set it to the account's auth token"
)


class TwilioChannel:
    name = "twilio"

    def __init__(
        self,
        *,
        runtime: CallRunner,
        control: CallControl | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.runtime = runtime
        self.settings: TwilioSettings = runtime.settings.twilio
        # No auth token, no key: a key derived from "" would let anyone mint stream tokens.
        secret = self.settings.auth_token
        self._key = tokens.derive_key(secret) if secret else None
        self._now = now
        self._node = node_of(runtime)  # several nodes: URLs we hand Twilio name this one
        self.calls = PstnCalls(
            name=self.name, runner=runtime, webhooks=TwilioWebhooks(auth_token=secret),
            configured=lambda: self._key is not None, unconfigured=UNCONFIGURED,
            public_url=self._public_url,
            control=control if control is not None else outbound.client_of(self.settings),
            core=TwilioMediaCore, check=self._check, clock=now,
            no_control="twilio: no account SID / auth token configured",
            prepare=lambda t, c, o, n: outbound.prepare(self.settings, t, c, o, n,
                                                       node=self._node),
        )
        self.book = self.calls.book
        self.records: CallRecords = self.calls.records
        self.outbound: PstnDialer = self.calls.dialer  # the neutral Dialer (call.dial)

    @property
    def control(self) -> HangupLedger | None:
        return self.calls.control

    @control.setter
    def control(self, control: CallControl | None) -> None:
        self.calls.control = control

    @property
    def violations(self) -> int:
        return self.calls.violations

    @property
    def rejected_webhooks(self) -> int:
        return self.calls.rejected_webhooks

    # ---------------------------------------------------------------- Channel

    def routes(self) -> Sequence[BaseRoute]:
        s = self.settings
        return [
            Route(s.voice_path, self.voice, methods=["POST"]),
            Route(s.status_path, self.status, methods=["POST"]),
            Route(s.after_path, self.after, methods=["POST"]),
            self.calls.calls_route(s.calls_path, static_token=s.calls_api_token),
            WebSocketRoute(s.media_path, self.media),
            WebSocketRoute(s.media_path.rstrip("/") + "/{node}", self.media),  # node_urls
        ]

    async def start(self) -> None:
        await self.calls.start()

    async def stop(self) -> None:
        await self.calls.stop()

    # ---------------------------------------------------------------- webhooks

    def _public_url(self, url: str, headers: Mapping[str, str]) -> str:
        return public_url(url=url, headers=headers, public_base_url=self.settings.public_base_url,
                          trust_forwarded=self.settings.trust_forwarded)

    async def voice(self, request: Request) -> Response:
        try:
            hook, events = await self.calls.verified(request)
        except WebhookRejected as exc:
            return self.calls.rejected(exc)
        fields = _fields(hook)
        call_sid = fields.get("CallSid", "")
        now = self._now()
        call = self.book.by_provider_id(call_sid)
        if self.calls.draining:  # SIGTERM: Twilio tries the fallback URL
            return Response("shutting down", status_code=503, headers={"Retry-After": "5"})
        if call is None or call.ended:
            inbound = fields.get("Direction", "inbound") == "inbound"
            call = await self.records.enter(self.book.new_call(
                call_id=uuid.uuid4().hex, provider_call_id=call_sid,
                direction="inbound" if inbound else "outbound",
                caller=fields.get("From", ""), callee=fields.get("To", ""),
            ))
            if inbound and refusal_of(self.calls.runner) is not None:  # at capacity
                await self.records.ended(call, reason="busy")
                return Response(twiml.reject_busy(), media_type=XML)  # busy tone, unanswered
        for event in events:
            await self.calls.apply(event)
        base = public_base(self.settings.public_base_url, hook.url)
        body = twiml.connect_stream(
            stream_url=stream_url(base, node_stream_path(self.settings.media_path, self._node)),
            parameters=self._mint(call, now=now),
            action_url=node_addressed(base + self.settings.after_path, self._node),
            status_url=node_addressed(base + self.settings.status_path, self._node),
        )
        return Response(body, media_type=XML)

    def _mint(self, call: ProviderCall, *, now: float) -> dict[str, str]:
        assert self._key is not None  # only reached after a verified webhook
        return tokens.mint(self._key, call_id=call.call_id, direction=call.direction,
                           caller=call.caller, callee=call.callee, expires_at=now
                           + self.settings.token_ttl_s, provider_call_id=call.provider_call_id)

    async def status(self, request: Request) -> Response:
        return await self._callback(request, after=False)

    async def after(self, request: Request) -> Response:
        return await self._callback(request, after=True)

    async def _callback(self, request: Request, *, after: bool) -> Response:
        try:
            hook, events = await self.calls.verified(request)
        except WebhookRejected as exc:
            return self.calls.rejected(exc)
        for event in events:
            await self.calls.apply(event)
        if not after:
            return Response(status_code=204)
        call = self.book.by_provider_id(_fields(hook).get("CallSid", ""))
        if call is not None and call.handoff:
            return Response(twiml.dial(call.handoff), media_type=XML)
        if call is not None:  # our <Hangup/> ends it, whether or not a status callback follows
            await self.records.ended(call, reason="hangup")
        return Response(twiml.hangup(), media_type=XML)

    # ---------------------------------------------------------------- media stream

    async def media(self, websocket: WebSocket) -> None:
        await self.calls.media(websocket)

    def _check(self, start: StreamStart, _: StreamConnected | None,
               __: Mapping[str, str], now: float) -> StreamGrant | None:
        if self._key is None:
            return None
        return tokens.check(self._key, start.custom_parameters,
                            provider_call_id=start.provider_call_id, now=now)


def _fields(hook: WebhookRequest) -> dict[str, str]:
    return {k: v[-1] for k, v in form_params(hook.body).items()}
