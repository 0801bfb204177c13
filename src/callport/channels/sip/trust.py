"""Who a SIP peer is and what it may ask of us: pure decisions, no I/O.

- ``Networks``: the ``sip.allow_from`` allowlist. An empty list admits anyone, but trusts
  no one: only a source inside a configured network is *trusted* (may assert the caller's
  identity with P-Asserted-Identity, may have a REFER followed).
- ``refer_target`` / ``refer_allowed``: a Refer-To URI reduced to the form that is matched
  against ``sip.refer_allow`` and then dialled, so what matched is exactly what is dialled.
- ``caller_identity``: the caller ID callport acts on (RFC 3325 P-Asserted-Identity from a
  trusted peer, else the From user), normalised (see ``normalise_number``).
- ``check_exposure``: refuse to listen on a non-loopback address with nothing guarding it.
"""

from __future__ import annotations

import ipaddress
import re
from fnmatch import fnmatchcase
from urllib.parse import unquote

from callport.channels.sip.headers import NameAddr, SipUri, split_list
from callport.channels.sip.message import SipParseError
from callport.config import ConfigError, SipSettings

Addr = tuple[str, int]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_VISUAL = re.compile(r"[\s().-]")  # RFC 3966 visual separators (and spaces)
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_DIGITS = re.compile(r"^[0-9]+$")


class Networks:
    """An IP/CIDR allowlist (``sip.allow_from``)."""

    def __init__(self, cidrs: tuple[str, ...]) -> None:
        self.networks: tuple[IpNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in cidrs)

    def contains(self, addr: Addr) -> bool:
        """True only when ``addr`` lies in a configured network (empty list: False)."""
        try:
            ip = ipaddress.ip_address(addr[0].split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
        return any(ip in net for net in self.networks)

    def admits(self, addr: Addr) -> bool:
        """May ``addr`` start a call? Everyone when no network is configured."""
        return not self.networks or self.contains(addr)


def refer_target(refer_to: str) -> str | None:
    """The Refer-To URI as callport would dial it, or None when it cannot be followed.

    ``sip:``/``sips:`` keep ``scheme:user@host[:port]`` and a ``;transport=`` parameter;
    ``tel:`` keeps the number. URI headers (``?Replaces=...``: attended transfer, which we
    do not do), passwords and other parameters make no target: nothing outside this form
    can steer the INVITE somewhere a pattern did not allow.
    """
    try:
        uri = SipUri.parse(NameAddr.parse(refer_to).uri)
    except SipParseError:
        return None
    if uri.headers or uri.password:
        return None
    if uri.scheme == "tel":
        number = _VISUAL.sub("", uri.user)
        return f"tel:{number}" if number else None
    if not uri.user or any(c in uri.user for c in "@;?<>\"") or not uri.host:
        return None
    host = uri.host.lower()
    host = f"[{host}]" if ":" in host else host
    port = f":{uri.port}" if uri.port is not None else ""
    transport = str(uri.params.get("transport") or "").lower()
    suffix = f";transport={transport}" if transport else ""
    return f"{uri.scheme}:{uri.user}@{host}{port}{suffix}"


def refer_allowed(target: str, patterns: tuple[str, ...]) -> bool:
    """Does the (``refer_target``) URI match one of the ``sip.refer_allow`` patterns?"""
    return any(fnmatchcase(target, pattern) for pattern in patterns)


def normalise_number(user: str) -> str:
    """A caller ID user part as callport keeps it.

    ``+`` and 7-15 digits (visual separators ``-``, ``.``, ``(``, ``)``, spaces and
    ``%2B``-escaping removed) is E.164 and kept with its ``+``. Anything else (digits without
    ``+``, national formats, names like ``alice``) is returned unescaped but otherwise as
    it is: no country code is guessed, so such callers match no user's E.164 phone.
    """
    text = unquote(user).strip()
    compact = _VISUAL.sub("", text)
    if _E164.match(compact):
        return compact
    if _DIGITS.match(compact):
        return compact
    return text


def _user_of(value: str | None) -> str:
    if not value:
        return ""
    try:
        uri = SipUri.parse(NameAddr.parse(value).uri)
    except SipParseError:
        return ""
    user = uri.user.split(";", 1)[0]  # tel-style user params (";isub=", ";phone-context=")
    return normalise_number(user) if user else ""


def caller_identity(*, from_header: str | None, asserted: list[str], trusted: bool) -> str:
    """RFC 3325 §9.1: P-Asserted-Identity is believed only from a trusted peer (one inside
    ``sip.allow_from``); otherwise, or without one, the From user part."""
    if trusted:
        for value in asserted:
            for part in _split_pai(value):
                user = _user_of(part)
                if user:
                    return user
    return _user_of(from_header)


def _split_pai(value: str) -> list[str]:
    """One P-Asserted-Identity header may list a sip: and a tel: identity (§9.1)."""
    return split_list(value)


def _loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(settings: SipSettings) -> str | None:
    """Why SIP must not listen on ``settings.host`` as configured, or None when it may."""
    if _loopback(settings.host):
        return None
    if settings.allow_from or settings.auth_users:
        return None
    return (f"sip.host={settings.host!r} listens beyond this machine with nothing guarding it: "
            "anyone who can reach it could call in. Set sip.allow_from to your trunk's IP "
            "addresses or CIDRs (CALLPORT_SIP_ALLOW_FROM), or sip.auth_users to digest "
            "users as name:password (CALLPORT_SIP_AUTH_USERS), or bind sip.host to 127.0.0.1.")


def check_exposure(settings: SipSettings) -> None:
    """``ConfigError`` when ``exposure_problem`` finds one (the channel and ``serve`` call it)."""
    problem = exposure_problem(settings)
    if problem is not None:
        raise ConfigError(problem)
