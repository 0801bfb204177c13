"""Where an outbound request goes: trunk rules, transport choice and RFC 3263 targets.

``TargetLocator`` turns what the application dials (``tel:+1555``, ``sip:bob@host``) into a
``Route``: the Request-URI, the transport (UDP or TCP) and every address to try, best first.
Rules, in order:

- ``tel:`` numbers become ``sip:<number>@<trunk_address>``; a URI whose host is a name (or
  the trunk itself) goes to the trunk when one is set, an IP-literal URI goes straight there.
- The transport is the URI's ``;transport=`` parameter, else ``sip.trunk_transport`` for the
  trunk, else RFC 3263 §4.1 probing (SRV ``_sip._udp``, then ``_sip._tcp``, else UDP).
- The addresses are the SRV targets in priority/weight order (RFC 2782), or A/AAAA on the
  port given (5060 by default); the user agent fails over along them (§4.3).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from callport.channels.sip.dialog import is_ip
from callport.channels.sip.message import SipParseError, SipUri
from callport.channels.sip.srv import Resolver, locate, locate_any
from callport.config import SipSettings

Addr = tuple[str, int]


class TargetError(ValueError):
    """A target we cannot route (``tel:`` without a trunk, a name that does not resolve)."""


@dataclass(frozen=True, slots=True)
class Route:
    uri: str  # Request-URI
    transport: str  # "UDP" or "TCP"
    addrs: tuple[Addr, ...]  # best first, never empty

    @property
    def peer(self) -> Addr:
        return self.addrs[0]

    @property
    def fallbacks(self) -> tuple[Addr, ...]:
        return self.addrs[1:]


def split_addr(text: str) -> tuple[str, int | None]:
    """``host[:port]`` -> (host, port or None)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return text, None
    return host, int(port)


def _pick(total: int) -> int:
    return random.randint(0, total)


class TargetLocator:
    def __init__(self, *, settings: SipSettings, resolver: Resolver,
                 pick: Callable[[int], int] = _pick) -> None:
        self.settings = settings
        self.resolver = resolver
        self.pick = pick

    def request_uri(self, target: str) -> str:
        """``tel:+1555`` -> ``sip:+1555@trunk`` when a trunk is set; anything else as is."""
        uri = SipUri.parse(target)
        trunk = self.settings.trunk_address
        if uri.scheme == "tel" and trunk:
            return f"sip:{uri.user}@{trunk}"
        return target

    async def route(self, target: str) -> Route:
        """The route for an INVITE (or REFER target) to ``target``."""
        try:
            request_uri = self.request_uri(target)
            uri = SipUri.parse(request_uri)
        except SipParseError as exc:
            raise TargetError(f"bad target {target!r}: {exc}") from None
        if uri.scheme == "tel":
            raise TargetError("tel: numbers need sip.trunk_address")
        forced = str(uri.params.get("transport") or "").lower()
        if forced not in ("", "udp", "tcp"):
            raise TargetError(f"transport={forced} is not supported (udp, tcp)")
        trunk = self.settings.trunk_address
        if trunk and (not is_ip(uri.host) or uri.host == split_addr(trunk)[0]):
            return await self._locate(request_uri, *split_addr(trunk),
                                      forced or self.settings.trunk_transport.lower())
        return await self._locate(request_uri, uri.host, uri.port, forced)

    async def registrar(self) -> Route:
        """The route for REGISTER: the trunk address, its transport setting, RFC 3263."""
        trunk = self.settings.trunk_address
        return await self._locate("", *split_addr(trunk), self.settings.trunk_transport.lower())

    async def _locate(self, request_uri: str, host: str, port: int | None,
                      transport: str) -> Route:
        if transport in ("udp", "tcp"):
            addrs = await locate(host, port, self.resolver, self.pick, transport=transport)
        else:
            transport, addrs = await locate_any(host, port, self.resolver, self.pick)
        if not addrs:
            raise TargetError(f"cannot resolve {host}")
        return Route(request_uri, transport.upper(), tuple(addrs))
