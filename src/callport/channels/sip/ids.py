"""What callport calls a SIP call by (pure): a Call-ID the peer chose, made safe to key,
log and store.

A Call-ID is the peer's text (RFC 3261 §8.1.1.4: any ``word``, no length limit): a fuzzer's
has NULs, newlines or 30,000 characters. ``call_ref`` keeps an ordinary Call-ID as it is
(printable ASCII without spaces, at most ``MAX_REF`` characters) and replaces any other by
``sip-`` and a digest of it, so the dialog key, ``CallInfo.call_id``, every log line and the
call record carry something bounded and printable. The wire keeps the real Call-ID.
"""

from __future__ import annotations

import hashlib

MAX_REF = 128


def call_ref(call_id: str) -> str:
    if 0 < len(call_id) <= MAX_REF and call_id.isascii() and call_id.isprintable() \
            and " " not in call_id and "|" not in call_id:
        return call_id
    digest = hashlib.sha256(call_id.encode("utf-8", "surrogateescape")).hexdigest()
    return f"sip-{digest[:24]}"
