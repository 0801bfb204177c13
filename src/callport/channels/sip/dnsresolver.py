"""The DNS resolver behind ``srv.Resolver``: SRV through dnspython's asyncio resolver, A/AAAA
through the system resolver (``getaddrinfo``, so /etc/hosts names such as localhost work).

Lookup failures (no such name, no answer, timeout) yield empty lists: the caller falls back
or reports the target unreachable; nothing raises out of here but a programming error.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import dns.asyncresolver
import dns.exception
import dns.rdtypes.IN.SRV

from callport.channels.sip.srv import SrvRecord

log = logging.getLogger(__name__)


class DnsResolver:
    def __init__(self, *, timeout: float = 3.0) -> None:
        self._resolver = dns.asyncresolver.Resolver()
        self._resolver.lifetime = timeout

    async def srv(self, name: str) -> list[SrvRecord]:
        try:
            answer = await self._resolver.resolve(name, "SRV")
        except dns.exception.DNSException as exc:
            log.debug("SRV %s: %s", name, exc)
            return []
        return [SrvRecord(r.priority, r.weight, r.port, r.target.to_text())
                for r in answer if isinstance(r, dns.rdtypes.IN.SRV.SRV)]

    async def addresses(self, host: str) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        except OSError as exc:
            log.debug("A/AAAA %s: %s", host, exc)
            return []
        out: list[str] = []
        for info in infos:
            address = str(info[4][0])
            if address not in out:
                out.append(address)
        return out
