"""Where providers are told to stream: our public base URL and its WebSocket form, shared by
Twilio (TwiML ``<Stream url>``) and Telnyx (``stream_url``)."""

from __future__ import annotations

import pytest

from callport.channels.provider import public_base, stream_url


def test_the_configured_base_wins_over_the_request() -> None:
    assert public_base("https://gw.example/", "http://10.0.0.5:8080/twilio/voice") == (
        "https://gw.example")
    assert public_base("", "http://10.0.0.5:8080/twilio/voice?x=1") == "http://10.0.0.5:8080"
    assert public_base("", "") == ""


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://gw.example", "wss://gw.example/media"),
        ("http://127.0.0.1:8080", "ws://127.0.0.1:8080/media"),
        ("https://gw.example/callport/", "wss://gw.example/callport/media"),  # behind a prefix
        ("wss://gw.example", "wss://gw.example/media"),
    ],
)
def test_stream_url_keeps_host_and_prefix(base: str, url: str) -> None:
    assert stream_url(base, "/media") == url
