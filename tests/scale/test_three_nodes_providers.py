"""A Twilio call through HAProxy in front of three nodes: its webhook, its status callbacks,
its ``<Connect action>`` and its media stream all reach the node that answered the first
webhook (``callport.channels.node_urls``: the URLs a node hands Twilio name it, and
``deploy/haproxy/haproxy.cfg`` routes by that), signatures still verify, and the call runs
there; the stream's token replayed to another node is refused (spent once, in Redis). One
node alone hands out the plain URLs.
"""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import websockets
from edges import Cluster, running
from twilio.request_validator import RequestValidator

from callport.channels.node_urls import node_addressed, node_of, node_stream_path

AUTH_TOKEN = "e" * 32
ACCOUNT_SID = "AC" + "1" * 32
REDIS_DB = 11


@pytest.fixture
def three(pg_url: str) -> Iterator[Cluster]:
    with running(pg_url, redis_db=REDIS_DB, kamailio=False, extra_env=lambda c: {
            "CALLPORT_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "CALLPORT_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "CALLPORT_TWILIO_PUBLIC_BASE_URL": c.url}) as nodes:
        yield nodes


def signed_post(http: httpx.Client, url: str, params: dict[str, str]) -> httpx.Response:
    """A Twilio webhook: form body, X-Twilio-Signature over the URL as given (query too)."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return http.post(url, data=params, headers={"X-Twilio-Signature": signature})


def params(call_sid: str, status: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call_sid,
            "CallStatus": status, "Direction": "inbound", "From": "+15550001111",
            "To": "+15550002222"}


async def begin(ws: websockets.ClientConnection, call_sid: str,
                parameters: dict[str, str]) -> None:
    """Twilio's first two stream messages: connected, then start with the TwiML parameters."""
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
                              "start": {"accountSid": ACCOUNT_SID, "streamSid": "MZ1",
                                        "callSid": call_sid, "tracks": ["inbound"],
                                        "customParameters": parameters, "mediaFormat": {
                                            "encoding": "audio/x-mulaw",
                                            "sampleRate": 8000, "channels": 1}}}))


async def replay_refused(url: str, call_sid: str, parameters: dict[str, str]) -> int:
    """The same stream start presented again: the close code the node answers with."""
    async with websockets.connect(url) as ws:
        await begin(ws, call_sid, parameters)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def stream(url: str, call_sid: str, parameters: dict[str, str], node_url: str,
                 other_node: str) -> int:
    """Twilio's side of the media stream: connected, start; the call's node counts it live,
    and the same token replayed to another node meanwhile is refused there."""
    async with websockets.connect(url) as ws:
        await begin(ws, call_sid, parameters)
        live = 0
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 15
            while live == 0 and time.monotonic() < deadline:
                text = (await http.get(f"{node_url}/metrics")).text
                live = int(float(next(line.split()[1] for line in text.splitlines()
                                      if line.startswith("callport_live_calls "))))
                await asyncio.sleep(0.2)
        assert await replay_refused(f"{other_node}/twilio/media".replace("http", "ws", 1),
                                    call_sid, parameters) == 1008  # spent in Redis
        await ws.send(json.dumps({"event": "stop", "sequenceNumber": "2", "streamSid": "MZ1",
                                  "stop": {"accountSid": ACCOUNT_SID, "callSid": call_sid}}))
        return live


@pytest.mark.slow
def test_a_twilio_call_meets_its_node_through_haproxy(three: Cluster) -> None:
    lb = httpx.Client(base_url=three.url, timeout=15)
    by_name = {n.name: n for n in three.nodes}
    seen: set[str] = set()
    for i in range(6):
        sid = f"CA{i:032x}"
        answer = signed_post(lb, f"{three.url}/twilio/voice", params(sid, "ringing"))
        assert answer.status_code == 200, answer.text
        node = answer.headers["x-callport-node"]
        seen.add(node)
        connect = ET.fromstring(answer.text).find("Connect")
        assert connect is not None
        stream_el = connect.find("Stream")
        assert stream_el is not None
        url = stream_el.attrib["url"]
        assert urlsplit(url).path == f"/twilio/media/{node}"
        action, status = connect.attrib["action"], stream_el.attrib["statusCallback"]
        assert action.endswith(f"/twilio/after?node={node}"), action
        assert status.endswith(f"/twilio/status?node={node}"), status
        parameters = {p.attrib["name"]: p.attrib["value"] for p in stream_el.findall("Parameter")}
        if i < 2:  # the stream reaches that node and the call runs there
            other = next(n.url for n in three.nodes if n.name != node)
            assert asyncio.run(stream(url, sid, parameters, by_name[node].url, other)) >= 1
            after = signed_post(lb, action, params(sid, "in-progress"))
            assert after.status_code == 200 and after.headers["x-callport-node"] == node
            assert "<Hangup" in after.text
        done = signed_post(lb, status, {**params(sid, "completed"), "CallDuration": "1"})
        assert done.status_code == 204, done.text  # the signature over ?node= verified
        assert done.headers["x-callport-node"] == node
        forged = lb.post(status, data=params(sid, "completed"),
                         headers={"X-Twilio-Signature": "forged"})
        assert forged.status_code == 403
    assert len(seen) >= 2, seen  # first webhooks spread over the nodes


def test_node_urls_name_the_node_only_with_several_nodes() -> None:
    class Settings:
        class server:
            redis = "redis://r:6379/0"

    class Runner:
        settings = Settings()
        node_id = "node 2"

    assert node_of(Runner()) == "node 2"
    Settings.server.redis = ""
    assert node_of(Runner()) == ""
    assert node_of(object()) == ""
    assert node_addressed("https://gw/twilio/status", "n2") == "https://gw/twilio/status?node=n2"
    assert node_addressed("https://gw/s?a=1", "node 2") == "https://gw/s?a=1&node=node%202"
    assert node_addressed("https://gw/s", "") == "https://gw/s"
    assert node_stream_path("/twilio/media/", "n2") == "/twilio/media/n2"
    assert node_stream_path("/twilio/media", "") == "/twilio/media"
