"""TwilioClient against an httpx.MockTransport of Twilio's REST API: exact requests."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import httpx
import pytest

from callport.channels.provider import DialRequest, ProviderError, StreamTarget
from callport.channels.twilio.rest import TwilioClient
from callport.config import TwilioSettings

AC = "AC" + "1" * 32
CA = "CA" + "2" * 32
BASE = f"https://api.example.test/2010-04-01/Accounts/{AC}"


class Recorder:
    def __init__(self, *responses: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []
        self.responses = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)

    def form(self, i: int = 0) -> dict[str, list[str]]:
        return parse_qs(self.requests[i].content.decode(), keep_blank_values=True)


def client(mock: Recorder, **settings: str) -> TwilioClient:
    values = {"account_sid": AC, "auth_token": "secret", "api_base_url": "https://api.example.test"}
    values.update(settings)
    return TwilioClient.from_settings(
        TwilioSettings(**values), transport=httpx.MockTransport(mock)  # type: ignore[arg-type]
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_dial_posts_inline_twiml_with_async_amd() -> None:
    mock = Recorder(httpx.Response(201, json={"sid": CA, "status": "queued"}))
    api = client(mock)
    sid = await api.dial(
        DialRequest(
            to="+15550003333",
            from_="+15550002222",
            stream=StreamTarget(
                url="wss://gw.example.com/twilio/media",
                parameters={"token": "tok"},
                action_url="https://gw.example.com/twilio/after",
                status_url="https://gw.example.com/twilio/status",
            ),
            status_url="https://gw.example.com/twilio/status",
            machine_detection_url="https://gw.example.com/twilio/status",
        )
    )
    assert sid == CA
    (request,) = mock.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/Calls.json"
    assert request.headers["authorization"] == basic(AC, "secret")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert mock.form() == {
        "To": ["+15550003333"],
        "From": ["+15550002222"],
        "Twiml": [
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            '<Connect action="https://gw.example.com/twilio/after">'
            '<Stream statusCallback="https://gw.example.com/twilio/status"'
            ' url="wss://gw.example.com/twilio/media">'
            '<Parameter name="token" value="tok" /></Stream></Connect></Response>'
        ],
        "Timeout": ["30"],
        "StatusCallback": ["https://gw.example.com/twilio/status"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "MachineDetection": ["Enable"],
        "AsyncAmd": ["true"],
        "AsyncAmdStatusCallback": ["https://gw.example.com/twilio/status"],
    }
    await api.aclose()


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"sid": CA, "status": "completed"}),
        httpx.Response(404, json={"code": 20404, "message": "not found", "status": 404}),
        httpx.Response(400, json={"code": 20404, "message": "gone", "status": 400}),
    ],
)
async def test_hangup_is_idempotent(response: httpx.Response) -> None:
    mock = Recorder(response)
    api = client(mock)
    await api.hangup(CA)
    (request,) = mock.requests
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/Calls/{CA}.json")
    assert mock.form() == {"Status": ["completed"]}


async def test_hangup_other_errors_raise_with_code() -> None:
    mock = Recorder(httpx.Response(401, json={"code": 20003, "message": "Authenticate"}))
    with pytest.raises(ProviderError) as info:
        await client(mock).hangup(CA)
    assert info.value.status == 401 and info.value.code == "20003"


async def test_transfer_updates_twiml_with_dial() -> None:
    mock = Recorder(httpx.Response(200, json={"sid": CA}), httpx.Response(200, json={"sid": CA}))
    api = client(mock)
    await api.transfer(CA, "tel:+15557654321")
    await api.transfer(CA, "sip:agent@pbx.example.com;transport=tcp")
    assert [str(r.url) for r in mock.requests] == [f"{BASE}/Calls/{CA}.json"] * 2
    assert mock.form(0)["Twiml"] == [
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>'
        "<Number>+15557654321</Number></Dial></Response>"
    ]
    assert mock.form(1)["Twiml"] == [
        '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>'
        "<Sip>sip:agent@pbx.example.com;transport=tcp</Sip></Dial></Response>"
    ]
    assert "Status" not in mock.form(0)  # a transfer never ends the call


async def test_transfer_rejects_malformed_target_without_a_request() -> None:
    mock = Recorder()
    with pytest.raises(ValueError):
        await client(mock).transfer(CA, "tel:call-me-maybe")
    assert mock.requests == []


async def test_api_key_auth_and_regional_base_url() -> None:
    mock = Recorder(httpx.Response(200, json={"sid": CA}))
    api = client(
        mock, api_key_sid="SK" + "3" * 32, api_key_secret="keysecret",
        api_base_url="https://api.dublin.ie1.twilio.com/",
    )
    await api.answer(CA, StreamTarget(url="wss://gw/twilio/media", parameters={"token": "t"}))
    (request,) = mock.requests
    assert str(request.url) == (
        f"https://api.dublin.ie1.twilio.com/2010-04-01/Accounts/{AC}/Calls/{CA}.json"
    )
    assert request.headers["authorization"] == basic("SK" + "3" * 32, "keysecret")
    assert "<Connect><Stream url=\"wss://gw/twilio/media\">" in mock.form()["Twiml"][0]


async def test_dial_without_sid_and_unreachable_api_raise() -> None:
    mock = Recorder(httpx.Response(201, content=b"<html>proxy</html>"))
    request = DialRequest(to="+1555", from_="+1556", stream=StreamTarget(url="wss://x/m"))
    with pytest.raises(ProviderError):
        await client(mock).dial(request)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    api = TwilioClient(account_sid=AC, username=AC, password="p",
                       transport=httpx.MockTransport(down))
    with pytest.raises(ProviderError, match="unreachable"):
        await api.hangup(CA)


async def test_dial_error_carries_twilio_code_and_message() -> None:
    mock = Recorder(
        httpx.Response(400, json={"code": 21211, "message": "Invalid 'To' Phone Number"})
    )
    request = DialRequest(to="+1", from_="+1556", stream=StreamTarget(url="wss://x/m"))
    with pytest.raises(ProviderError, match="Invalid 'To' Phone Number") as info:
        await client(mock).dial(request)
    assert (info.value.status, info.value.code) == (400, "21211")
