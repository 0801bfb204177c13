"""relay: adapter: ConversationRelay's wire format, and whole calls against a local CR app."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from adapter_support import line, until
from relay_app import RelayApp, Send, tokens

from callport.agentref import AgentRef, AgentRefError, parse_agent_ref
from callport.agents.adapters import relay_protocol as wire
from callport.config import ConfigError, ServerSettings, Settings
from callport.server.runtime import build_runtime
from callport.types import CallInfo, User

# ---- the wire format ------------------------------------------------------------------------


def test_app_messages_parse_to_typed_events() -> None:
    assert wire.parse_app('{"type":"text","token":"Hi ","last":false,"lang":"sv-SE",'
                          '"interruptible":false}') == wire.AppText("Hi ", False, "sv-SE", False)
    assert wire.parse_app('{"type":"text","token":"x","last":true}') == wire.AppText("x", True)
    assert wire.parse_app('{"type":"play","source":"https://h/a.wav","loop":2}') == \
        wire.AppPlay("https://h/a.wav", 2)
    assert wire.parse_app('{"type":"sendDigits","digits":"9www4085551212"}') == \
        wire.AppSendDigits("9www4085551212")
    assert wire.parse_app('{"type":"language","ttsLanguage":"sv-SE","transcriptionLanguage":'
                          '"en-US"}') == wire.AppLanguage("sv-SE", "en-US")
    end = wire.parse_app(
        '{"type":"end","handoffData":"{\\"reasonCode\\":\\"live-agent-handoff\\"}"}')
    assert end == wire.AppEnd('{"reasonCode":"live-agent-handoff"}')


@pytest.mark.parametrize("raw", ["not json", "[1]", '{"type":"nope"}', '{"type":"text","token":5}',
                                 '{"type":"sendDigits","digits":"12x"}', '{"type":"play"}',
                                 '{"type":"text","token":"a","last":"maybe"}'])
def test_invalid_app_messages_become_invalid_events(raw: str) -> None:
    assert isinstance(wire.parse_app(raw), wire.AppInvalid)


def test_provider_messages_use_conversationrelay_field_names() -> None:
    info = CallInfo(call_id="CA1", channel="twilio", caller="+15551230001", callee="+15559870000",
                    user=User(name="alice", display_name="Alice"))
    setup = json.loads(wire.setup(info, session_id="VX1", custom={"k": "v"}))
    assert setup["type"] == "setup" and setup["sessionId"] == "VX1"
    assert (setup["callSid"], setup["from"], setup["to"]) == ("CA1", "+15551230001", "+15559870000")
    assert setup["direction"] == "inbound" and setup["customParameters"] == {"k": "v"}
    assert setup["callType"] == "PSTN" and setup["callerName"] == "Alice"
    assert json.loads(wire.prompt("hi there", lang="en-US")) == {
        "type": "prompt", "voicePrompt": "hi there", "lang": "en-US", "last": True}
    assert json.loads(wire.dtmf("5")) == {"type": "dtmf", "digit": "5"}
    assert json.loads(wire.interrupt("Life is a", 460)) == {
        "type": "interrupt", "utteranceUntilInterrupt": "Life is a",
        "durationUntilInterruptMs": 460}
    assert json.loads(wire.error("bad")) == {"type": "error", "description": "bad"}


def test_handoff_target_comes_from_handoff_data() -> None:
    assert wire.handoff_target('{"reasonCode":"x","to":"tel:+15550100"}') == "tel:+15550100"
    assert wire.handoff_target('{"transferTo":"sip:desk@pbx"}') == "sip:desk@pbx"
    assert wire.handoff_target('{"reasonCode":"live-agent-handoff"}') == ""
    assert wire.handoff_target("plain words") == ""


def test_clause_buffer_lets_each_clause_go_once_text_follows_it() -> None:
    buf = wire.ClauseBuffer()
    out: list[str] = []
    for tok in ["Hello", " there.", " We open", " at nine", " tomorrow.", " See", " you"]:
        out += buf.feed(tok)
    assert out == ["Hello there.", "We open at nine tomorrow."]
    assert buf.flush() == ["See you"]
    assert buf.flush() == []


def test_agent_references_name_adapters_or_python() -> None:
    assert parse_agent_ref("relay:wss://app.example/ws") == AgentRef("relay", "wss://app.example/ws")
    assert parse_agent_ref("llm:http://127.0.0.1:11434/v1").scheme == "llm"
    assert parse_agent_ref("mybot.agent:make_agent").scheme == "python"
    assert parse_agent_ref("openai-realtime") == AgentRef("openai-realtime", "")
    assert parse_agent_ref("twilio-ws:wss://bot/ws").available
    for bad in ("relay:http://x/ws", "llm:ws://x", "relay:", "gemini-live:wss://x", "nonsense"):
        with pytest.raises(AgentRefError):
            parse_agent_ref(bad)


@pytest.mark.parametrize("ref", ["openai-realtime", "gemini-live", "twilio-ws:wss://b/ws",
                                 "telnyx-ws:ws://127.0.0.1:1/ws", "relay:wss://a/ws",
                                 "llm:http://127.0.0.1:1/v1"])
def test_every_adapter_is_available(ref: str) -> None:
    runtime = build_runtime(Settings(server=ServerSettings(agent=ref, db=":memory:")))
    assert callable(runtime.agent_factory)


def test_an_adapter_still_listed_as_not_yet_is_a_clear_config_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import callport.agentref as agentref

    monkeypatch.setattr(agentref, "NOT_YET", frozenset({"gemini-live"}))
    settings = Settings(server=ServerSettings(agent="gemini-live", db=":memory:"))
    with pytest.raises(ConfigError, match="not available yet"):
        build_runtime(settings)


# ---- whole calls ---------------------------------------------------------------------------


async def cafe(msg: dict[str, Any], send: Send) -> None:
    """A small CR app: hours, a hand-off to a person, keys, digits to send (ToneTTS records
    each sentence without its full stop)."""
    match msg:
        case {"type": "prompt", "voicePrompt": text} if "person" in text:
            for t in tokens("Putting you through now."):
                await send(t)
            await send({"type": "end", "handoffData": json.dumps(
                {"reasonCode": "live-agent-handoff", "to": "tel:+15550100"})})
        case {"type": "prompt", "voicePrompt": text} if "extension" in text:
            await send({"type": "sendDigits", "digits": "12w3"})
            for t in tokens("Dialled it."):
                await send(t)
        case {"type": "prompt", "voicePrompt": text} if "bye" in text:
            await send({"type": "end", "handoffData": '{"reasonCode":"done"}'})
        case {"type": "prompt", "voicePrompt": text}:
            for t in tokens(f"We open at nine. You said {text}."):
                await send(t)
        case {"type": "dtmf", "digit": digit}:
            for t in tokens(f"You pressed {digit}."):
                await send(t)


async def test_a_call_prompts_the_app_and_speaks_its_streamed_tokens() -> None:
    async with RelayApp(cafe) as app:
        url = app.url
        call = line(f"relay:{url}", ["when do you open", "bye"])
        call.start()
        await call.listening(0)
        await call.say()
        await call.listening(1)
        assert "We open at nine" in call.tts.spoken
        assert "You said when do you open" in call.tts.spoken
        call.leg.press("7")
        await call.listening(2)
        assert "You pressed 7" in call.tts.spoken
        await call.say()
        await call.ended()
    assert call.leg.hung_up_reason == "agent-ended"
    setup, prompt, dtmf, prompt2 = app.sessions[0]
    assert setup["type"] == "setup" and setup["callSid"] == "CAr1"
    assert setup["from"] == "+15551230001" and setup["to"] == "+15559870000"
    assert setup["callerName"] == "Alice"
    assert prompt == {"type": "prompt", "voicePrompt": "when do you open", "lang": "en-US",
                      "last": True}
    assert dtmf == {"type": "dtmf", "digit": "7"} and prompt2["voicePrompt"] == "bye"
    await until(app.closed.is_set)  # the call's end closed the socket
    kinds = [e.kind for e in await call.calls.events("CAr1")]
    details = [e.detail for e in await call.calls.events("CAr1") if e.kind == "agent"]
    assert "agent" in kinds
    assert any(d.startswith(f"relay:{url}: connected in") for d in details)
    assert any("first words in" in d for d in details)
    assert any("ended, 3 turns, first words median" in d for d in details)


async def test_end_with_handoff_data_transfers_and_send_digits_reach_the_far_end() -> None:
    async with RelayApp(cafe) as app:
        call = line(f"relay:{app.url}", ["my extension please", "a person please"])
        call.start()
        await call.listening(0)
        await call.say()
        await call.listening(1)
        assert call.leg.digits_sent == ["12", "3"]  # "w" is a half-second pause between
        assert "Dialled it" in call.tts.spoken
        await call.say()
        await call.ended()
    assert "Putting you through now" in call.tts.spoken
    assert call.leg.transfers == ["tel:+15550100"]


async def test_end_without_a_target_goes_to_agent_handoff() -> None:
    async with RelayApp(cafe) as app:
        call = line(f"relay:{app.url}", ["bye"], handoff="sip:desk@127.0.0.1")
        call.start()
        await call.listening(0)
        await call.say()
        await call.ended()
    # a sip: hand-off carries the caller's identity as URI headers (the PBX copies them)
    assert call.leg.transfers == ["sip:desk@127.0.0.1?X-Callport-Caller=%2B15551230001"
                                  "&X-Callport-Call-Id=CAr1&X-Callport-User=alice"]


def test_sip_handoff_targets_carry_identity_and_the_apps_x_headers() -> None:
    info = CallInfo(call_id="CA9", channel="twilio", caller="+15551230001",
                    user=User(name="bob", guest=True))
    data = '{"to": "sip:+15550100@proj.sip.livekit.cloud", "headers": {"X-Order": "42 a&b", ' \
        '"Authorization": "no"}}'
    target = wire.with_identity(wire.handoff_target(data), info, wire.handoff_headers(data))
    assert target == ("sip:+15550100@proj.sip.livekit.cloud?X-Callport-Caller=%2B15551230001"
                      "&X-Callport-Call-Id=CA9&X-Order=42%20a%26b")
    assert wire.with_identity("tel:+15550100", info) == "tel:+15550100"


async def long_talker(msg: dict[str, Any], send: Send) -> None:
    if msg.get("type") == "prompt":
        text = ("Our menu has many things. There is soup of the day. There is bread and "
                "butter. There are three kinds of cake. And there is coffee all day long.")
        for t in tokens(text):
            await send(t)


async def test_barge_in_sends_interrupt_with_the_heard_text_and_duration() -> None:
    async with RelayApp(long_talker) as app:
        call = line(f"relay:{app.url}", ["what is on the menu", "stop"], realtime=True)
        call.start()
        await call.listening(0)
        await call.say()
        await until(lambda: call.call.session.agent_audible and len(call.call.turns) == 1
                    and "Our menu has many things" in call.tts.spoken, timeout=10)
        await call.leg.silence(0.7)  # about the first sentence plays
        await call.say(0.4)  # the caller talks over the rest
        await until(lambda: app.messages("interrupt"), timeout=10)
        call.leg.caller_hangup()
        ended = await call.ended()
    (interrupt,) = app.messages("interrupt")
    full = ("Our menu has many things. There is soup of the day. There is bread and butter. "
            "There are three kinds of cake. And there is coffee all day long.")
    heard = interrupt["utteranceUntilInterrupt"]
    assert heard and full.startswith(heard) and heard != full
    assert heard == ended.turns[0].heard and ended.turns[0].interrupted
    # ToneTTS speaks 0.1 s a word: the heard words took at least this long to play
    assert interrupt["durationUntilInterruptMs"] >= 100 * len(heard.split()) - 200
    assert interrupt["durationUntilInterruptMs"] < 100 * len(full.split())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_unreachable_app_gives_an_apology_and_the_fallback_transfer() -> None:
    call = line(f"relay:ws://127.0.0.1:{closed_port()}/ws", ["hello"],
                fallback="transfer:tel:+15550199")
    call.start()
    await call.listening(0)
    await call.say()
    await call.ended()
    assert "Sorry" in call.spoken()
    assert call.leg.transfers == ["tel:+15550199"]
    details = [e.detail for e in await call.calls.events("CAr1") if e.kind == "agent"]
    assert any("failed: cannot connect to ws://127.0.0.1" in d for d in details)


async def silent_app(msg: dict[str, Any], send: Send) -> None:
    return None


async def test_an_app_that_stops_answering_gives_an_apology_and_goodbye() -> None:
    async with RelayApp(silent_app) as app:
        call = line(f"relay:{app.url}", ["hello"], reply_timeout_s=0.5)
        call.start()
        await call.listening(0)
        await call.say()
        await call.ended()
    assert "Sorry" in call.spoken() and call.leg.transfers == []
    assert call.leg.hung_up_reason is not None and call.leg.hung_up_reason != "caller"
    details = [e.detail for e in await call.calls.events("CAr1") if e.kind == "agent"]
    assert any("no reply within 0.5 s" in d for d in details)


async def test_invalid_app_messages_are_answered_with_error_and_the_call_goes_on() -> None:
    async def sloppy(msg: dict[str, Any], send: Send) -> None:
        if msg.get("type") == "prompt":
            await send({"type": "speak", "words": "nope"})
            for t in tokens("Fine then."):
                await send(t)

    async with RelayApp(sloppy) as app:
        call = line(f"relay:{app.url}", ["hello"])
        call.start()
        await call.listening(0)
        await call.say()
        await call.listening(1)
        call.leg.caller_hangup()
        await call.ended()
    assert "Fine then" in call.tts.spoken
    (error,) = app.messages("error")
    assert "unknown message type 'speak'" in error["description"]


async def test_text_the_app_sends_unasked_is_spoken_between_turns() -> None:
    async def greeter(msg: dict[str, Any], send: Send) -> None:
        if msg.get("type") == "setup":
            for t in tokens(f"Welcome to the cafe, caller {msg['from'][-4:]}."):
                await send(t)
        elif msg.get("type") == "prompt":
            for t in tokens("We have cake."):
                await send(t)

    async with RelayApp(greeter) as app:
        call = line(f"relay:{app.url}", ["what do you have"])
        call.start()
        await call.listening(0)
        await until(lambda: "Welcome to the cafe, caller 0001" in call.tts.spoken)
        await call.say()
        await call.listening(1)
        call.leg.caller_hangup()
        ended = await call.ended()
    assert ended.turns[0].reply == "We have cake."  # the greeting did not take its place


class WavServer:
    """Serves ``/chime.wav`` (a tone) and ``/song.mp3`` (not a WAV) on 127.0.0.1."""

    def __init__(self) -> None:
        import numpy as np

        from callport.audio.wav import wav_bytes

        self.wav = wav_bytes((8000 * np.sin(np.arange(4000) / 5.0)).astype(np.int16), 8000)
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        body = self.wav if " /chime.wav " in head.split("\r\n")[0] else b"ID3 not a wav"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()


async def test_play_plays_a_wav_source_and_refuses_what_it_cannot_decode() -> None:
    async with WavServer() as media:
        async def jukebox(msg: dict[str, Any], send: Send) -> None:
            if msg.get("type") == "prompt":
                await send({"type": "play", "source": f"{media}/chime.wav"})
                await send({"type": "play", "source": f"{media}/song.mp3"})
                for t in tokens("That was the chime."):
                    await send(t)

        async with RelayApp(jukebox) as app:
            call = line(f"relay:{app.url}", ["play the chime"])
            call.start()
            await call.listening(0)
            sent_before = len(call.leg.sent)
            await call.say()
            await call.listening(1)
            call.leg.caller_hangup()
            await call.ended()
    # the chime (0.5 s = 25 frames at 20 ms) and the spoken sentence (4 words, 0.4 s) played
    assert len(call.leg.sent) - sent_before >= 25 + 20
    assert "That was the chime" in call.tts.spoken
    (error,) = app.messages("error")
    assert error["description"].startswith("play: ") and "song.mp3" in error["description"]
