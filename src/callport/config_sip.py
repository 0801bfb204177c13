"""``[sip]`` settings: the SIP user agent, its trunk and RTP (part of ``callport.config``,
which re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass

from callport.config_routing import SipTrunk


@dataclass(frozen=True, slots=True, kw_only=True)
class SipSettings:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 5060
    public_host: str = ""
    rtp_port_min: int = 20000
    rtp_port_max: int = 20999
    user: str = "callport"  # user part of our Contact / From
    max_calls: int = 200
    # Concurrent inbound calls from one source IP (>= 1; there is no "unlimited": set it to
    # max_calls to cap only the total). Sources in allow_from are not capped. Over it: 503.
    max_calls_per_source: int = 20
    media_timeout_s: float = 30.0  # no RTP for this long (while expected) -> BYE
    # A held or one-way call (inactive/recvonly/sendonly) with no RTP and no RTCP at all for
    # this long -> BYE (peers keep RTCP going while on hold, RFC 3264 §5.1).
    held_timeout_s: float = 120.0
    # RFC 4028 session timers on inbound calls: Session-Expires we offer (0: off) and the
    # smallest we accept (Min-SE; smaller gets 422). No refresh in time -> BYE.
    session_expires_s: int = 1800
    min_se_s: int = 90
    # Where RTP is accepted from on calls from a trusted (allow_from) or authenticated peer:
    # "sdp" (the address and port the SDP names; other sources are dropped and counted) or
    # "first" (behind NAT: latch onto the first packet's source, then only that one). Calls
    # from anyone else: RTP only from the INVITE's source IP, and nothing is sent before the
    # peer's first packet arrives (then only there): no RTP to a host its SDP merely names.
    rtp_latch: str = "sdp"
    # SIP messages per second per source IP (token bucket; 0: no limit) and the burst;
    # beyond it messages are dropped unanswered. Sources in allow_from are not limited.
    rate_per_s: float = 100.0
    rate_burst: int = 200
    rate_sources: int = 10_000  # source addresses remembered (least recent forgotten)
    answer_delay_ms: int = 0  # ring (180) this long before answering inbound calls
    # Inbound trunk: IP/CIDR allowlist (empty: anyone) and/or digest users "name:password".
    allow_from: tuple[str, ...] = ()
    auth_realm: str = "callport"
    auth_users: tuple[str, ...] = ()
    # Outbound trunk: "host[:port]" that tel: numbers and bare sip: URIs go to, digest
    # credentials answered on 401/407, and the caller ID user part.
    trunk_address: str = ""
    trunk_username: str = ""
    trunk_password: str = ""
    caller_id: str = ""
    # Transport to the trunk: "udp", "tcp", or "" (RFC 3263: SRV _sip._udp, then _sip._tcp).
    # A target URI's own ;transport= parameter wins.
    trunk_transport: str = ""
    # No response at all from one resolved target for this long (INVITE Timer B, REGISTER
    # Timer F): try the next SRV/A target; the last one failing fails the call (408).
    target_timeout_s: float = 8.0
    # REGISTER client: keep this AOR (sip:user@domain) bound at trunk_address (PBX extensions,
    # Telnyx credential connections), with the trunk credentials.
    register_aor: str = ""
    register_expires_s: int = 300
    # Registrar for human agents' phones: users with the agent role REGISTER with their name
    # and password (digest, realm "callport"); a binding lives between these bounds.
    registrar: bool = True
    registrar_min_expires_s: int = 60
    registrar_max_expires_s: int = 3600
    # REFER we are asked to follow: targets (fnmatch patterns over the Refer-To URI, e.g.
    # "sip:*@pbx.example.com", "tel:+4420*") we may dial; empty: every REFER is refused (603).
    # A REFER is followed only from a trusted peer (in allow_from, or digest-authenticated).
    refer_allow: tuple[str, ...] = ()
    # More outbound trunks, [sip.trunks.NAME] tables (callport.config_routing.SipTrunk):
    # routing carriers with their own address, transport, credentials and caller ID.
    trunks: tuple[SipTrunk, ...] = ()

    def problems(self) -> list[str]:
        import ipaddress

        out = []
        if not 0 <= self.port <= 65535:
            out.append(f"sip.port={self.port}: must be 0-65535")
        if not 1024 <= self.rtp_port_min < self.rtp_port_max <= 65535:
            out.append("sip: need 1024 <= rtp_port_min < rtp_port_max <= 65535")
        if self.media_timeout_s <= 0:
            out.append("sip.media_timeout_s: must be > 0")
        if self.max_calls < 1:
            out.append("sip.max_calls: must be >= 1")
        if self.rtp_latch not in ("sdp", "first"):
            out.append(f"sip.rtp_latch={self.rtp_latch!r}: use sdp or first")
        if self.session_expires_s and self.session_expires_s < self.min_se_s:
            out.append("sip.session_expires_s: must be >= sip.min_se_s (or 0: off)")
        if self.trunk_transport.lower() not in ("", "udp", "tcp"):
            out.append(f"sip.trunk_transport={self.trunk_transport!r}: use udp, tcp or empty")
        if self.target_timeout_s <= 0:
            out.append("sip.target_timeout_s: must be > 0")
        for net in self.allow_from:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                out.append(f"sip.allow_from: {net!r} is not an IP address or CIDR")
        for user in self.auth_users:
            if ":" not in user or not user.split(":", 1)[0]:
                out.append(f"sip.auth_users: {user!r} must be name:password")
        if not 1 <= self.registrar_min_expires_s <= self.registrar_max_expires_s:
            out.append("sip: need 1 <= registrar_min_expires_s <= registrar_max_expires_s")
        if self.register_aor and not (self.register_aor.startswith("sip:")
                                      and "@" in self.register_aor and self.trunk_address):
            out.append("sip.register_aor: use sip:user@domain and set sip.trunk_address")
        if self.trunk_address:
            host, _, port = self.trunk_address.rpartition(":")
            if port and host and not (port.isdigit() and 0 < int(port) < 65536):
                out.append(f"sip.trunk_address={self.trunk_address!r}: use host[:port]")
        return out
