"""The asyncio driver of one provider media-stream WebSocket, feeding a ``MediaStreamLeg``.

``run_media_stream`` reads frames through the provider's sans-IO ``MediaCore``, admits the
stream on its ``start`` (``admit`` checks the token and returns an ``Admission``), starts
the call flow on a ``MediaStreamLeg`` and feeds it until the socket ends;
``run_websocket_stream`` runs it on a Starlette WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.types import Receive as ASGIReceive
from starlette.types import Send as ASGISend
from starlette.websockets import WebSocket, WebSocketDisconnect

from callport.agents.base import CallInfo
from callport.call.leg import Leg
from callport.channels.media_leg import (
    DEFAULT_LEAD_MS,
    CloseSocket,
    MediaStreamLeg,
    SendText,
)
from callport.channels.provider import (
    CallControl,
    MediaCore,
    StreamConnected,
    StreamStart,
    StreamViolation,
)
from callport.edgelog import EDGE

log = logging.getLogger(__name__)

__all__ = ["Admission", "run_media_stream", "run_websocket_stream"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    """What ``admit`` grants a stream whose ``start`` checked out."""

    info: CallInfo
    control: CallControl | None = None
    on_transfer: Callable[[str | None], None] | None = None  # None: the carrier refused


Receive = Callable[[], Awaitable[str | bytes | None]]  # None: the socket closed
# ``admit`` may be a coroutine function (the PSTN template spends the token across nodes)
Admit = Callable[[StreamStart, StreamConnected | None],
                 Admission | Awaitable[Admission | None] | None]
RunCall = Callable[[Leg, CallInfo], Awaitable[object]]

POLICY_VIOLATION = 1008
ADMISSION_S = 5.0  # limits.ws_admission_s: the default of every caller that names none
PROTOCOL_ERROR = 1002


async def run_media_stream(
    *,
    receive: Receive,
    send_text: SendText,
    close_socket: CloseSocket,
    core: MediaCore,
    admit: Admit,
    run_call: RunCall,
    lead_ms: float = DEFAULT_LEAD_MS,
    on_violation: Callable[[StreamViolation], None] | None = None,
    admission_s: float = ADMISSION_S,
) -> MediaStreamLeg | None:
    """Drive one media WebSocket to its end; returns the leg (None if none was admitted).

    Nothing starts before a ``start`` that ``admit`` accepts; a refused start closes the
    socket with 1008, and so does no admitted start within ``admission_s`` of the first
    read (``limits.ws_admission_s``: a socket is not held for free). Bad frames are reported
    to ``on_violation`` and skipped; only a fatal one closes the socket. When the call flow
    returns, the leg is hung up.
    """
    leg: MediaStreamLeg | None = None
    connected: StreamConnected | None = None
    task: asyncio.Task[None] | None = None
    admit_by = asyncio.get_running_loop().time() + admission_s

    async def next_frame() -> str | bytes | None:
        if leg is not None:
            return await receive()
        try:
            async with asyncio.timeout_at(admit_by):
                return await receive()
        except TimeoutError:
            allowed, _ = EDGE.report("media", "admission-timeout", now=admit_by)
            if allowed:  # counted always (/metrics); logged a few times a minute at most
                log.info("media stream: no admitted start within %g s; closing", admission_s)
            await close_socket(POLICY_VIOLATION)
            return None

    try:
        while (frame := await next_frame()) is not None:
            if isinstance(frame, str):
                events = core.receive_text(frame)
            else:
                events = core.receive_bytes(frame)
            for event in events:
                match event:
                    case StreamViolation(fatal=fatal):
                        if on_violation is not None:
                            on_violation(event)
                        if fatal:
                            await close_socket(PROTOCOL_ERROR)
                            return leg
                    case StreamConnected():
                        connected = event
                    case StreamStart() if leg is None:
                        admitted = admit(event, connected)
                        admission = (await admitted if inspect.isawaitable(admitted)
                                     else admitted)
                        if admission is None:
                            await close_socket(POLICY_VIOLATION)
                            return None
                        leg = MediaStreamLeg(
                            call_id=admission.info.call_id,
                            start=event,
                            core=core,
                            send_text=send_text,
                            close_socket=close_socket,
                            control=admission.control,
                            lead_ms=lead_ms,
                            on_transfer=admission.on_transfer,
                        )
                        task = asyncio.create_task(_run_flow(run_call, leg, admission.info))
                    case _ if leg is not None:
                        leg.feed(event)
    finally:
        if leg is not None:
            leg.close("disconnected")
        if task is not None:
            await asyncio.shield(task)
    return leg


async def run_websocket_stream(
    websocket: WebSocket,
    *,
    core: MediaCore,
    admit: Admit,
    run_call: RunCall,
    lead_ms: float = DEFAULT_LEAD_MS,
    on_violation: Callable[[StreamViolation], None] | None = None,
    admission_s: float = ADMISSION_S,
) -> MediaStreamLeg | None:
    """Accept ``websocket`` and drive it with ``run_media_stream`` (text or binary frames).

    After the accept, frames are read and written through the connection's own ASGI
    ``receive``/``send`` (``asgi_channel``): the Starlette wrapper's state checks per
    message are not needed once the socket is open, and the media path is 100 of them a
    second per call. The door checks all come before (the channel's, then ``admit``'s).
    """
    await websocket.accept()
    asgi_receive, asgi_send = asgi_channel(websocket)

    async def receive() -> str | bytes | None:
        try:
            message = await asgi_receive()
        except (WebSocketDisconnect, RuntimeError, OSError):
            return None
        if message["type"] != "websocket.receive":
            return None  # websocket.disconnect
        text = message.get("text")
        return text if isinstance(text, str) else bytes(message.get("bytes") or b"")

    async def send_text(text: str) -> None:
        await asgi_send({"type": "websocket.send", "text": text})

    async def close_socket(code: int) -> None:
        with contextlib.suppress(Exception):  # already closed
            await websocket.close(code)

    return await run_media_stream(
        receive=receive, send_text=send_text, close_socket=close_socket, core=core,
        admit=admit, run_call=run_call, lead_ms=lead_ms, on_violation=on_violation,
        admission_s=admission_s,
    )


def asgi_channel(websocket: WebSocket) -> tuple[ASGIReceive, ASGISend]:
    """The ASGI ``receive``/``send`` under a Starlette ``WebSocket`` (its wrappers where a
    Starlette without those attributes hides them)."""
    receive = getattr(websocket, "_receive", None)
    send = getattr(websocket, "_send", None)
    if callable(receive) and callable(send):
        return receive, send
    return websocket.receive, websocket.send


async def _run_flow(run_call: RunCall, leg: MediaStreamLeg, info: CallInfo) -> None:
    try:
        await run_call(leg, info)
    except Exception:
        log.exception("call %s: call flow failed", info.call_id)
    finally:
        await leg.hangup("flow-ended")

