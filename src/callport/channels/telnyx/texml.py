"""TeXML: the TwiML-style set-up path for users who prefer XML to Call Control commands.

Telnyx POSTs the TeXML application's voice URL (form fields ``CallSid`` (= the call's
``call_control_id``), ``From``, ``To``, ...) and runs the XML we answer. ``<Connect>`` keeps
the call on the stream until the WebSocket closes; ``bidirectionalMode="rtp"`` is required
(the default, ``mp3``, plays whole files). TeXML has no ``client_state`` and no stream auth
token, so our call id and the stream token ride as ``<Parameter>``s, which arrive in the
stream's ``start.custom_parameters``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from callport.channels.telnyx.media import wire_format

__all__ = ["connect_stream"]


def quoteattr(value: str) -> str:
    """``value`` as a double-quoted XML attribute (xml.sax.saxutils would pull in urllib and
    socket, and this module is pure)."""
    return f'"{escape(value, quote=True)}"'


def connect_stream(*, url: str, codec: str, parameters: Mapping[str, str]) -> str:
    """``<Response><Connect><Stream .../></Connect></Response>`` for a bidirectional stream."""
    fmt = wire_format(codec)
    attrs = {
        "url": url,
        "track": "inbound_track",
        "codec": fmt.codec,
        "bidirectionalMode": "rtp",
        "bidirectionalCodec": fmt.codec,
        "bidirectionalSamplingRate": str(fmt.sample_rate),
    }
    head = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
    params = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream {head}>{params}</Stream></Connect></Response>"
    )
