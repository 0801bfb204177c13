"""The REST hang-up a media-stream bot calls, served by callport (an asyncio HTTP/1.1 driver).

A Pipecat bot with ``TwilioFrameSerializer(base_url=...)`` ends the call with
``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` (``Status=completed``,
HTTP Basic with the account sid and auth token); a Telnyx-shaped one with
``POST {base}/v2/calls/{id}/actions/hangup`` (Bearer). ``agent.api_base_url`` says where
callport listens for them (``http://127.0.0.1:0``: loopback, a free port); the bot is handed
the URL actually served, with the credentials, in the stream's custom parameters. The routing
and the credential check are ``media_bot_protocol.rest_request`` (pure); this module is the
socket. One server per process, started by the first call that needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from callport.agents.adapters import media_bot_protocol as wire

log = logging.getLogger(__name__)

__all__ = ["BotApi", "bot_api"]

MAX_BODY = 64 * 1024
KEEP_GONE = 1000  # ended calls remembered, so a late hang-up gets "already ended"


@dataclass(slots=True)
class _Call:
    dialect: wire.Dialect
    account: str
    secret: str
    hang_up: Callable[[], None] | None  # None once the call ended


class BotApi:
    def __init__(self, *, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"agent.api_base_url {base_url!r}: expected http://host:port[/path]")
        self._host = parts.hostname
        self._port = parts.port or 0
        self._prefix = parts.path.rstrip("/")
        self._configured = base_url
        self._server: asyncio.Server | None = None
        self._starting: asyncio.Lock | None = None
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self.url = ""
        self.requests = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> str:
        """Listen (once); the base URL bots use."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._server is None:
                self._server = await asyncio.start_server(self._serve, self._host, self._port)
                port = self._server.sockets[0].getsockname()[1]
                configured = urlsplit(self._configured)
                self.url = (f"{configured.scheme}://{self._host}:{port}{self._prefix}"
                            if not configured.port else self._configured.rstrip("/"))
                log.info("agent REST API (bot hang-up) on %s", self.url)
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def register(self, call_id: str, *, dialect: wire.Dialect, account: str, secret: str,
                 hang_up: Callable[[], None]) -> None:
        self._calls[call_id] = _Call(dialect, account, secret, hang_up)

    def ended(self, call_id: str) -> None:
        entry = self._calls.get(call_id)
        if entry is not None:
            entry.hang_up = None
        while len(self._calls) > KEEP_GONE:
            self._calls.popitem(last=False)

    def _twilio_secret(self, account: str) -> str | None:
        for entry in reversed(self._calls.values()):
            if entry.dialect == "twilio" and entry.account == account:
                return entry.secret
        return None

    def _telnyx_secret(self, call_id: str) -> str | None:
        entry = self._calls.get(call_id)
        return entry.secret if entry is not None and entry.dialect == "telnyx" else None

    def answer(self, method: str, path: str, headers: dict[str, str],
               body: bytes) -> wire.RestAnswer:
        self.requests += 1
        result = wire.rest_request(method, path, headers, body, prefix=self._prefix,
                                   twilio_secret=self._twilio_secret,
                                   telnyx_secret=self._telnyx_secret)
        if isinstance(result, wire.RestAnswer):
            return result
        entry = self._calls.get(result.call_id)
        if result.dialect == "twilio":
            account = path.split("/Accounts/", 1)[1].split("/", 1)[0]
            if entry is None or entry.account != account or entry.hang_up is None:
                return wire.twilio_gone(result.call_id)
            entry.hang_up()
            entry.hang_up = None
            return wire.twilio_done(account, result.call_id)
        if entry is None or entry.hang_up is None:
            return wire.telnyx_gone()
        entry.hang_up()
        entry.hang_up = None
        return wire.telnyx_done()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            async with asyncio.timeout(10):
                request: h11.Request | None = None
                body = b""
                while True:
                    event = conn.next_event()
                    if event is h11.NEED_DATA:
                        data = await reader.read(8192)
                        conn.receive_data(data)
                        if not data:
                            return
                        continue
                    if isinstance(event, h11.Request):
                        request = event
                    elif isinstance(event, h11.Data):
                        body += event.data
                        if len(body) > MAX_BODY:
                            return
                    elif isinstance(event, h11.EndOfMessage) and request is not None:
                        break
                    elif isinstance(event, h11.ConnectionClosed):
                        return
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
                answer = self.answer(request.method.decode(), request.target.decode().split("?")[0],
                                     headers, body)
                payload = json.dumps(answer.body).encode()
                writer.write(conn.send(h11.Response(status_code=answer.status, headers=[
                    ("content-type", "application/json"), ("content-length", str(len(payload))),
                    ("connection", "close")])) or b"")
                writer.write(conn.send(h11.Data(data=payload)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
        except (h11.RemoteProtocolError, TimeoutError, OSError) as exc:
            log.info("agent REST API: bad request (%s)", exc)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


_APIS: dict[str, BotApi] = {}


def bot_api(base_url: str) -> BotApi:
    """The process's server for ``base_url`` (one per configured URL and event loop)."""
    loop = asyncio.get_running_loop()
    api = _APIS.get(base_url)
    if api is None or api.loop is not loop:
        api = _APIS[base_url] = BotApi(base_url=base_url)
        api.loop = loop
    return api
