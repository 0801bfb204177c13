"""Named SIP trunks (``[sip.trunks.NAME]``) as neutral Dialers on the one SIP channel, and
their SIP OPTIONS health pings.

``trunk_dialers(channel)`` gives one ``callport.call.dial.Dialer`` per configured trunk,
named after it: the channel's sockets, user agents and RTP ports, but the trunk's address,
transport, digest credentials and caller ID (a ``TargetLocator`` of its own), so routing can
choose between trunks per call.

``ping(trunk, ...)`` sends one OPTIONS (RFC 3261 §11) from a short-lived UDP socket to the
trunk's first resolved address and returns (alive, detail): any final answer below 500 is
alive (a trunk that answers 403/404/405 to an unauthenticated OPTIONS is still up); a 5xx,
no answer within the timeout, or a name that does not resolve is not.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Any

from callport.call.dial import DialOptions, DialResult
from callport.channels.sip.dialer import Dialer as InviteDialer
from callport.channels.sip.dialer import SipOutbound
from callport.channels.sip.leg import SipLeg
from callport.channels.sip.message import SipParseError, SipRequest, SipResponse, parse_message
from callport.channels.sip.targets import TargetError, TargetLocator
from callport.config import SipSettings
from callport.config_routing import SipTrunk

__all__ = ["TelTargets", "ping", "trunk_dialers", "trunk_settings"]


def trunk_settings(base: SipSettings, trunk: SipTrunk) -> SipSettings:
    """The channel's settings with the trunk's outbound fields."""
    return replace(base, trunk_address=trunk.address, trunk_transport=trunk.transport,
                   trunk_username=trunk.username, trunk_password=trunk.password,
                   caller_id=trunk.caller_id or base.caller_id, register_aor="")


class _TrunkHost:
    """The channel as the INVITE dialer sees it, with one trunk's settings and targets."""

    def __init__(self, channel: Any, trunk: SipTrunk) -> None:
        self._channel = channel
        self.settings = trunk_settings(channel.settings, trunk)
        self.targets = TargetLocator(settings=self.settings, resolver=channel.targets.resolver)
        self._invites = InviteDialer(host=self)

    def __getattr__(self, name: str) -> Any:  # calls, pool, now, apply, make_leg, ...
        return getattr(self._channel, name)

    async def dial(self, target: str, *, timeout: float = 30.0) -> SipLeg:
        if target.startswith("+"):  # a bare E.164 number (routing's targets): tel:
            target = "tel:" + target
        return await self._invites.dial(target, timeout=timeout)

    def start_call(self, leg: SipLeg) -> asyncio.Task[None]:
        task: asyncio.Task[None] = self._channel.start_call(leg)
        return task


def trunk_dialers(channel: Any) -> dict[str, SipOutbound]:
    """One Dialer per ``sip.trunks`` entry of ``channel`` (a started ``SipChannel``)."""
    out = {}
    for trunk in channel.settings.trunks:
        dialer = SipOutbound(host=_TrunkHost(channel, trunk))
        dialer.name = trunk.name
        out[trunk.name] = dialer
    return out


class _Answer(asyncio.DatagramProtocol):
    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.done: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = parse_message(data)
        except SipParseError:
            return
        if (isinstance(msg, SipResponse) and msg.call_id == self.call_id and msg.status >= 200
                and not self.done.done()):
            self.done.set_result(msg)


async def ping(trunk: SipTrunk, *, base: SipSettings, resolver: Any,
               timeout_s: float = 2.0) -> tuple[bool, str]:
    """One OPTIONS to ``trunk``: (alive, what happened) (module docstring)."""
    settings = trunk_settings(base, trunk)
    try:
        route = await TargetLocator(settings=settings, resolver=resolver).registrar()
    except TargetError as exc:
        return False, str(exc)
    host, port = route.peer
    loop = asyncio.get_running_loop()
    call_id = secrets.token_hex(10)
    transport, proto = await loop.create_datagram_endpoint(
        lambda: _Answer(call_id), remote_addr=(host, port))
    try:
        local_host, local_port = transport.get_extra_info("sockname")[:2]
        uri = f"sip:{host}:{port}"
        req = SipRequest(method="OPTIONS", uri=uri, headers=(
            ("Via", f"SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{secrets.token_hex(8)}"
                    ";rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{settings.user}@{local_host}>;tag={secrets.token_hex(4)}"),
            ("To", f"<{uri}>"), ("Call-ID", call_id), ("CSeq", "1 OPTIONS"),
            ("Accept", "application/sdp")))
        transport.sendto(bytes(req))
        try:
            answer = await asyncio.wait_for(asyncio.shield(proto.done), timeout_s)
        except TimeoutError:
            return False, f"OPTIONS to {host}:{port}: no answer in {timeout_s:g} s"
        alive = answer.status < 500
        return alive, f"OPTIONS {answer.status} {answer.reason}"
    finally:
        transport.close()


class TelTargets:
    """A SIP Dialer that also takes bare E.164 numbers (``+1555...`` -> ``tel:+1555...``),
    as routing passes them; everything else goes through unchanged."""

    def __init__(self, dialer: SipOutbound) -> None:
        self.dialer = dialer
        self.name = dialer.name

    async def dial(self, target: str, caller_id: str = "",
                   options: DialOptions | None = None) -> DialResult:
        if target.startswith("+"):
            target = "tel:" + target
        return await self.dialer.dial(target, caller_id, options)

    async def finished(self, call_id: str) -> None:
        await self.dialer.finished(call_id)
