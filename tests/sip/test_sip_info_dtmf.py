"""Keys sent as SIP INFO (RFC 6086; the application/dtmf-relay and application/dtmf bodies
phones use): the body's key, and the user agent reports it on the dialog as ``DtmfInfo``
after answering 200. Other INFO bodies are answered and carry no key."""

from __future__ import annotations

import pytest
from sip_fixtures import request
from test_sip_useragent import PEER, answered_call, statuses, ua

from callport.channels.sip.dtmf4733 import info_digit
from callport.channels.sip.events import DtmfInfo


@pytest.mark.parametrize(("content_type", "body", "digit"), [
    ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5"),
    ("application/dtmf-relay; charset=utf-8", b"signal= #\nduration=100", "#"),
    ("Application/DTMF-Relay", b"Signal=11\r\nDuration=160", "#"),
    ("application/dtmf-relay", b"Signal=10", "*"),
    ("application/dtmf-relay", b"Signal=a", "A"),
    ("application/dtmf", b"7", "7"),
    ("application/dtmf-relay", b"Duration=160", ""),
    ("application/dtmf-relay", b"Signal=55", ""),
    ("application/dtmf-relay", b"Signal=x", ""),
    ("application/dtmf", b"", ""),
    ("application/json", b"Signal=5", ""),
    ("", b"", ""),
])  # fmt: skip
def test_info_digit(content_type: str, body: bytes, digit: str) -> None:
    assert info_digit(content_type, body) == digit


def test_the_user_agent_answers_info_and_reports_its_key() -> None:
    agent = ua()
    key, tag = answered_call(agent)
    relay = "Content-Type: application/dtmf-relay\r\n"
    events = agent.receive(request("INFO", branch="z9hG4bK-i1", to_tag=tag, cseq=2, extra=relay,
                                   body=b"Signal=9\r\nDuration=160\r\n"), PEER, 1.0)
    assert statuses(events) == [200]
    assert [e for e in events if isinstance(e, DtmfInfo)] == [DtmfInfo(key=key, digit="9")]
    other = "Content-Type: application/x-broadsoft-xml\r\n"
    events = agent.receive(request("INFO", branch="z9hG4bK-i2", to_tag=tag, cseq=3, extra=other,
                                   body=b"<x/>"), PEER, 1.1)
    assert statuses(events) == [200] and not any(isinstance(e, DtmfInfo) for e in events)
