"""twilio-ws: / telnyx-ws: adapters: the wire format, and whole calls against a bot."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from adapter_support import line, tone, until
from media_bot import media_bot

from callport.agentref import AgentRef, parse_agent_ref
from callport.agents.adapters import media_bot_protocol as wire

# ---- the wire format ------------------------------------------------------------------------


def _stream(dialect: wire.Dialect) -> wire.MediaStream:
    return wire.MediaStream(dialect=dialect, stream_id="MZ1", call_id="CA1", account_sid="AC1",
                            caller="+15551230001", callee="+15559870000",
                            custom={"from": "+15551230001", "user": "alice"})


def test_twilio_messages_carry_twilio_field_names_and_string_counters() -> None:
    s = _stream("twilio")
    assert json.loads(s.connected()) == {"event": "connected", "protocol": "Call",
                                         "version": "1.0.0"}
    start = json.loads(s.start())
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert start["streamSid"] == "MZ1" and start["start"]["callSid"] == "CA1"
    assert start["start"]["accountSid"] == "AC1"
    assert start["start"]["customParameters"] == {"from": "+15551230001", "user": "alice"}
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                             "channels": 1}
    first, second = json.loads(s.media(b"\xff" * 160)), json.loads(s.media(b"\x7f" * 160))
    assert (first["sequenceNumber"], first["media"]["chunk"], first["media"]["timestamp"]) == \
        ("2", "1", "0")
    assert (second["sequenceNumber"], second["media"]["chunk"], second["media"]["timestamp"]) == \
        ("3", "2", "20")
    assert base64.b64decode(first["media"]["payload"]) == b"\xff" * 160
    assert json.loads(s.dtmf("5"))["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert json.loads(s.mark("m1"))["mark"] == {"name": "m1"}
    assert json.loads(s.stop())["stop"] == {"accountSid": "AC1", "callSid": "CA1"}


def test_telnyx_messages_are_snake_case_with_call_control_id() -> None:
    s = _stream("telnyx")
    assert json.loads(s.connected()) == {"event": "connected", "version": "1.0.0"}
    start = json.loads(s.start())
    assert start["stream_id"] == "MZ1" and start["sequence_number"] == "1"
    assert start["start"]["call_control_id"] == "CA1"
    assert start["start"]["media_format"] == {"encoding": "PCMU", "sample_rate": 8000,
                                              "channels": 1}
    assert start["start"]["custom_parameters"]["user"] == "alice"
    assert json.loads(s.dtmf("#"))["dtmf"] == {"digit": "#"}


def test_bot_messages_parse_to_typed_events() -> None:
    payload = base64.b64encode(b"\x01\x02").decode()
    assert wire.parse_bot(json.dumps({"event": "media", "streamSid": "MZ1",
                                      "media": {"payload": payload}})) == wire.BotMedia(b"\x01\x02")
    assert wire.parse_bot('{"event":"mark","streamSid":"MZ1","mark":{"name":"a"}}') == \
        wire.BotMark("a")
    assert wire.parse_bot('{"event":"clear","streamSid":"MZ1"}') == wire.BotClear()
    assert wire.parse_bot('{"event":"clear"}') == wire.BotClear()  # Telnyx: no stream id
    assert wire.parse_bot('{"event":"transcript"}') == wire.BotOther("transcript")


@pytest.mark.parametrize("raw", ["nope", "[]", '{"media":{}}', '{"event":"media"}',
                                 '{"event":"media","media":{"payload":"!!"}}',
                                 '{"event":"mark","mark":{}}', b"\x00"])
def test_garbage_from_the_bot_is_an_invalid_event(raw: str | bytes) -> None:
    assert isinstance(wire.parse_bot(raw), wire.BotInvalid)


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def test_the_rest_hang_up_needs_the_credentials_handed_to_the_bot() -> None:
    secrets = {"AC1": "tok"}.get

    def req(path: str, headers: dict[str, str], body: bytes = b"Status=completed") -> object:
        return wire.rest_request("POST", path, headers, body, prefix="/twilio",
                                 twilio_secret=secrets, telnyx_secret={"v3:x": "key"}.get)

    path = "/twilio/2010-04-01/Accounts/AC1/Calls/CA1.json"
    assert req(path, _basic("AC1", "tok")) == wire.RestHangup("twilio", "CA1")
    for headers in ({}, _basic("AC1", "wrong"), _basic("AC2", "tok"),
                    {"authorization": "Bearer tok"}):
        answer = req(path, headers)
        assert isinstance(answer, wire.RestAnswer) and answer.status == 401
        assert answer.body["code"] == 20003
    bad = req(path, _basic("AC1", "tok"), b"Status=in-progress")
    assert isinstance(bad, wire.RestAnswer) and bad.status == 400
    outside = req("/2010-04-01/Accounts/AC1/Calls/CA1.json", _basic("AC1", "tok"))
    assert isinstance(outside, wire.RestAnswer) and outside.status == 404
    telnyx = "/twilio/v2/calls/v3:x/actions/hangup"
    assert req(telnyx, {"authorization": "Bearer key"}) == wire.RestHangup("telnyx", "v3:x")
    denied = req(telnyx, {"authorization": "Bearer nope"})
    assert isinstance(denied, wire.RestAnswer) and denied.status == 401


def test_media_bot_references_are_available() -> None:
    assert parse_agent_ref("twilio-ws:wss://bot.example/ws") == \
        AgentRef("twilio-ws", "wss://bot.example/ws")
    assert parse_agent_ref("telnyx-ws:ws://127.0.0.1:9/ws").available


# ---- whole calls against a stand-in bot ----------------------------------------------------


async def test_a_call_streams_both_ways_echoes_marks_when_heard_and_relays_keys() -> None:
    async with media_bot() as bot:
        ln = line(f"twilio-ws:{bot.url}", [], realtime=True)
        ln.start()
        await asyncio.wait_for(bot.connected.wait(), 5)
        await until(lambda: bot.events("start"))
        start = bot.start["start"]
        assert bot.received[0]["event"] == "connected"
        assert start["customParameters"]["from"] == "+15551230001"
        assert start["customParameters"]["user"] == "alice"
        assert start["customParameters"]["callport_api_base"].startswith("http://127.0.0.1:")
        await ln.leg.speak(tone(0.5, 8000), 8000)
        await until(lambda: len(bot.events("media")) >= 25)
        assert float(np.abs(bot.caller_audio()).max()) > 4000  # the caller's tone reached it
        await bot.media(tone(1.0, 8000, freq=660.0))  # 1 s, sent at once: paced by callport
        await bot.mark("after-hello")
        await until(lambda: bot.events("mark"), timeout=5)
        assert len(ln.leg.sent) >= 50  # echoed only once the second of audio had been sent
        assert float(np.abs(ln.leg.output()).max()) > 4000
        ln.leg.press("7")
        await until(lambda: bot.events("dtmf"))
        assert bot.events("dtmf")[0]["dtmf"]["digit"] == "7"
        ln.leg.caller_hangup()
        await until(lambda: bot.events("stop"))
        await ln.ended()
    events = [e.detail for e in await ln.calls.events(ln.info.call_id) if e.kind == "agent"]
    assert any("connected in" in d for d in events) and any("marks" in d for d in events)


async def test_clear_drops_the_bots_queued_audio_and_echoes_pending_marks() -> None:
    async with media_bot() as bot:
        ln = line(f"twilio-ws:{bot.url}", [], realtime=True)
        ln.start()
        await until(lambda: bot.events("start"))
        await bot.media(tone(4.0, 8000))
        await bot.mark("long")
        await until(lambda: len(ln.leg.sent) >= 10)
        await bot.clear()
        await until(lambda: bot.events("mark"))
        assert bot.events("mark")[0]["mark"]["name"] == "long"
        assert ln.leg.cleared >= 1
        sent = len(ln.leg.sent)
        await asyncio.sleep(0.3)
        assert sent < 100 and len(ln.leg.sent) - sent <= 2  # the rest of the 4 s never went out
        ln.leg.caller_hangup()
        await ln.ended()


async def test_the_bots_rest_hang_up_ends_the_call_only_with_its_credentials() -> None:
    async with media_bot() as bot:
        ln = line(f"twilio-ws:{bot.url}", [], realtime=True)
        ln.start()
        await until(lambda: bot.events("start"))
        params = bot.start["start"]["customParameters"]
        account, call_sid = bot.start["start"]["accountSid"], bot.start["start"]["callSid"]
        url = f"{params['callport_api_base']}/2010-04-01/Accounts/{account}/Calls/{call_sid}.json"
        async with httpx.AsyncClient() as client:
            denied = await client.post(url, data={"Status": "completed"},
                                       auth=(account, "not-the-token"))
            assert denied.status_code == 401
            assert not ln.call.ended  # a wrong password changes nothing
            ok = await client.post(url, data={"Status": "completed"},
                                   auth=(account, params["callport_auth_token"]))
            assert ok.status_code == 200 and ok.json()["status"] == "completed"
            call = await ln.ended()
            again = await client.post(url, data={"Status": "completed"},
                                      auth=(account, params["callport_auth_token"]))
            assert again.status_code == 404 and again.json()["code"] == 20404
        assert call.session.hangup_reason == "agent-ended"
        await asyncio.wait_for(bot.closed.wait(), 5)
        assert bot.events("stop")


async def test_an_unreachable_bot_gives_an_apology_and_the_fallback() -> None:
    ln = line("twilio-ws:ws://127.0.0.1:9/ws", [], fallback="transfer:tel:+15550100")
    ln.start()
    call = await ln.ended()
    assert "Sorry" in ln.spoken()
    assert ln.leg.transfers == ["tel:+15550100"]
    assert call.session.transferred_to == "tel:+15550100"
    events = [e.detail for e in await ln.calls.events(ln.info.call_id) if e.kind == "agent"]
    assert any("failed: cannot connect" in d for d in events)


async def test_a_socket_that_breaks_mid_call_gives_the_apology() -> None:
    async with media_bot() as bot:
        ln = line(f"telnyx-ws:{bot.url}", [], realtime=True)
        ln.start()
        await until(lambda: bot.events("start"))
        assert "call_control_id" in bot.start["start"]
        await bot.close(1011)
        call = await ln.ended()
    assert "Sorry" in ln.spoken()
    assert call.session.hangup_reason == "agent-error"


async def test_a_bot_closing_its_socket_ends_the_call_after_its_last_words() -> None:
    async with media_bot() as bot:
        ln = line(f"telnyx-ws:{bot.url}", [], realtime=True)
        ln.start()
        await until(lambda: bot.events("start"))
        await bot.media(tone(0.6, 8000))
        await bot.close(1000)
        call = await ln.ended()
    assert call.session.hangup_reason == "agent-ended"
    assert len(ln.leg.sent) >= 28  # its 0.6 s were heard before the hang-up
    assert "Sorry" not in ln.spoken()


async def test_a_telnyx_bot_hangs_up_with_its_bearer_token_and_taps_see_both_ways() -> None:
    from callport.call.taps import Direction, FrameCollector

    async with media_bot() as bot:
        ln = line(f"telnyx-ws:{bot.url}", [], realtime=True)
        ln.start()
        await until(lambda: bot.events("start"))
        inbound, outbound = FrameCollector(), FrameCollector()
        ln.call.session.add_tap(inbound, Direction.IN)  # as a recording does
        ln.call.session.add_tap(outbound, Direction.OUT)
        start = bot.start["start"]
        params = start["custom_parameters"]
        await bot.media(tone(0.4, 8000, freq=660.0))
        await ln.leg.speak(tone(0.4, 8000), 8000)
        await until(lambda: len(outbound.frames) >= 15)
        url = f"{params['callport_api_base']}/v2/calls/{start['call_control_id']}/actions/hangup"
        async with httpx.AsyncClient() as client:
            denied = await client.post(url, json={}, headers={"Authorization": "Bearer nope"})
            assert denied.status_code == 401 and not ln.call.ended
            ok = await client.post(url, json={}, headers={
                "Authorization": f"Bearer {params['callport_auth_token']}"})
            assert ok.status_code == 200
            call = await ln.ended()
            gone = await client.post(url, json={}, headers={
                "Authorization": f"Bearer {params['callport_auth_token']}"})
            assert gone.status_code == 422 and gone.json()["errors"][0]["code"] == "90018"
    assert call.session.hangup_reason == "agent-ended"
    assert {f.source for f in outbound.frames} == {"agent"}  # the bot's audio, as sent
    assert max(int(np.abs(f.pcm).max()) for f in inbound.frames) > 4000  # the caller's


async def test_a_bot_that_breaks_mid_call_falls_back_to_voicemail_with_turns_working() -> None:
    from callport.flows.voicemail import AFTER_TONE

    async with media_bot() as bot:
        ln = line(f"twilio-ws:{bot.url}", ["please call me back"], realtime=True,
                  fallback="voicemail")
        ln.start()
        await until(lambda: bot.events("start"))
        await bot.close(1011)  # the bot crashes: apology, then a message after the tone
        await until(lambda: AFTER_TONE.split(".")[0] in ln.spoken()
                    and ln.call.listening.is_set())
        await ln.leg.speak(tone(0.6, 8000, freq=500.0), 8000, trailing_silence_s=1.0)
        await until(lambda: len(ln.call.turns) >= 1)  # the VAD ended the message
        ln.leg.press("#")
        call = await ln.ended()
    [message] = await ln.runtime.voicemail.list(for_user="owner")
    assert message.transcript == "please call me back" and message.menu == "fallback"
    assert call.session.hangup_reason == "agent-error"


def test_agent_urls_are_checked_when_settings_load() -> None:
    from callport.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=r"agent\.api_base_url"):
        load_settings(env={"CALLPORT_AGENT_API_BASE_URL": "ftp://x"})
    with pytest.raises(ConfigError, match=r"agent\.base_url"):
        load_settings(env={"CALLPORT_AGENT_BASE_URL": "https://api.openai.com"})
    ok = load_settings(env={"CALLPORT_AGENT_API_BASE_URL": "http://0.0.0.0:8790/twilio"})
    assert ok.agent.api_base_url == "http://0.0.0.0:8790/twilio"


@pytest.mark.slow  # the IVR embeds its menu's examples (the sentence model)
async def test_an_ivr_option_connects_the_caller_to_a_media_stream_bot(tmp_path: Path) -> None:
    from adapter_support import ALICE, EnergyVad, ScriptedSTT, ToneTTS

    from callport.call.memory import MemoryLeg
    from callport.config import ServerSettings, Settings
    from callport.server.runtime import build_runtime
    from callport.types import CallInfo

    async with media_bot() as bot:
        menu = tmp_path / "menu.toml"
        menu.write_text(f'''[ivr]
start = "main"

[menus.main]
prompt = "For our bot, press 5."

[[menus.main.options]]
name = "bot"
key = "5"
examples = ["the bot", "talk to the bot"]
action = "agent:twilio-ws:{bot.url}"
''')
        runtime = build_runtime(Settings(server=ServerSettings(db=":memory:", ivr=str(menu))),
                                stt=ScriptedSTT([]), tts=ToneTTS(),  # type: ignore[arg-type]
                                vad=EnergyVad())
        leg = MemoryLeg(call_id="CAivr", sample_rate=8000, realtime=True)
        info = CallInfo(call_id="CAivr", channel="sip", caller="+15551230001",
                        callee="+15559870000", user=ALICE)
        task = asyncio.create_task(runtime.run_call(leg, info))
        await until(lambda: "CAivr" in runtime.active
                    and runtime.active["CAivr"].listening.is_set())  # the menu asks
        leg.press("5")
        await until(lambda: bot.events("start"))
        assert bot.start["start"]["customParameters"]["user"] == "alice"
        await bot.media(tone(0.4, 8000, freq=660.0))
        await until(lambda: len(leg.sent) > 20)
        leg.caller_hangup()
        await asyncio.wait_for(task, 10)
        await until(lambda: bot.events("stop"))


async def test_callport_talk_runs_a_call_with_a_media_stream_bot() -> None:
    from callport.talk import run_talk

    async with media_bot() as bot:
        ln = line(f"twilio-ws:{bot.url}", [])

        async def echo() -> None:  # the bot answers each caller frame with its own tone
            await until(lambda: bot.events("start"))
            answered = 0
            while True:
                media = bot.events("media")
                if len(media) > answered:
                    await bot.media(tone(0.02 * (len(media) - answered), 8000, freq=660.0))
                    answered = len(media)
                await asyncio.sleep(0.005)

        echoing = asyncio.create_task(echo())
        try:
            result = await run_talk(ln.runtime, [(tone(0.5, 16000), 16000)], turn_timeout_s=10)
        finally:
            echoing.cancel()
    assert result.hangup_reason == "caller"
    reply = np.concatenate([t.reply_pcm for t in result.turns])
    assert len(reply) > 0 and float(np.abs(reply).max()) > 4000  # the bot was heard
