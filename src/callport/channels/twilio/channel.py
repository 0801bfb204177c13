"""The Twilio channel: Starlette routes and the Media Streams driver.

Routes (paths from ``[twilio]`` settings):

Nothing is accepted without ``twilio.auth_token`` (it verifies ``X-Twilio-Signature`` and keys
the stream tokens; an API key secret cannot verify webhooks): every webhook gets 403 and every
media socket is closed before anything starts.

- ``POST voice_path``: signed voice webhook -> TwiML ``<Connect action><Stream>`` with a
  single-use token in ``<Parameter name="token">``; a bad or missing signature gets 403;
- ``POST status_path``: signed call / stream / AMD status callbacks, recorded on the call;
- ``POST after_path``: signed ``<Connect action>``: once the stream ends, ``<Dial>`` a pending
  transfer target or ``<Hangup/>``;
- ``WS media_path``: the media stream; the ``start`` must carry a live token for its CallSid,
  else the socket is closed (1008) and nothing starts;
- ``POST calls_path``: JSON ``{"to": "+1...", "from": "+1..."}`` places an outbound call; it
  needs a bearer token (an admin's API token or ``twilio.calls_api_token``, see
  ``callport.channels.api_auth``): 401 without one, 403 for a non-admin, whoever connects.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from callport.channels.api_auth import check_admin_bearer
from callport.channels.callbook import CallBook, ProviderCall
from callport.channels.callrecords import CallRecords, CallRunner
from callport.channels.media_stream import Admission, run_websocket_stream
from callport.channels.provider import (
    CallControl,
    CallEvent,
    DialRequest,
    ProviderError,
    StreamConnected,
    StreamStart,
    StreamTarget,
    StreamViolation,
    WebhookRejected,
    WebhookRequest,
    public_base,
    stream_url,
)
from callport.channels.twilio import tokens, twiml
from callport.channels.twilio.media import TwilioMediaCore
from callport.channels.twilio.rest import TwilioClient
from callport.channels.twilio.webhooks import TwilioWebhooks, form_params, public_url
from callport.config import TwilioSettings

log = logging.getLogger(__name__)

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
        self.webhooks = TwilioWebhooks(auth_token=self.settings.auth_token)
        self._now = now
        self.book = CallBook(provider=self.name)
        self.records = CallRecords(book=self.book, store=getattr(runtime, "calls", None),
                                   clock=now)
        self.control = control if control is not None else _control_from(self.settings)
        # No auth token, no key: a key derived from "" would let anyone mint stream tokens.
        secret = self.settings.auth_token
        self._key = tokens.derive_key(secret) if secret else None
        self.violations = 0
        self.rejected_webhooks = 0

    # ---------------------------------------------------------------- Channel

    def routes(self) -> Sequence[BaseRoute]:
        s = self.settings
        return [
            Route(s.voice_path, self.voice, methods=["POST"]),
            Route(s.status_path, self.status, methods=["POST"]),
            Route(s.after_path, self.after, methods=["POST"]),
            Route(s.calls_path, self.place_call_endpoint, methods=["POST"]),
            WebSocketRoute(s.media_path, self.media),
        ]

    async def start(self) -> None:
        if self._key is None:
            log.warning(UNCONFIGURED)

    async def stop(self) -> None:
        await self.records.settle()
        if self.control is not None:
            await self.control.aclose()

    # ---------------------------------------------------------------- webhooks

    async def _verified(self, request: Request) -> tuple[WebhookRequest, list[CallEvent]]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        hook = WebhookRequest(
            url=public_url(
                url=str(request.url),
                headers=headers,
                public_base_url=self.settings.public_base_url,
                trust_forwarded=self.settings.trust_forwarded,
            ),
            headers=headers,
            body=await request.body(),
            content_type=headers.get("content-type", ""),
        )
        try:
            self.webhooks.verify(hook, now=self._now())
            return hook, self.webhooks.parse(hook)
        except WebhookRejected:
            self.rejected_webhooks += 1
            raise

    async def voice(self, request: Request) -> Response:
        try:
            hook, events = await self._verified(request)
        except WebhookRejected as exc:
            return _rejected(exc)
        fields = _fields(hook)
        call_sid = fields.get("CallSid", "")
        now = self._now()
        call = self.book.by_provider_id(call_sid)
        if getattr(self.runtime, "draining", False):  # SIGTERM: Twilio tries the fallback URL
            return Response("shutting down", status_code=503, headers={"Retry-After": "5"})
        if call is None or call.ended:
            inbound = fields.get("Direction", "inbound") == "inbound"
            call = await self.records.enter(
                self.book.new_call(
                    call_id=uuid.uuid4().hex,
                    provider_call_id=call_sid,
                    direction="inbound" if inbound else "outbound",
                    caller=fields.get("From", ""),
                    callee=fields.get("To", ""),
                )
            )
        for event in events:
            await self.records.apply(event)
        base = public_base(self.settings.public_base_url, hook.url)
        body = twiml.connect_stream(
            stream_url=stream_url(base, self.settings.media_path),
            parameters=self._mint(call, now=now),
            action_url=base + self.settings.after_path,
            status_url=base + self.settings.status_path,
        )
        return Response(body, media_type=XML)

    def _mint(self, call: ProviderCall, *, now: float) -> dict[str, str]:
        assert self._key is not None  # only reached after a verified webhook
        return tokens.mint(
            self._key,
            call_id=call.call_id,
            direction=call.direction,
            caller=call.caller,
            callee=call.callee,
            provider_call_id=call.provider_call_id,
            expires_at=now + self.settings.token_ttl_s,
        )

    async def status(self, request: Request) -> Response:
        try:
            _, events = await self._verified(request)
        except WebhookRejected as exc:
            return _rejected(exc)
        for event in events:
            await self.records.apply(event)
        return Response(status_code=204)

    async def after(self, request: Request) -> Response:
        try:
            hook, events = await self._verified(request)
        except WebhookRejected as exc:
            return _rejected(exc)
        for event in events:
            await self.records.apply(event)
        call = self.book.by_provider_id(_fields(hook).get("CallSid", ""))
        if call is not None and call.handoff:
            return Response(twiml.dial(call.handoff), media_type=XML)
        return Response(twiml.hangup(), media_type=XML)

    # ---------------------------------------------------------------- media stream

    async def media(self, websocket: WebSocket) -> None:
        if self._key is None:  # not configured: refuse before accepting anything
            await websocket.close(1008)
            return
        await run_websocket_stream(
            websocket,
            core=TwilioMediaCore(),
            admit=self._admit,
            run_call=self.runtime.run_call,
            on_violation=self._on_violation,
        )

    def _admit(self, start: StreamStart, _: StreamConnected | None) -> Admission | None:
        if self._key is None:
            return None
        grant = tokens.check(self._key, start.custom_parameters,
                             provider_call_id=start.provider_call_id, now=self._now())
        admission = None if grant is None else self.records.admit(
            grant, provider_call_id=start.provider_call_id, control=self.control,
            caller=start.caller, callee=start.callee,
        )
        if admission is None:
            log.warning("twilio: refused stream for %s (bad or used token, or call over)",
                        start.provider_call_id)
        return admission

    def _on_violation(self, violation: StreamViolation) -> None:
        self.violations += 1
        log.info("twilio stream: %s: %s", violation.kind.value, violation.detail)

    # ---------------------------------------------------------------- outbound

    async def place_call(self, to: str, from_: str = "") -> ProviderCall:
        """Dial ``to`` and stream it to this server; returns the call record."""
        if self.control is None:
            raise ProviderError("twilio: no account SID / auth token configured")
        call, _ = await dial_out(self.settings, self.control, to, from_, now=self._now())
        return await self.records.enter(call)

    async def place_call_endpoint(self, request: Request) -> Response:
        verdict = await check_admin_bearer(
            request.headers.get("authorization", ""),
            tokens=getattr(self.runtime, "tokens", None),
            static_token=self.settings.calls_api_token,
            now=self._now(),
        )
        if not verdict.allowed:
            log.warning("twilio: %s refused (%d): %s", self.settings.calls_path,
                        verdict.status, verdict.reason)
            headers = {"WWW-Authenticate": "Bearer"} if verdict.status == 401 else None
            return JSONResponse({"error": verdict.reason}, status_code=verdict.status,
                                headers=headers)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        to = body.get("to") if isinstance(body, dict) else None
        from_ = body.get("from", "") if isinstance(body, dict) else ""
        if not isinstance(to, str) or not to or not isinstance(from_, str):
            return JSONResponse({"error": 'need {"to": "+1...", "from"?: "+1..."}'}, 400)
        try:
            call = await self.place_call(to, from_)
        except ProviderError as exc:
            return JSONResponse({"error": str(exc)}, status_code=502 if exc.status else 503)
        return JSONResponse(
            {"call_id": call.call_id, "provider_call_id": call.provider_call_id}, status_code=201
        )


def _control_from(settings: TwilioSettings) -> CallControl | None:
    has_secret = settings.auth_token or (settings.api_key_sid and settings.api_key_secret)
    if not settings.account_sid or not has_secret:
        return None
    return TwilioClient.from_settings(settings)


def _fields(hook: WebhookRequest) -> dict[str, str]:
    return {k: v[-1] for k, v in form_params(hook.body).items()}


def _rejected(exc: WebhookRejected) -> Response:
    log.warning("twilio webhook rejected: %s", exc.reason)
    return PlainTextResponse(exc.reason, status_code=exc.status_hint)


async def dial_out(
    settings: TwilioSettings, control: CallControl, to: str, from_: str = "", *, now: float
) -> tuple[ProviderCall, str]:
    """Place an outbound call whose stream comes back to ``public_base_url``."""
    if not settings.auth_token:
        raise ProviderError("twilio: outbound calls need twilio.auth_token (it signs the stream)")
    base = public_base(settings.public_base_url)
    if not base:
        raise ProviderError("twilio: outbound calls need twilio.public_base_url")
    caller = from_ or (settings.numbers[0] if settings.numbers else "")
    if not caller:
        raise ProviderError("twilio: no caller number: pass from or set twilio.numbers")
    call = ProviderCall(
        call_id=uuid.uuid4().hex, provider="twilio", direction="outbound",
        caller=caller, callee=to,
    )
    parameters = tokens.mint(
        tokens.derive_key(settings.auth_token),
        call_id=call.call_id,
        direction="outbound",
        caller=caller,
        callee=to,
        provider_call_id="",
        expires_at=now + settings.token_ttl_s,
    )
    status_url = base + settings.status_path
    sid = await control.dial(
        DialRequest(
            to=to,
            from_=caller,
            stream=StreamTarget(
                url=stream_url(base, settings.media_path),
                parameters=parameters,
                action_url=base + settings.after_path,
                status_url=status_url,
            ),
            status_url=status_url,
            machine_detection_url=status_url,
        )
    )
    call.provider_call_id = sid
    return call, sid
