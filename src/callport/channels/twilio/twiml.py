"""TwiML documents callport answers with, built by the official ``twilio`` package.

- ``connect_stream``: ``<Connect action><Stream url statusCallback><Parameter .../>`` — the
  bidirectional media stream; the per-call token rides in a ``<Parameter>`` (Twilio drops query
  strings from stream URLs) and ``action`` is where Twilio asks what to do once it ends;
- ``dial``: ``<Dial><Number>`` or ``<Dial><Sip>`` for a blind transfer;
- ``hangup``: ``<Hangup/>``;
- ``reject_busy``: ``<Reject reason="busy"/>`` (a new call at capacity: busy tone, unanswered).
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from callport.channels.provider import split_target


def connect_stream(
    *,
    stream_url: str,
    parameters: Mapping[str, str],
    action_url: str = "",
    status_url: str = "",
) -> str:
    response = VoiceResponse()
    connect = Connect(action=action_url) if action_url else Connect()
    stream_attrs = {"status_callback": status_url} if status_url else {}
    stream = connect.stream(url=stream_url, **stream_attrs)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def dial(target: str, *, caller_id: str = "", action_url: str = "") -> str:
    kind, address = split_target(target)
    response = VoiceResponse()
    attrs: dict[str, str] = {}
    if caller_id:
        attrs["caller_id"] = caller_id
    if action_url:
        attrs["action"] = action_url
    verb = Dial(**attrs)
    if kind == "sip":
        verb.sip(address)
    else:
        verb.number(address)
    response.append(verb)
    return str(response)


def hangup() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)


def reject_busy() -> str:
    response = VoiceResponse()
    response.reject(reason="busy")
    return str(response)
