"""The open doors ``callport doctor`` warns about: configuration that lets strangers in.

Pure: ``open_doors(settings, users=...)`` looks at the settings (and the users in the store,
for the admin-password check) and returns one ``OpenDoor`` per problem, each saying what is
exposed and what to set. Nothing here refuses to start: ``serve`` enforces the hard rules
(a public SIP bind with no guard, providers without credentials); these are the choices that
are legal but risky, or only safe behind something the doctor cannot see (a proxy).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from callport.config import Settings
from callport.types import User

# Refer-To targets nobody means to allow: a pattern matching one of these matches (nearly)
# everything of its kind (international premium ranges, a TEST-NET host).
_PROBES = ("tel:+88235550100", "sip:+88235550100@203.0.113.7", "sip:probe@203.0.113.7",
           "sips:probe@203.0.113.7:5061")


@dataclass(frozen=True, slots=True)
class OpenDoor:
    setting: str  # the setting to change, e.g. "identity.unknown"
    problem: str  # what is exposed, to whom
    fix: str  # what to set


def is_loopback(host: str) -> bool:
    """Is ``host`` a loopback name or address? (``0.0.0.0`` / ``::`` are every address.)"""
    name = host.strip().strip("[]").lower()
    if name in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _configured(section: object) -> bool:
    return section != type(section)()


def open_doors(settings: Settings, *, users: Sequence[User] = ()) -> list[OpenDoor]:
    """Every open door in ``settings``; ``users``: the store's users (admin-password check)."""
    s = settings
    doors: list[OpenDoor] = []
    web_public = not is_loopback(s.server.host)
    sip_public = s.sip.enabled and not is_loopback(s.sip.host)

    if s.identity.unknown == "owner" and (web_public or sip_public):
        where = f"server.host={s.server.host}" if web_public else f"sip.host={s.sip.host}"
        doors.append(OpenDoor(
            "identity.unknown",
            f"identity.unknown=owner while bound to {where}: every caller nobody knows "
            "acts as the owner and sees and changes the owner's tasks",
            'set identity.unknown = "reject" (or "guest") and give each user their phone '
            "(callport users add NAME --phone +E164)"))
    if s.server.metrics_public:
        doors.append(OpenDoor(
            "server.metrics_public",
            "/metrics is served to anyone who can reach the HTTP port (call counts, "
            "channels, timings)",
            "set server.metrics_public = false and give Prometheus an admin's API token "
            "(callport tokens create NAME; scrape with bearer_token)"))
    if web_public and not s.server.allowed_hosts:
        doors.append(OpenDoor(
            "server.allowed_hosts",
            f"server.host={s.server.host} with no server.allowed_hosts: only the bind address, "
            "localhost and the configured public URLs are answered as Host; clients using any "
            "other name get 421",
            'set server.allowed_hosts to the names clients use (e.g. ["voice.example.com"]); '
            "a public bind is meant to sit behind a TLS proxy that sets Host"))
    if s.server.redis and web_public and not s.server.trusted_proxies:
        doors.append(OpenDoor(
            "server.trusted_proxies",
            f"server.redis is set and server.host={s.server.host} with no "
            "server.trusted_proxies: behind a load balancer on another host every client "
            "shares its address, so one client's flood or failed sign-ins rate-limit and lock "
            "out everyone (X-Forwarded-For is believed only from loopback)",
            "set server.trusted_proxies (CALLPORT_TRUSTED_PROXIES) to the load balancers' "
            "addresses or networks, e.g. 10.0.0.5 or 172.28.0.21"))
    if "*" in s.server.allowed_hosts:
        doors.append(OpenDoor(
            "server.allowed_hosts",
            'server.allowed_hosts contains "*": any Host header is answered, so a DNS-'
            "rebinding page can reach the API from a visitor's browser",
            "list the host names clients use instead of *"))
    if "*" in s.browser.allowed_origins:
        doors.append(OpenDoor(
            "browser.allowed_origins",
            'browser.allowed_origins contains "*": a page on any site passes the Origin '
            "checks and may embed the widget (frame-ancestors *) and ask a signed-in visitor "
            "to grant it a session; only the SameSite=Strict cookie and that grant popup "
            "still stand in the way",
            "list the origins that embed the page (https://app.example.com), or leave it "
            "empty for the page's own origin only"))
    if _configured(s.twilio) and not s.twilio.auth_token:
        doors.append(OpenDoor(
            "twilio.auth_token",
            "Twilio is configured but twilio.auth_token is empty: no webhook signature can "
            "be checked, so every webhook is refused (403) and no call gets in",
            "set CALLPORT_TWILIO_AUTH_TOKEN to the account's auth token"))
    if s.twilio.trust_forwarded and not s.twilio.public_base_url:
        doors.append(OpenDoor(
            "twilio.trust_forwarded",
            "twilio.trust_forwarded=true without twilio.public_base_url: the X-Forwarded-Proto"
            "/-Host headers of whoever reaches the port decide which URL webhook signatures "
            "are checked against",
            "set twilio.public_base_url (it takes precedence), or keep trust_forwarded only "
            "behind a proxy that overwrites those headers"))
    if s.twilio.calls_api_token:
        doors.append(OpenDoor(
            "twilio.calls_api_token",
            "twilio.calls_api_token is a static shared secret: whoever holds it places calls "
            "on your account, and it cannot be revoked without a restart",
            "remove it and give each caller of /twilio/calls an admin's API token "
            "(callport tokens create NAME; callport tokens revoke ID)"))
    if _configured(s.telnyx) and not s.telnyx.public_key:
        doors.append(OpenDoor(
            "telnyx.public_key",
            "Telnyx is configured but telnyx.public_key is empty: no webhook signature can "
            "be checked, so every webhook is refused (403) and no call gets in",
            "set CALLPORT_TELNYX_PUBLIC_KEY to the public key from the Telnyx portal"))
    if sip_public and not (s.sip.allow_from or s.sip.auth_users):
        doors.append(OpenDoor(
            "sip.allow_from",
            f"sip.host={s.sip.host} with neither sip.allow_from nor sip.auth_users: anyone "
            "who finds the port may call (serve refuses to start like this)",
            "set sip.allow_from to your trunk's addresses (CIDRs) and/or sip.auth_users "
            "(name:password digest users)"))
    for pattern in s.sip.refer_allow:
        if any(fnmatchcase(probe, pattern) for probe in _PROBES):
            doors.append(OpenDoor(
                "sip.refer_allow",
                f"sip.refer_allow pattern {pattern!r} matches any target: a trusted peer's "
                "REFER makes callport dial any number through the trunk on your bill "
                "(toll fraud)",
                'list the transfer targets you use, e.g. "sip:*@pbx.example.com" or '
                '"tel:+4420*"'))
    admins = [u for u in users if u.has_role("admin")]
    if web_public and not any(u.has_password for u in admins):
        name = admins[0].name if admins else s.identity.owner
        doors.append(OpenDoor(
            "users",
            f"the web is reachable on {s.server.host} and no admin has a password "
            f"({', '.join(u.name for u in admins) or 'no users yet'}): admins sign in only "
            "through one-time links (serve prints one for the owner on every start, valid "
            "identity.signin_ttl_s), so whoever reads the log or the link signs in as them",
            f"set a password: callport users set {name} --password-stdin, or the page's "
            "Password button once signed in"))
    return doors
