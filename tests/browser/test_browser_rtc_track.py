"""The WebRTC leg's outgoing track and the offer endpoint, without a browser."""

from __future__ import annotations

import asyncio

import av
import numpy as np
from starlette.applications import Starlette
from starlette.testclient import TestClient

from callport.call.controls import Capability
from callport.call.leg import Leg
from callport.channels.browser import create
from callport.channels.browser.echo import EchoRuntime
from callport.channels.browser.rtc import RTC_FRAME, AgentTrack, RtcCalls
from callport.channels.browser.session import SESSION_COOKIE
from callport.config import BrowserSettings, Settings

ORIGIN = {"origin": "http://testserver"}


def tone(ms: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(16 * ms) / 16_000
    return (np.sin(2 * np.pi * 440 * t) * amp * 32767).astype(np.int16)


async def test_track_sends_full_level_stereo_and_reports_marks() -> None:
    played: list[str] = []
    track = AgentTrack(on_mark=played.append)
    track.push(tone(200))
    track.mark("m1")
    track.push(tone(100))
    track.mark("m2")
    frames = [await track.recv() for _ in range(20)]  # 400 ms, paced in real time
    for f in frames:
        assert isinstance(f, av.AudioFrame)
        assert f.sample_rate == 48_000 and f.samples == RTC_FRAME and f.layout.name == "stereo"
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float64)
    left, right = pcm[0::2], pcm[1::2]
    assert np.array_equal(left, right)  # mono duplicated: Opus keeps the level
    active = left[np.abs(left) > 0]
    rms = np.sqrt(np.mean(active**2)) / 32767
    assert 0.3 < rms < 0.4  # 0.5 amplitude sine: 0.354, no -3 dB upmix loss
    assert played == ["m1", "m2"]
    assert [f.pts for f in frames[:3]] == [0, 960, 1920]


async def test_track_clear_drops_audio_and_pending_marks() -> None:
    played: list[str] = []
    track = AgentTrack(on_mark=played.append)
    track.push(tone(500))
    track.mark("late")
    await track.recv()
    assert track.clear() == ("late",)
    frame = await track.recv()
    assert not frame.to_ndarray().any()  # silence after the flush
    track.mark("now")  # nothing queued: played at once
    assert played == ["now"]


async def test_offer_never_uses_a_default_stun_server() -> None:
    async def run_call(leg: Leg, info: object) -> None:
        await asyncio.sleep(0)

    calls = RtcCalls(settings=BrowserSettings(), run_call=run_call, track=lambda c: c)
    config = calls._configuration()
    assert config.iceServers == []
    with_turn = RtcCalls(settings=BrowserSettings(ice_servers=("turn:turn.example:3478",),
                                                  turn_username="u", turn_credential="p"),
                         run_call=run_call, track=lambda c: c)._configuration()
    assert [(s.urls, s.username, s.credential) for s in with_turn.iceServers] == [
        ("turn:turn.example:3478", "u", "p")]


def signed_in(runtime: EchoRuntime) -> TestClient:
    client = TestClient(Starlette(routes=list(create(runtime).routes())))
    client.cookies.set(SESSION_COOKIE, asyncio.run(runtime.sign_in("alice")))
    return client


def test_offer_endpoint_rejects_bad_requests() -> None:
    runtime = EchoRuntime(settings=Settings())
    client = signed_in(runtime)
    token = client.post("/browser/token", headers=ORIGIN).json()["token"]
    assert client.post("/browser/offer", json={"type": "offer", "sdp": "x", "token": token}
                       ).status_code == 403  # no Origin
    cases = [(b"not json", 400), (b"[]", 400), (b'{"type":"answer","sdp":"v=0"}', 400),
             (b'{"type":"offer","sdp":"v=0","token":"forged"}', 403)]
    for body, status in cases:
        r = client.post("/browser/offer", content=body,
                        headers={**ORIGIN, "content-type": "application/json"})
        assert r.status_code == status, (body, r.text)
    r = client.post("/browser/offer", json={"type": "offer", "sdp": "garbage", "token": token},
                    headers=ORIGIN)
    assert r.status_code == 400 and "bad offer" in r.json()["error"]
    r = client.post("/browser/offer", json={"type": "offer", "sdp": "garbage", "token": token},
                    headers=ORIGIN)
    assert r.status_code == 403  # the token was spent by the first offer: single use
    assert runtime.calls == []


def test_page_is_served_with_its_config_and_disabled_channel_has_no_routes() -> None:
    runtime = EchoRuntime(settings=Settings())
    client = signed_in(runtime)
    page = client.get("/")
    assert page.status_code == 200 and "{{" not in page.text
    assert '"ws": "/browser/ws"' in page.text and "/browser/static/app.js" in page.text
    for asset in ("app.js", "call.js", "worklets.js", "app.css"):
        assert client.get(f"/browser/static/{asset}").status_code == 200
    assert client.get("/browser/static/../channels/browser/tokens.py").status_code == 404
    from callport.config import BrowserSettings as B

    off = EchoRuntime(settings=Settings(browser=B(enabled=False)))
    assert list(create(off).routes()) == []


def test_browser_leg_satisfies_the_leg_protocol() -> None:
    from callport.call.inbox import EventInbox
    from callport.call.notes import NotifiableLeg
    from callport.channels.browser.leg import BrowserLeg

    class Out:
        async def send(self, pcm: np.ndarray) -> None: ...
        def mark(self, name: str) -> None: ...
        def clear(self) -> tuple[str, ...]:
            return ()

    async def close() -> None: ...

    leg: Leg = BrowserLeg(call_id="x", inbox=EventInbox(), audio_out=Out(),
                          send_text=lambda t: None, close=close, lead_ms=200)
    assert isinstance(leg, NotifiableLeg)
    assert leg.sample_rate == 16_000 and leg.frame_ms == 20
    assert leg.capabilities == frozenset({Capability.HOLD})
