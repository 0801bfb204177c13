"""Telnyx's part of the neutral outbound protocol: how a dial request is built.

``prepare`` turns (target, caller id, options) into our call record and a Call Control dial
with streaming requested at dial time, so the server's media route gets the call as soon as
it is answered; the stream token is signed with the secret the server shares
(``tokens.stream_secret``) and expires after ``telnyx.token_ttl_s``, so another process can
place the call. The server takes Telnyx calls only with ``telnyx.public_key`` set, so
dialling without one is refused (``NotConfigured``). ``dialer`` is the ``Dialer`` for a
process without the channel: no callback reaches it and Call Control's call status carries no
hang-up cause, so it answers ``Placed`` once Telnyx accepted the call.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from callport.call.dial import Answered, Dialer, DialOptions
from callport.channels.callbook import ProviderCall
from callport.channels.node_urls import node_addressed, node_stream_path
from callport.channels.provider import (
    DialRequest,
    StreamTarget,
    public_base,
    split_target,
    stream_url,
)
from callport.channels.pstn_dial import NotConfigured, PstnDialer
from callport.channels.telnyx import tokens
from callport.channels.telnyx.rest import PARAM_CALL_ID, PARAM_TOKEN, TelnyxCallControl
from callport.config import Settings, TelnyxSettings

__all__ = ["dialer", "media_url", "open_dialer", "prepare"]


def media_url(settings: TelnyxSettings, request_url: str = "", *, node: str = "") -> str:
    """``wss://`` URL of our media route, under ``public_base_url`` or the request's origin
    (for ``node``: its own route, ``callport.channels.node_urls``)."""
    return stream_url(public_base(settings.public_base_url, request_url),
                      node_stream_path(settings.media_path, node))


def prepare(
    settings: TelnyxSettings, target: str, caller_id: str, options: DialOptions, now: float,
    *, node: str = "",
) -> tuple[ProviderCall, DialRequest]:
    """Our record of the call and the Call Control dial (``NotConfigured``, ``ValueError``);
    with ``node``, its URLs lead back to that node."""
    if not settings.api_key or not settings.public_base_url:
        raise NotConfigured("set CALLPORT_TELNYX_API_KEY and CALLPORT_TELNYX_PUBLIC_BASE_URL "
                            "first")
    if not settings.public_key:
        raise NotConfigured("set CALLPORT_TELNYX_PUBLIC_KEY first: the server refuses Telnyx "
                            "webhooks and streams without it")
    caller = caller_id or (settings.numbers[0] if settings.numbers else "")
    if not caller:
        raise NotConfigured("no caller id: pass --from or set CALLPORT_TELNYX_NUMBERS")
    _, to = split_target(target)
    call = ProviderCall(call_id=tokens.new_call_id(), provider="telnyx", direction="outbound",
                        caller=caller, callee=to)
    token = tokens.mint(tokens.stream_secret(settings), call.call_id,
                        expires_at=now + settings.token_ttl_s)
    request = DialRequest(
        to=to, from_=caller,
        stream=StreamTarget(url=media_url(settings, node=node),
                            parameters={PARAM_CALL_ID: call.call_id, PARAM_TOKEN: token}),
        status_url=node_addressed(settings.public_base_url.rstrip("/") + settings.webhook_path,
                                  node),
        machine_detection=False,
        timeout_s=max(5, min(600, round(options.timeout_s))),
    )
    return call, request


def control_of(settings: TelnyxSettings, *, http: httpx.AsyncClient | None = None
               ) -> TelnyxCallControl:
    return TelnyxCallControl(api_key=settings.api_key, base_url=settings.api_base_url,
                             connection_id=settings.connection_id, codec=settings.codec,
                             http=http)


def dialer(
    settings: TelnyxSettings, *, http: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[Dialer, TelnyxCallControl]:
    """A standalone Telnyx ``Dialer`` (and its control, to close) for a process without the
    channel: it answers ``Placed`` (see the module docstring)."""
    control = control_of(settings, http=http)
    return PstnDialer(
        name="telnyx", control=lambda: control, clock=clock,
        prepare=lambda t, c, o, n: prepare(settings, t, c, o, n),
    ), control


async def _no_wait(_: Answered) -> None:
    return None  # the answered call's media goes to the server, not to this process


@contextlib.asynccontextmanager
async def open_dialer(
    settings: Settings, *, runtime: Callable[[], object]
) -> AsyncIterator[tuple[Dialer, Callable[[Answered], Awaitable[None]]]]:
    """``callport.channels.carriers.open_dialer`` for Telnyx."""
    telnyx, control = dialer(settings.telnyx)
    try:
        yield telnyx, _no_wait
    finally:
        await control.aclose()
