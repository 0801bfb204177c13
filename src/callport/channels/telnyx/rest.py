"""Telnyx Call Control v2 REST commands, async over httpx.

Every command is ``POST {api_base_url}/v2/calls/{call_control_id}/actions/{name}`` with a
Bearer API key and a JSON body; dialing is ``POST /v2/calls``. Only the handful of
commands callport uses are here (answer with streaming, hangup, transfer, send_dtmf,
dial with streaming); the base URL is configurable so tests and local stand-ins can
replace Telnyx (tests pass an ``httpx.AsyncClient`` over ``httpx.MockTransport``).

Streaming is always bidirectional ``rtp`` (Telnyx's default, ``mp3``, queues whole files
at one message a second and is useless for conversation), inbound track only, and the
same codec both ways, so what we send is what the caller's leg carries.

``TelnyxCallControl`` implements ``callport.channels.provider.CallControl``. The shared
``StreamTarget`` carries our call id and stream token as ``parameters`` (keys ``call_id``
and ``token``): the call id travels as ``client_state`` (base64; Telnyx echoes it on every
webhook and in the stream's ``start``), the token as ``stream_auth_token`` (Telnyx returns
it in the ``connected`` frame and the ``x-telnyx-streaming-auth-token`` header).

Hanging up a call that already ended answers 422 with error code ``90018`` ("Call has
already ended"): that is success, since hang-up is idempotent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from callport.channels.provider import DialRequest, ProviderError, StreamTarget, split_target
from callport.channels.telnyx.media import encode_client_state, wire_format

__all__ = ["CALL_ENDED", "PARAM_CALL_ID", "PARAM_TOKEN", "TelnyxCallControl", "stream_fields"]

log = logging.getLogger(__name__)

CALL_ENDED = "90018"
PARAM_CALL_ID = "call_id"
PARAM_TOKEN = "token"


def stream_fields(stream: StreamTarget, *, codec: str) -> dict[str, Any]:
    """The ``stream_*`` and ``client_state`` fields of answer, dial or streaming_start."""
    fmt = wire_format(codec)
    out: dict[str, Any] = {
        "stream_url": stream.url,
        "stream_track": "inbound_track",
        "stream_codec": fmt.codec,
        "stream_bidirectional_mode": "rtp",
        "stream_bidirectional_codec": fmt.codec,
        "stream_bidirectional_sampling_rate": fmt.sample_rate,
        "stream_bidirectional_target_legs": "self",
    }
    token = stream.parameters.get(PARAM_TOKEN, "")
    if token:
        out["stream_auth_token"] = token
    call_id = stream.parameters.get(PARAM_CALL_ID, "")
    if call_id:
        out["client_state"] = encode_client_state(call_id)
    if stream.status_url:
        out["webhook_url"] = stream.status_url
    return out


class TelnyxCallControl:
    """The Call Control commands callport sends. One per channel; ``aclose`` at stop."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "https://api.telnyx.com",
        connection_id: str = "",
        codec: str = "PCMU",
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._api_key = api_key
        self._base = base_url.rstrip("/")
        self._connection_id = connection_id
        self._codec = codec
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_s)

    @property
    def sends_dtmf(self) -> bool:
        return True  # actions/send_dtmf works while the stream runs

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def _post(self, path: str, command: str, body: Mapping[str, Any]) -> dict[str, Any]:
        try:
            response = await self._http.post(
                self._base + path,
                json=dict(body),
                headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"telnyx {command}: {exc!r}") from exc
        try:
            doc = response.json() if response.content else {}
        except ValueError:
            doc = {}
        if response.is_success:
            return doc if isinstance(doc, dict) else {}
        errors = doc.get("errors") if isinstance(doc, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else {}
        first = first if isinstance(first, dict) else {}
        code = str(first.get("code", ""))
        detail = str(first.get("detail") or first.get("title") or "")[:300]
        raise ProviderError(
            f"telnyx {command}: HTTP {response.status_code} {code} {detail}".strip(),
            status=response.status_code,
            code=code,
        )

    async def _action(self, call_control_id: str, command: str, body: Mapping[str, Any]) -> None:
        path = f"/v2/calls/{quote(call_control_id, safe='')}/actions/{command}"
        await self._post(path, command, {**body, "command_id": str(uuid.uuid4())})

    async def answer(self, provider_call_id: str, stream: StreamTarget) -> None:
        """Answer and start bidirectional streaming in the same command."""
        await self._action(provider_call_id, "answer", stream_fields(stream, codec=self._codec))

    async def hangup(self, provider_call_id: str) -> None:
        """Hang up; a call that already ended (422, code 90018) counts as success."""
        try:
            await self._action(provider_call_id, "hangup", {})
        except ProviderError as exc:
            if exc.status == 422 and exc.code == CALL_ENDED:
                log.debug("hangup %s: the call had already ended", provider_call_id)
                return
            raise

    async def transfer(self, provider_call_id: str, target: str) -> None:
        """Blind transfer to ``tel:+E164`` / ``+E164`` or ``sip:...``."""
        _, to = split_target(target)
        await self._action(provider_call_id, "transfer", {"to": to})

    async def send_dtmf(self, provider_call_id: str, digits: str) -> None:
        await self._action(provider_call_id, "send_dtmf", {"digits": digits})

    async def dial(self, request: DialRequest) -> str:
        """Place an outbound call that streams once answered; returns its call_control_id."""
        if not self._connection_id:
            raise ProviderError("telnyx dial: set CALLPORT_TELNYX_CONNECTION_ID")
        body: dict[str, Any] = {
            "connection_id": self._connection_id,
            "to": split_target(request.to)[1],
            "from": request.from_,
            "timeout_secs": request.timeout_s,
            **stream_fields(request.stream, codec=self._codec),
        }
        if request.status_url:
            body["webhook_url"] = request.status_url
        if request.machine_detection:
            body["answering_machine_detection"] = "detect"
        doc = await self._post("/v2/calls", "dial", body)
        data = doc.get("data")
        ccid = data.get("call_control_id") if isinstance(data, dict) else None
        if not isinstance(ccid, str) or not ccid:
            raise ProviderError("telnyx dial: the answer has no call_control_id")
        return ccid
