"""``callport doctor``: could a provider reach what callport tells it to call?

Twilio and Telnyx call the webhook and open the media stream at ``public_base_url``; a SIP
trunk sends media and in-dialog requests to the address callport puts in SDP and Contact
(``sip.public_host``, else ``sip.host``). For each one configured, the host is looked up (a
DNS query, nothing else is sent) and every address is classified: loopback, private (RFC 1918,
unique-local), link-local, shared (RFC 6598 carrier-grade NAT) or otherwise not global is
unreachable from the internet, and so is a host that does not resolve. ``reach`` takes the
``resolve`` function as an argument, so tests run it on any address without DNS.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from callport.config import Settings

Check = tuple[str, bool, str]
Resolve = Callable[[str], Sequence[str]]
FIX = ("use a public host name: a reverse proxy with TLS, or a tunnel (cloudflared, ngrok) "
       "whose https:// URL you set here")


def classify(address: str) -> str:
    """Why ``address`` cannot be reached from the internet; empty for a public address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "shared (carrier-grade NAT)"
    if ip.is_private:
        return "private"
    if ip.is_multicast or ip.is_reserved or not ip.is_global:
        return "not a public address"
    return ""


def system_resolve(host: str, timeout_s: float = 3.0) -> list[str]:
    """The host's addresses (A and AAAA, via the system resolver); ``OSError`` when none."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            raise OSError(f"no answer in {timeout_s:.0f} s") from None
    return sorted({str(info[4][0]) for info in infos})


def reach(label: str, host: str, who: str, resolve: Resolve) -> Check:
    """Can ``who`` (Twilio, your SIP trunk) reach ``host`` from the internet?"""
    if not host:
        return (label, False, f"no host: {FIX}")
    try:
        ipaddress.ip_address(host.strip("[]"))
        addresses: Sequence[str] = [host.strip("[]")]
    except ValueError:
        try:
            addresses = resolve(host)
        except (OSError, UnicodeError) as exc:
            return (label, False, f"{host} does not resolve ({exc}): {who} cannot find it; "
                    "check the name and its DNS record")
    if not addresses:
        return (label, False, f"{host} does not resolve: {who} cannot find it")
    why = {a: classify(a) for a in addresses}
    public = [a for a, reason in why.items() if not reason]
    if not public:
        shown = ", ".join(f"{a} ({reason})" for a, reason in why.items())
        return (label, False, f"{host} is {shown}: {who} cannot reach it from the internet; "
                + FIX)
    return (label, True, f"{host} is {', '.join(public)} (public)")


def reach_checks(settings: Settings, resolve: Resolve = system_resolve) -> list[Check]:
    """One line per public endpoint the configuration hands a provider (none configured:
    none; the providers' own checks say what to set)."""
    out: list[Check] = []
    for name, who in (("twilio", "Twilio"), ("telnyx", "Telnyx")):
        url = getattr(settings, name).public_base_url
        if url:
            host = urlsplit(url).hostname or ""
            out.append(reach(f"{name} public URL reachable", host, who, resolve))
    sip = settings.sip
    if sip.enabled and (sip.trunk_address or sip.public_host):
        host = sip.public_host or sip.host
        label = "sip address in SDP/Contact"
        if not sip.public_host and host in ("0.0.0.0", "::", ""):
            out.append((label, False, "sip.host is a wildcard: set sip.public_host to the "
                        "address your trunk reaches (CALLPORT_SIP_PUBLIC_HOST)"))
        else:
            check = reach(label, host, "your SIP trunk", resolve)
            if not check[1] and not sip.public_host:
                check = (label, False, check[2].split(": ", 1)[0]
                         + ": your trunk cannot send media back; set sip.public_host to the "
                         "public address (CALLPORT_SIP_PUBLIC_HOST)")
            out.append(check)
    return out
