"""Which ``Host`` headers the server answers (DNS-rebinding defence). Pure functions.

A page on ``evil.example`` whose DNS name is re-pointed at 127.0.0.1 reaches callport with
``Host: evil.example``; answering only known host names (``server.allowed_hosts``) stops it.
Ports are ignored: the names are what a rebinding attacker cannot forge.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from callport.config import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_name(header: str) -> str:
    """The name part of a ``Host`` header: lower case, no port, no brackets, no trailing dot.

    ``""`` when the header is empty or malformed (which no allow-list matches).
    """
    text = header.strip().lower()
    if not text or len(text) > 255 or any(c in text for c in " /\\@?#"):
        return ""
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        if end < 0 or (text[end + 1:] and not text[end + 1:].startswith(":")):
            return ""
        name = text[1:end]
    elif text.count(":") == 1:
        name, _, port = text.partition(":")
        if port and not port.isdigit():
            return ""
    elif ":" in text:  # a bare IPv6 address without brackets
        name = text
    else:
        name = text
    return name.rstrip(".")


def normalise_host(value: str) -> str:
    """A configured host entry (``name``, ``name:port``, ``[v6]``, a URL or ``*``) as a name."""
    value = value.strip().lower()
    if value == "*":
        return value
    if "://" in value:
        return (urlsplit(value).hostname or "").rstrip(".")
    return host_name(value) or value.strip("[]").rstrip(".")


def default_allowed_hosts(settings: Settings) -> frozenset[str]:
    """The bind host, the loopback names and the hosts of configured public URLs."""
    names = {settings.server.host, *LOOPBACK_NAMES}
    names.update(url for url in (settings.twilio.public_base_url,
                                 settings.telnyx.public_base_url) if url)
    return frozenset(n for n in (normalise_host(v) for v in names) if n)


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """``server.allowed_hosts`` when set (``*`` allows any), else ``default_allowed_hosts``."""
    configured = settings.server.allowed_hosts
    if configured:
        return frozenset(n for n in (normalise_host(v) for v in configured) if n)
    return default_allowed_hosts(settings)


def host_allowed(header: str | None, allowed: Iterable[str]) -> bool:
    """Is a request's ``Host`` header one of ``allowed`` (names as ``allowed_hosts`` gives)?"""
    names = frozenset(allowed)
    if "*" in names:
        return True
    name = host_name(header or "")
    return bool(name) and name in names
