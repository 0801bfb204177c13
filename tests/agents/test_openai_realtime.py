"""openai-realtime: the wire format, and whole spoken calls against a stand-in Realtime server."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
from adapter_support import line, tone, until
from realtime_server import CallTool, Speak, realtime_server

from callport.agents.adapters import openai_realtime_protocol as rt
from callport.agents.adapters.call_tools import CALL_TOOLS


def test_session_update_asks_for_g711_on_phone_legs_and_pcm_24k_elsewhere() -> None:
    tools = rt.realtime_tools(CALL_TOOLS)
    msg = json.loads(rt.session_update(instructions="be brief", voice="marin", pcmu=True,
                                       tools=tools))
    session = msg["session"]
    assert msg["type"] == "session.update" and session["type"] == "realtime"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "marin"}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    names = {t["name"] for t in session["tools"]}
    assert {"add_task", "end_call", "transfer_call", "send_dtmf"} <= names
    assert all(t["type"] == "function" and "parameters" in t for t in session["tools"])
    wide = json.loads(rt.session_update(instructions="", voice="", pcmu=False, tools=[]))
    assert wide["session"]["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}}
    assert json.loads(rt.truncate("item_1", 640)) == {
        "type": "conversation.item.truncate", "item_id": "item_1", "content_index": 0,
        "audio_end_ms": 640}
    assert json.loads(rt.function_output("call_1", "Added.")) == {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_1", "output": "Added."}}


def test_server_events_parse_to_typed_events_under_ga_and_beta_names() -> None:
    assert rt.parse_server('{"type":"response.output_audio.delta","item_id":"i","response_id":'
                           '"r","delta":"AAE="}') == rt.RtAudio("i", "r", b"\x00\x01")
    assert rt.parse_server('{"type":"response.audio.delta","item_id":"i","delta":"AAE="}') == \
        rt.RtAudio("i", "", b"\x00\x01")
    assert rt.parse_server('{"type":"input_audio_buffer.speech_started","audio_start_ms":120,'
                           '"item_id":"u"}') == rt.RtSpeechStarted("u", 120)
    assert rt.parse_server('{"type":"response.function_call_arguments.done","call_id":"c",'
                           '"name":"add_task","arguments":"{}"}') == \
        rt.RtFunctionCall("c", "add_task", "{}")
    assert rt.parse_server('{"type":"response.done","response":{"id":"r","status":"cancelled"}}'
                           ) == rt.RtResponseDone("r", "cancelled")
    assert rt.parse_server('{"type":"error","error":{"message":"bad","code":"x"}}') == \
        rt.RtError("bad", "x")
    assert rt.parse_server('{"type":"rate_limits.updated"}') == rt.RtOther("rate_limits.updated")
    for raw in ("{", "[]", '{"type":"response.output_audio.delta","delta":"!!"}',
                '{"type":"response.function_call_arguments.done"}'):
        assert isinstance(rt.parse_server(raw), rt.RtInvalid)


def _peak_hz(frame: np.ndarray) -> int:
    if not np.abs(frame).max():
        return 0
    return int(np.argmax(np.abs(np.fft.rfft(frame.astype(np.float64))))) * 8000 // len(frame)


async def test_a_spoken_call_with_a_tool_call_and_a_barge_in_truncated_at_the_heard_ms() -> None:
    script = [Speak(1.0, 440.0),  # the greeting
              CallTool("add_task", {"title": "buy milk", "due": "tomorrow"}),
              Speak(3.0, 600.0),  # the reply the caller interrupts
              CallTool("end_call"), Speak(0.6, 700.0)]  # goodbye
    async with realtime_server(script) as server:
        ln = line("openai-realtime", [], realtime=True, base_url=server.url, api_key="sk-test")
        sent_at_truncate: list[int] = []
        server.on_truncate = lambda item, ms: sent_at_truncate.append(len(ln.leg.sent))
        ln.start()
        await until(lambda: len(ln.leg.sent) >= 50, timeout=10)  # the greeting was heard
        assert server.path == "/v1/realtime?model=gpt-realtime"
        assert server.headers["authorization"] == "Bearer sk-test"
        assert server.session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        await ln.leg.speak(tone(0.5, 8000, amp=9000), 8000, trailing_silence_s=0.5)
        await until(lambda: server.outputs, timeout=10)  # add_task ran, its result went back
        assert "buy milk" in server.outputs[0].lower()
        await until(lambda: len(server.items) >= 2, timeout=10)
        reply_start = len(ln.leg.sent)
        await until(lambda: len(ln.leg.sent) - reply_start >= 50, timeout=10)  # ~1 s heard
        await ln.leg.speak(tone(0.4, 8000, amp=9000), 8000, trailing_silence_s=0.6)
        await until(lambda: server.truncations, timeout=10)
        call = await ln.ended()
    [(item, end_ms)] = server.truncations
    assert server.errors == []
    assert server.items[item] == 3000 and 800 <= end_ms < 3000
    first = next(i for i, f in enumerate(ln.leg.sent) if _peak_hz(f) == 600)  # the reply
    heard_frames = sent_at_truncate[0] - first  # frames of the reply the leg was given
    assert abs(end_ms - heard_frames * 20) <= 200, (end_ms, heard_frames)
    assert ln.leg.cleared >= 1
    assert call.session.hangup_reason == "goodbye"
    tasks = await ln.tasks.of("alice").list()
    assert [t.title for t in tasks] == ["buy milk"]
    events = [e.detail for e in await ln.calls.events(ln.info.call_id) if e.kind == "agent"]
    assert any("truncated at" in d for d in events) and any("tool add_task" in d for d in events)


async def test_a_wideband_leg_gets_pcm_at_24_khz() -> None:
    async with realtime_server([Speak(0.5)]) as server:
        ln = line("openai-realtime", [], realtime=True, base_url=server.url, sample_rate=16000)
        ln.start()
        await until(lambda: len(ln.leg.sent) >= 25, timeout=10)
        assert server.session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        await ln.leg.speak(tone(0.3, 16000), 16000)
        await until(lambda: any(m["type"] == "input_audio_buffer.append"
                                for m in server.received), timeout=5)
        ln.leg.caller_hangup()
        await ln.ended()
    out = np.concatenate(ln.leg.sent)
    assert float(np.abs(out).max()) > 4000  # the model's 24 kHz audio, resampled to the leg


async def test_an_unreachable_service_gives_the_apology_and_goodbye() -> None:
    ln = line("openai-realtime", [], base_url="ws://127.0.0.1:9/v1/realtime")
    ln.start()
    call = await ln.ended()
    assert "Sorry" in ln.spoken() and call.session.hangup_reason == "agent-error"
    await asyncio.sleep(0)


async def test_phone_audio_reaches_the_model_as_the_callers_own_g711_bytes() -> None:
    """On an 8 kHz leg the caller's µ-law goes up byte for byte (no resampling: the leg's
    decoded PCM re-encodes exactly, but for µ-law's two zeros, which are one sound)."""
    from callport.audio.g711 import ulaw_decode, ulaw_encode

    codes = bytes(range(256)) * 2
    assert ulaw_encode(ulaw_decode(codes)) == codes.replace(b"\x7f", b"\xff")
    async with realtime_server([Speak(0.2)]) as server:
        ln = line("openai-realtime", [], realtime=True, base_url=server.url)
        ln.start()
        await until(lambda: server.session)
        wire = ulaw_decode(bytes(range(128, 256)) + bytes(range(0, 127)) + b"\xff" * 65)
        await ln.leg.speak(np.concatenate([wire, wire]), 8000)
        await until(lambda: sum(1 for m in server.received
                                if m["type"] == "input_audio_buffer.append") >= 2)
        ln.leg.caller_hangup()
        await ln.ended()
    sent = b"".join(base64.b64decode(m["audio"]) for m in server.received
                    if m["type"] == "input_audio_buffer.append")
    assert ulaw_encode(wire) * 2 == sent[:640]


async def test_deltas_the_server_sent_before_it_heard_the_barge_in_are_never_played() -> None:
    script = [Speak(0.4, 440.0), Speak(4.0, 600.0)]
    async with realtime_server(script, pace_s=0.05, late=3) as server:  # 2x real time
        ln = line("openai-realtime", [], realtime=True, base_url=server.url)
        ln.start()
        await until(lambda: len(ln.leg.sent) >= 20)
        await ln.leg.speak(tone(0.4, 8000, amp=9000), 8000, trailing_silence_s=0.5)
        await until(lambda: sum(1 for f in ln.leg.sent if _peak_hz(f) == 600) >= 40)
        await ln.leg.speak(tone(0.4, 8000, amp=9000), 8000)  # over the 4 s reply
        await until(lambda: server.truncations and server.late_sent == 3)
        played = sum(1 for f in ln.leg.sent if _peak_hz(f) == 600)
        await asyncio.sleep(0.5)
        after = sum(1 for f in ln.leg.sent if _peak_hz(f) == 600)
        ln.leg.caller_hangup()
        await ln.ended()
    assert after - played <= 1  # the 300 ms sent late were dropped, not played
    [(_, end_ms)] = server.truncations
    assert abs(end_ms - played * 20) <= 200
