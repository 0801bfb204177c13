"""Twilio's part of the neutral outbound protocol: how a dial request is built.

``prepare`` turns (target, caller id, options) into our call record and a REST ``DialRequest``
whose inline TwiML streams the answered call back to ``twilio.public_base_url`` with a
stateless stream token (keyed by the auth token), so the server admits the call even when
another process (``callport call``) placed it. ``dialer`` is the ``callport.call.dial.Dialer``
for such a process: it polls the call's status over REST, since no callback reaches it.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from callport.call.dial import Answered, Dialer, DialOptions
from callport.channels.callbook import ProviderCall
from callport.channels.node_urls import node_addressed, node_stream_path
from callport.channels.provider import (
    CallControl,
    DialRequest,
    StreamTarget,
    public_base,
    split_target,
    stream_url,
)
from callport.channels.pstn_dial import NotConfigured, PstnDialer
from callport.channels.twilio import tokens
from callport.channels.twilio.rest import TwilioClient
from callport.config import Settings, TwilioSettings

__all__ = ["client_of", "dial_out", "dialer", "open_dialer", "prepare"]


def prepare(
    settings: TwilioSettings, target: str, caller_id: str, options: DialOptions, now: float,
    *, node: str = "",
) -> tuple[ProviderCall, DialRequest]:
    """Our record of the call and Twilio's dial request (``NotConfigured``, ``ValueError``);
    with ``node``, its URLs lead back to that node (``callport.channels.node_urls``)."""
    if not settings.auth_token:
        raise NotConfigured("twilio: outbound calls need twilio.auth_token (it signs the stream)")
    base = public_base(settings.public_base_url)
    if not base:
        raise NotConfigured("twilio: outbound calls need twilio.public_base_url")
    caller = caller_id or (settings.numbers[0] if settings.numbers else "")
    if not caller:
        raise NotConfigured("twilio: no caller number: pass from or set twilio.numbers")
    _, to = split_target(target)
    call = ProviderCall(call_id=uuid.uuid4().hex, provider="twilio", direction="outbound",
                        caller=caller, callee=to)
    parameters = tokens.mint(
        tokens.derive_key(settings.auth_token), call_id=call.call_id, direction="outbound",
        caller=caller, callee=to, provider_call_id="", expires_at=now + settings.token_ttl_s,
    )
    status_url = node_addressed(base + settings.status_path, node)
    request = DialRequest(
        to=to, from_=caller,
        stream=StreamTarget(url=stream_url(base, node_stream_path(settings.media_path, node)),
                            parameters=parameters, status_url=status_url,
                            action_url=node_addressed(base + settings.after_path, node)),
        status_url=status_url,
        machine_detection=options.machine_detection,
        machine_detection_url=status_url,
        timeout_s=max(5, min(600, round(options.timeout_s))),
    )
    return call, request


async def dial_out(
    settings: TwilioSettings, control: CallControl, to: str, from_: str = "", *, now: float
) -> tuple[ProviderCall, str]:
    """Place an outbound call whose stream comes back to ``public_base_url`` (no waiting)."""
    call, request = prepare(settings, to, from_, DialOptions(), now)
    call.provider_call_id = await control.dial(request)
    return call, call.provider_call_id


def client_of(
    settings: TwilioSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> TwilioClient | None:
    """The REST client, when the settings have an account SID and a secret to use it with."""
    has_secret = settings.auth_token or (settings.api_key_sid and settings.api_key_secret)
    if not settings.account_sid or not has_secret:
        return None
    return TwilioClient.from_settings(settings, transport=transport)


def dialer(
    settings: TwilioSettings, *, transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[Dialer, TwilioClient | None]:
    """A standalone Twilio ``Dialer`` (and its client, to close) for a process without the
    channel: it learns the outcome by fetching the call's status."""
    client = client_of(settings, transport=transport)

    async def poll(sid: str) -> str:
        assert client is not None
        return str((await client.fetch_call(sid)).get("status", ""))

    return PstnDialer(
        name="twilio", control=lambda: client, clock=clock, poll=poll,
        prepare=lambda t, c, o, n: prepare(settings, t, c, o, n),
    ), client


async def _no_wait(_: Answered) -> None:
    return None  # the answered call's media goes to the server, not to this process


@contextlib.asynccontextmanager
async def open_dialer(
    settings: Settings, *, runtime: Callable[[], object]
) -> AsyncIterator[tuple[Dialer, Callable[[Answered], Awaitable[None]]]]:
    """``callport.channels.carriers.open_dialer`` for Twilio."""
    twilio, client = dialer(settings.twilio)
    try:
        yield twilio, _no_wait
    finally:
        if client is not None:
            await client.aclose()
