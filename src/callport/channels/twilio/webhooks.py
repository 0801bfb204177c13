"""Twilio webhooks: ``X-Twilio-Signature`` verification and typed call events.

The signature is HMAC-SHA1 over the **public** URL Twilio requested plus the sorted form
parameters (``twilio.request_validator.RequestValidator``, the official algorithm, which also
tries the URL with and without the default port). Behind a TLS-terminating proxy the app sees
an internal URL, so ``public_url`` rebuilds the public one from the configured base URL or,
only when trusted, ``X-Forwarded-Proto``/``X-Forwarded-Host``.

One parser serves every callback Twilio sends us: call status (``CallStatus``), stream status
(``StreamEvent``), asynchronous answering-machine detection (``AnsweredBy``) and the
``<Connect action>`` request when a stream ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from twilio.request_validator import RequestValidator

from callport.channels.provider import (
    CallAnswered,
    CallEnded,
    CallEvent,
    CallRinging,
    MachineDetected,
    OtherCallback,
    StreamStarted,
    StreamStopped,
    WebhookRejected,
    WebhookRequest,
)

ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
RINGING_STATUSES = frozenset({"queued", "initiated", "ringing"})


def public_url(
    *,
    url: str,
    headers: Mapping[str, str],
    public_base_url: str = "",
    trust_forwarded: bool = False,
) -> str:
    """The URL Twilio signed: ``url`` (as the app saw it) moved onto the public origin."""
    parts = urlsplit(url)
    path_query = parts.path + (f"?{parts.query}" if parts.query else "")
    if public_base_url:
        base = urlsplit(public_base_url.rstrip("/"))
        return f"{base.scheme}://{base.netloc}{base.path}{path_query}"
    if trust_forwarded:
        proto = headers.get("x-forwarded-proto", "").split(",")[0].strip() or parts.scheme
        host = headers.get("x-forwarded-host", "").split(",")[0].strip() or parts.netloc
        return f"{proto}://{host}{path_query}"
    return url


def form_params(body: bytes) -> dict[str, list[str]]:
    """Form fields, every value kept (Twilio signs repeated fields too)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected("body is not UTF-8", status_hint=400) from None
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


class _MultiParams(dict[str, list[str]]):
    """Hands every value of a field to ``RequestValidator`` (its ``getlist`` hook)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


class TwilioWebhooks:
    """``ProviderWebhooks`` for Twilio Programmable Voice."""

    def __init__(self, *, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token) if auth_token else None

    def verify(self, request: WebhookRequest, *, now: float = 0.0) -> None:
        """Twilio signatures carry no timestamp, so ``now`` is unused (kept for the Protocol)."""
        if self._validator is None:
            raise WebhookRejected("no Twilio auth token configured")
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            raise WebhookRejected("missing X-Twilio-Signature")
        params: object
        if "bodySHA256=" in urlsplit(request.url).query:
            params = request.body.decode("utf-8", errors="replace")
        else:
            params = _MultiParams(form_params(request.body))
        if not self._validator.validate(request.url, params, signature):
            raise WebhookRejected("bad X-Twilio-Signature")

    def parse(self, request: WebhookRequest) -> list[CallEvent]:
        fields = {k: v[-1] for k, v in form_params(request.body).items()}
        return parse_fields(fields)


def parse_fields(fields: Mapping[str, str]) -> list[CallEvent]:
    """Typed events from one callback's form fields."""
    call_sid = fields.get("CallSid", "")
    if not call_sid:
        raise WebhookRejected("callback without CallSid", status_hint=400)
    events: list[CallEvent] = []
    if stream_event := fields.get("StreamEvent"):
        sid = fields.get("StreamSid", "")
        match stream_event:
            case "stream-started":
                events.append(StreamStarted(provider_call_id=call_sid, stream_id=sid))
            case "stream-stopped":
                events.append(StreamStopped(provider_call_id=call_sid, stream_id=sid))
            case _:
                error = fields.get("StreamError", stream_event)
                events.append(StreamStopped(provider_call_id=call_sid, stream_id=sid, error=error))
        return events
    if answered_by := fields.get("AnsweredBy"):
        events.append(MachineDetected(provider_call_id=call_sid, answered_by=answered_by))
    status = fields.get("CallStatus", "")
    caller, callee = fields.get("From", ""), fields.get("To", "")
    if status in RINGING_STATUSES:
        inbound = fields.get("Direction", "inbound") == "inbound"
        events.append(
            CallRinging(
                provider_call_id=call_sid,
                caller=caller,
                callee=callee,
                direction="inbound" if inbound else "outbound",
            )
        )
    elif status == "in-progress":
        events.append(CallAnswered(provider_call_id=call_sid, caller=caller, callee=callee))
    elif status in ENDED_STATUSES:
        duration = fields.get("CallDuration", "")
        events.append(
            CallEnded(
                provider_call_id=call_sid,
                reason=status,
                duration_s=float(duration) if duration.isdigit() else None,
                sip_status=int(sip) if (sip := fields.get("SipResponseCode", "")).isdigit()
                and len(sip) == 3 else 0,
            )
        )
    elif not events:
        events.append(OtherCallback(provider_call_id=call_sid, kind=status or "unknown"))
    return events
