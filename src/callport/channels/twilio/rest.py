"""Twilio REST call control, async over httpx (``CallControl`` for Twilio).

Endpoints (API version 2010-04-01, form-encoded, HTTP basic auth with the account SID and
auth token, or an API key SID and secret):

- dial: ``POST /Accounts/{AC}/Calls.json`` with ``To``, ``From``, inline ``Twiml`` (the
  ``<Connect><Stream>``), ``StatusCallback`` + ``StatusCallbackEvent`` and asynchronous AMD
  (``MachineDetection=Enable``, ``AsyncAmd=true``) so the stream starts at once;
- answer / transfer: ``POST /Accounts/{AC}/Calls/{CA}.json`` with new ``Twiml``. This replaces
  the running TwiML: the media stream gets ``stop`` but the call goes on (not a hang-up);
- hangup: the same endpoint with ``Status=completed``; 404 / error 20404 means the call is
  already gone, which is success.

``api_base_url`` points at a regional edge (``https://api.dublin.ie1.twilio.com``) or a local
stand-in; tests pass an ``httpx.MockTransport``.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from callport.channels.provider import DialRequest, ProviderError, StreamTarget
from callport.channels.twilio import twiml
from callport.config import TwilioSettings

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
NOT_FOUND_CODE = 20404
STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")

Form = dict[str, str | list[str]]


class TwilioClient:
    """Twilio Programmable Voice REST client (the subset a voice gateway needs)."""

    def __init__(
        self,
        *,
        account_sid: str,
        username: str,
        password: str,
        api_base_url: str = "https://api.twilio.com",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if not account_sid or not username or not password:
            raise ValueError("Twilio REST needs an account SID and a token (or API key + secret)")
        self._account_sid = account_sid
        self._http = httpx.AsyncClient(
            base_url=f"{api_base_url.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}",
            auth=(username, password),
            transport=transport,
            timeout=timeout_s,
            headers={"User-Agent": "callport"},
        )

    @classmethod
    def from_settings(
        cls, settings: TwilioSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> TwilioClient:
        if settings.api_key_sid and settings.api_key_secret:
            username, password = settings.api_key_sid, settings.api_key_secret
        else:
            username, password = settings.account_sid, settings.auth_token
        return cls(
            account_sid=settings.account_sid,
            username=username,
            password=password,
            api_base_url=settings.api_base_url,
            transport=transport,
        )

    @property
    def sends_dtmf(self) -> bool:
        return False  # TwiML <Play digits> would end the stream; the leg plays tones in-band

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---------------------------------------------------------------- CallControl

    async def dial(self, request: DialRequest) -> str:
        data: Form = {
            "To": request.to,
            "From": request.from_,
            "Twiml": _stream_twiml(request.stream),
            "Timeout": str(request.timeout_s),
        }
        if request.status_url:
            data["StatusCallback"] = request.status_url
            data["StatusCallbackEvent"] = list(STATUS_EVENTS)
        if request.machine_detection:
            data["MachineDetection"] = "Enable"
            data["AsyncAmd"] = "true"
            if request.machine_detection_url:
                data["AsyncAmdStatusCallback"] = request.machine_detection_url
        body = await self._post("/Calls.json", data)
        sid = body.get("sid")
        if not isinstance(sid, str):
            raise ProviderError("Twilio answered a call create without a sid")
        return sid

    async def answer(self, provider_call_id: str, stream: StreamTarget) -> None:
        await self._post(f"/Calls/{provider_call_id}.json", {"Twiml": _stream_twiml(stream)})

    async def transfer(self, provider_call_id: str, target: str) -> None:
        await self._post(f"/Calls/{provider_call_id}.json", {"Twiml": twiml.dial(target)})

    async def hangup(self, provider_call_id: str) -> None:
        await self._post(
            f"/Calls/{provider_call_id}.json", {"Status": "completed"}, gone_ok=True
        )

    async def send_dtmf(self, provider_call_id: str, digits: str) -> None:
        raise ProviderError("Twilio cannot send DTMF into a live stream; use in-band tones")

    async def fetch_call(self, provider_call_id: str) -> dict[str, Any]:
        response = await self._http.get(f"/Calls/{provider_call_id}.json")
        return _checked(response, gone_ok=False)

    async def _post(
        self, path: str, data: Form, *, gone_ok: bool = False
    ) -> dict[str, Any]:
        try:
            response = await self._http.post(path, data=data)
        except httpx.HTTPError as exc:
            raise ProviderError(f"Twilio API unreachable: {exc!r}") from exc
        return _checked(response, gone_ok=gone_ok)


def _stream_twiml(stream: StreamTarget) -> str:
    return twiml.connect_stream(
        stream_url=stream.url,
        parameters=stream.parameters,
        action_url=stream.action_url,
        status_url=stream.status_url,
    )


def _checked(response: httpx.Response, *, gone_ok: bool) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.is_success:
        return body
    code = body.get("code")
    if gone_ok and (response.status_code == 404 or code == NOT_FOUND_CODE):
        log.info("Twilio: call already ended (%s %s)", response.status_code, code)
        return body
    message = body.get("message") or response.text[:200]
    raise ProviderError(
        f"Twilio API {response.status_code}: {message}",
        status=response.status_code,
        code=str(code or ""),
    )
