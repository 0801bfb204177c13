"""The location service of callport's registrar: which contacts reach each agent, until when.

RFC 3261 §10.3 steps 6-8 as a pure table: one ``Binding`` per (agent, contact URI), with
the Call-ID and CSeq of the REGISTER that made it (a request that is not newer than the
binding it updates is refused, §10.3 step 7), the address the REGISTER came from and its
transport (where requests to the phone go: a phone behind NAT is reached at the source of
its REGISTER, as Kamailio's ``fix_nated_register`` does, not at the private address it
writes in its Contact) and the time it expires. Expired bindings are never returned and are
dropped by ``expire(now)``. Memory is bounded: at most ``max_per_agent`` contacts per agent
(the oldest is dropped first) and ``max_agents`` agents.

No I/O: ``now`` is an argument (the driver's monotonic clock).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from callport.channels.sip.message import SipParseError, SipUri

Addr = tuple[str, int]

__all__ = ["Binding", "Location", "same_contact"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """One registered contact of ``agent``."""

    agent: str
    contact: str  # the Contact URI as the phone wrote it (the Request-URI of our INVITE)
    source: Addr  # where the REGISTER came from: where the INVITE goes
    transport: str  # "UDP" or "TCP"
    expires_at: float
    call_id: str
    cseq: int
    registered_at: float
    user_agent: str = ""

    def remaining(self, now: float) -> int:
        """Whole seconds left, as the 200 OK's ``;expires=`` says it (never negative)."""
        return max(0, int(self.expires_at - now + 0.5))


def same_contact(a: str, b: str) -> bool:
    """RFC 3261 §19.1.4 URI equality, as far as bindings need it: scheme, user, host
    (case-insensitive) and port (defaulting to 5060), plus the transport parameter."""
    try:
        x, y = SipUri.parse(a), SipUri.parse(b)
    except SipParseError:
        return a == b

    def key(u: SipUri) -> tuple[str, str, str, int, str]:
        transport = (u.params.get("transport") or "udp").lower()
        return (u.scheme, u.user, u.host.lower(), u.port or 5060, transport)

    return key(x) == key(y)


class Location:
    """The bindings of every agent (the registrar's location service)."""

    def __init__(self, *, max_per_agent: int = 10, max_agents: int = 10_000) -> None:
        self.max_per_agent = max_per_agent
        self.max_agents = max_agents
        self._by_agent: dict[str, list[Binding]] = {}

    def bindings(self, agent: str, now: float) -> list[Binding]:
        """``agent``'s live bindings, most recently registered first."""
        live = [b for b in self._by_agent.get(agent, ()) if b.expires_at > now]
        return sorted(live, key=lambda b: b.registered_at, reverse=True)

    def agents(self, now: float) -> list[str]:
        """Agents with at least one live binding, by name."""
        return sorted(a for a in self._by_agent if self.bindings(a, now))

    def find(self, agent: str, contact: str) -> Binding | None:
        return next((b for b in self._by_agent.get(agent, ()) if same_contact(b.contact, contact)),
                    None)

    def put(self, binding: Binding) -> None:
        """Add or replace the binding for ``(binding.agent, binding.contact)``."""
        rows = [b for b in self._by_agent.get(binding.agent, ())
                if not same_contact(b.contact, binding.contact)]
        if binding.agent not in self._by_agent and len(self._by_agent) >= self.max_agents:
            return
        rows.append(binding)
        rows.sort(key=lambda b: b.registered_at)
        self._by_agent[binding.agent] = rows[-self.max_per_agent:]

    def refresh(self, binding: Binding, *, expires_at: float, cseq: int, now: float) -> None:
        self.put(replace(binding, expires_at=expires_at, cseq=cseq, registered_at=now))

    def remove(self, agent: str, contact: str) -> bool:
        rows = self._by_agent.get(agent, [])
        kept = [b for b in rows if not same_contact(b.contact, contact)]
        if kept:
            self._by_agent[agent] = kept
        else:
            self._by_agent.pop(agent, None)
        return len(kept) != len(rows)

    def remove_agent(self, agent: str) -> int:
        """Forget every binding of ``agent`` (un-register with ``*``, or no longer an agent)."""
        return len(self._by_agent.pop(agent, []))

    def expire(self, now: float) -> list[Binding]:
        """Drop the bindings that have expired; returns them."""
        gone: list[Binding] = []
        for agent in list(self._by_agent):
            rows = self._by_agent[agent]
            gone += [b for b in rows if b.expires_at <= now]
            kept = [b for b in rows if b.expires_at > now]
            if kept:
                self._by_agent[agent] = kept
            else:
                del self._by_agent[agent]
        return gone

    def next_expiry(self) -> float | None:
        times = [b.expires_at for rows in self._by_agent.values() for b in rows]
        return min(times) if times else None

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._by_agent.values())
