"""Locating a SIP server (RFC 3263 §4): SRV ordering (RFC 2782) and the lookup sequence.

``order_srv`` is pure: it sorts by priority and, within one priority, picks by weight with
the random draw passed in (``pick(n)`` returns an int in [0, n]). ``locate`` runs RFC 3263's
steps for one transport through a small ``Resolver`` protocol, so tests inject records and
never touch the network: an IP address is used as is; a host with an explicit port gets
A/AAAA only; otherwise ``_sip._udp.<host>`` (or ``_sip._tcp``) SRV targets in order, falling
back to A/AAAA on 5060. ``locate_any`` picks the transport when none is given (§4.1 without
NAPTR): UDP if the host offers ``_sip._udp`` SRV records, else TCP if it offers ``_sip._tcp``,
else UDP on the A/AAAA addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

Addr = tuple[str, int]
DEFAULT_PORT = 5060


@dataclass(frozen=True, slots=True)
class SrvRecord:
    priority: int
    weight: int
    port: int
    target: str


class Resolver(Protocol):
    async def srv(self, name: str) -> list[SrvRecord]:
        """SRV records for ``name`` (empty when there are none or the name does not exist)."""
        ...

    async def addresses(self, host: str) -> list[str]:
        """A and AAAA addresses of ``host`` (empty when it does not resolve)."""
        ...


def order_srv(records: Sequence[SrvRecord], pick: Callable[[int], int]) -> list[SrvRecord]:
    """RFC 2782 order: ascending priority; within a priority, weighted random selection."""
    usable = [r for r in records if r.target not in ("", ".")]  # "." = service not offered
    out: list[SrvRecord] = []
    for priority in sorted({r.priority for r in usable}):
        group = [r for r in usable if r.priority == priority]
        group.sort(key=lambda r: r.weight != 0)  # zero weights first, as RFC 2782 says
        while group:
            total = sum(r.weight for r in group)
            draw = pick(total)
            running = 0
            for index, record in enumerate(group):
                running += record.weight
                if running >= draw:
                    out.append(group.pop(index))
                    break
            else:  # a draw outside [0, total]: take the last one rather than loop forever
                out.append(group.pop())
    return out


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


async def _srv_targets(host: str, transport: str, resolver: Resolver,
                       pick: Callable[[int], int]) -> list[Addr]:
    targets: list[Addr] = []
    for record in order_srv(await resolver.srv(f"_sip._{transport}.{host}"), pick):
        for address in await resolver.addresses(record.target.rstrip(".")):
            targets.append((address, record.port))
    return targets


async def locate(host: str, port: int | None, resolver: Resolver,
                 pick: Callable[[int], int], *, transport: str = "udp") -> list[Addr]:
    """Addresses to try, best first, for a ``sip:`` URI's host[:port] over ``transport``."""
    if _is_ip(host):
        return [(host.strip("[]"), port or DEFAULT_PORT)]
    if port is None:
        targets = await _srv_targets(host, transport.lower(), resolver, pick)
        if targets:
            return targets
    return [(address, port or DEFAULT_PORT) for address in await resolver.addresses(host)]


async def locate_any(host: str, port: int | None, resolver: Resolver,
                     pick: Callable[[int], int]) -> tuple[str, list[Addr]]:
    """(transport, addresses) when the URI names no transport: RFC 3263 §4.1 SRV probing."""
    if _is_ip(host) or port is not None:
        return "udp", await locate(host, port, resolver, pick)
    for transport in ("udp", "tcp"):
        targets = await _srv_targets(host, transport, resolver, pick)
        if targets:
            return transport, targets
    return "udp", [(address, DEFAULT_PORT) for address in await resolver.addresses(host)]
