"""Attended transfer from a phone: REFER whose Refer-To carries Replaces (RFC 3891, RFC 5589
§7). Pure: strings in, typed values out; no I/O.

A phone that has two dialogs with callport (say D1 bridged to a caller and D2 bridged to a
colleague) transfers attended by sending, inside D1::

    REFER ...
    Refer-To: <sip:bob@callport?Replaces=d2-call-id%3Bto-tag%3Dcp-tag%3Bfrom-tag%3Dphone-tag>

The Replaces names D2 as the transfer target sees it (RFC 3891 §3, §6.1): ``to-tag`` is the
target's local tag, ``from-tag`` the phone's. callport is that target, so D2 is the dialog
whose Call-ID is ``call_id``, whose local tag is ``to_tag`` and whose remote tag is
``from_tag`` (``match_dialog``; a phone that swaps the tags is matched too, the tags are
random enough). The channel then joins the parties behind D1 and D2 and ends both dialogs
with the phone.

- ``parse_replaces("callid;to-tag=a;from-tag=b;early-only")`` -> ``Replaces`` or
  ``ReplacesError`` (status 400: a Replaces without both tags names no dialog);
- ``refer_replaces(refer_to)`` -> the ``Replaces`` inside a Refer-To's URI headers (RFC 3261
  §19.1.1, %-escaped), or None when it has none;
- ``match_dialog(replaces, dialogs)`` -> the key of the matching confirmed dialog, or None
  (RFC 3891 §3: an early dialog only with ``early-only``; none: 481).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from callport.channels.sip.errors import SipParseError
from callport.channels.sip.headers import NameAddr, SipUri

__all__ = ["DialogIds", "Replaces", "ReplacesError", "match_dialog", "parse_replaces",
           "refer_replaces"]


class ReplacesError(SipParseError):
    """A Replaces header (or a Refer-To carrying one) that names no dialog."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Replaces:
    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogIds:
    """What matching needs of a dialog (``UserAgent`` makes them from its ``Dialog``s)."""

    key: str
    call_id: str
    local_tag: str
    remote_tag: str
    confirmed: bool


def parse_replaces(value: str) -> Replaces:
    """RFC 3891 §6.1: ``callid *( SEMI replaces-param )``, to-tag and from-tag required."""
    call_id, *params = [p.strip() for p in value.strip().split(";")]
    if not call_id or any(c.isspace() for c in call_id):
        raise ReplacesError(f"Replaces without a Call-ID: {value[:80]!r}", 400)
    tags: dict[str, str] = {}
    early = False
    for param in params:
        name, eq, val = param.partition("=")
        name = name.strip().lower()
        if name == "early-only" and not eq:
            early = True
        elif name in ("to-tag", "from-tag") and eq and val.strip():
            tags[name] = val.strip()
    if "to-tag" not in tags or "from-tag" not in tags:
        raise ReplacesError(f"Replaces needs to-tag and from-tag: {value[:80]!r}", 400)
    return Replaces(call_id=call_id, to_tag=tags["to-tag"], from_tag=tags["from-tag"],
                    early_only=early)


def refer_replaces(refer_to: str) -> Replaces | None:
    """The Replaces a Refer-To's URI carries as a header (``?Replaces=...``), or None."""
    try:
        uri = SipUri.parse(NameAddr.parse(refer_to).uri)
    except SipParseError:
        return None
    for header in uri.headers.split("&") if uri.headers else ():
        name, _, value = header.partition("=")
        if unquote(name).strip().lower() == "replaces":
            return parse_replaces(unquote(value))
    return None


def match_dialog(replaces: Replaces, dialogs: Iterable[DialogIds]) -> str | None:
    """The key of the dialog ``replaces`` names (confirmed, or early with early-only)."""
    for dialog in dialogs:
        if dialog.call_id != replaces.call_id:
            continue
        tags = (dialog.local_tag, dialog.remote_tag)
        if tags not in ((replaces.to_tag, replaces.from_tag),
                        (replaces.from_tag, replaces.to_tag)):
            continue
        if dialog.confirmed or replaces.early_only:
            return dialog.key
    return None
