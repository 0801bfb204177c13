from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callport.channels.browser.protocol import (
    CLEAR_ACK_S,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    FILL_SLACK_S,
    FRAME_SAMPLES,
    BrowserProtocol,
    CallerAudio,
    ClearDone,
    HangupRequested,
    Interrupted,
    MarkPlayed,
    PingReceived,
    ProtocolError,
    ProtocolMisuse,
    SpeakingChanged,
    Started,
)


def started(gated: bool = False, now: float = 0.0) -> BrowserProtocol:
    core = BrowserProtocol()
    events = core.receive_text(json.dumps({"type": "start", "sample_rate": 16000,
                                           "gated": gated, "client": "t"}), now)
    assert events == [Started(gated=gated, client="t")]
    return core


def frame(value: int = 100) -> bytes:
    return np.full(FRAME_SAMPLES, value, dtype="<i2").tobytes()


def test_start_must_come_first() -> None:
    core = BrowserProtocol()
    [err] = core.receive_text('{"type":"interrupt"}', 0.0)
    assert isinstance(err, ProtocolError) and err.fatal and err.close_code == CLOSE_PROTOCOL_ERROR
    assert core.receive_text('{"type":"start"}', 0.0) == []  # closed now


def test_audio_before_start_is_fatal() -> None:
    [err] = BrowserProtocol().receive_bytes(frame(), 0.0)
    assert isinstance(err, ProtocolError) and err.fatal


def test_wrong_sample_rate_is_fatal() -> None:
    [err] = BrowserProtocol().receive_text('{"type":"start","sample_rate":48000}', 0.0)
    assert isinstance(err, ProtocolError) and "16000" in err.reason


def test_binary_frames_become_audio_with_media_time() -> None:
    core = started()
    [a] = core.receive_bytes(frame(7), 0.02)
    [b] = core.receive_bytes(frame(-7), 0.04)
    assert isinstance(a, CallerAudio) and isinstance(b, CallerAudio)
    assert a.pcm.dtype == np.int16 and a.pcm.shape == (FRAME_SAMPLES,)
    assert int(a.pcm[0]) == 7 and int(b.pcm[-1]) == -7
    assert a.at == pytest.approx(0.02) and b.at == pytest.approx(0.04)


def test_odd_bytes_carry_over() -> None:
    core = started()
    raw = np.arange(5, dtype="<i2").tobytes()  # 10 bytes
    [a] = core.receive_bytes(raw[:3], 0.0)
    [b] = core.receive_bytes(raw[3:], 0.0)
    assert isinstance(a, CallerAudio) and isinstance(b, CallerAudio)
    assert list(np.concatenate([a.pcm, b.pcm])) == [0, 1, 2, 3, 4]


def test_oversized_binary_is_fatal() -> None:
    [err] = started().receive_bytes(b"\0" * 20_000, 0.0)
    assert isinstance(err, ProtocolError) and err.close_code == CLOSE_TOO_BIG and err.fatal


@pytest.mark.parametrize("text", ["not json", "[]", '{"type": 3}', '{"type":"bogus"}',
                                  '{"type":"vad"}', '{"type":"vad","speaking":"yes"}',
                                  '{"type":"ping","id":"x"}', '{"type":"played","name":"zz"}',
                                  '{"type":"start"}'])
def test_bad_control_messages_are_non_fatal_errors(text: str) -> None:
    core = started()
    [err] = core.receive_text(text, 0.0)
    assert isinstance(err, ProtocolError) and not err.fatal
    assert core.active


def test_marks_played_in_order() -> None:
    core = started()
    assert json.loads(core.mark("m1")) == {"type": "mark", "name": "m1"}
    core.mark("m2")
    core.mark("m3")
    # The page reports m2: m1 must have played before it.
    assert core.receive_text('{"type":"played","name":"m2"}', 1.0) == [MarkPlayed("m1"),
                                                                       MarkPlayed("m2")]
    assert core.pending_marks == ("m3",)


def test_clear_waits_for_the_page_then_drops_what_it_did_not_play() -> None:
    """The page played m1 and said so before the server's clear reached it: that 'played'
    still counts (the caller heard it); the page's 'cleared' then drops the rest, and marks
    placed after the clear stay pending."""
    core = started()
    core.mark("m1")
    core.mark("m2")
    core.mark("m3")
    msg = core.clear(1.0)
    assert json.loads(msg) == {"type": "clear", "id": 1}
    assert core.pending_marks == ("m1", "m2", "m3")  # nothing decided before the page says
    assert core.receive_text('{"type":"played","name":"m1"}', 1.01) == [MarkPlayed("m1")]
    core.mark("m4")  # new audio after the clear
    assert core.receive_text('{"type":"cleared","id":1}', 1.02) == [ClearDone(("m2", "m3"))]
    assert core.pending_marks == ("m4",)
    assert core.receive_text('{"type":"played","name":"m2"}', 1.03) == []  # late: quiet
    assert core.receive_text('{"type":"played","name":"m4"}', 1.04) == [MarkPlayed("m4")]
    assert core.get_timer() is None


def test_a_page_that_never_confirms_has_its_marks_dropped_after_the_deadline() -> None:
    core = started()
    core.mark("a")
    core.mark("b")
    core.clear(5.0)
    assert core.get_timer() == 5.0 + CLEAR_ACK_S
    assert core.handle_timer(5.0 + CLEAR_ACK_S / 2) == []
    assert core.handle_timer(5.0 + CLEAR_ACK_S) == [ClearDone(("a", "b"), acked=False)]
    assert core.pending_marks == () and core.get_timer() is None
    assert core.receive_text('{"type":"cleared","id":1}', 9.0) == []  # too late: nothing
    [bad] = core.receive_text('{"type":"cleared","id":"x"}', 9.0)
    assert isinstance(bad, ProtocolError) and not bad.fatal


def test_two_clears_each_settle_their_own_marks() -> None:
    core = started()
    core.mark("a")
    core.clear(1.0)
    core.mark("b")
    core.clear(1.1)
    assert core.receive_text('{"type":"cleared","id":1}', 1.2) == [ClearDone(("a",))]
    assert core.receive_text('{"type":"cleared","id":2}', 1.3) == [ClearDone(("b",))]
    assert core.get_timer() is None


def test_late_played_after_clear_or_interrupt_is_ignored_quietly() -> None:
    """After a clear is settled (or an interrupt), a late echo of one of its marks is no
    protocol error (the page would log 'played for unknown mark'); a mark the page was never
    sent still is."""
    core = started()
    core.mark("m1")
    core.mark("m2")
    core.clear(0.5)
    assert core.receive_text('{"type":"cleared","id":1}', 0.9) == [ClearDone(("m1", "m2"))]
    assert core.receive_text('{"type":"played","name":"m1"}', 1.0) == []
    core.mark("m3")
    assert core.receive_text('{"type":"interrupt"}', 1.0) == [Interrupted(("m3",))]
    assert core.receive_text('{"type":"played","name":"m3"}', 1.0) == []
    [err] = core.receive_text('{"type":"played","name":"m9"}', 1.0)
    assert isinstance(err, ProtocolError) and "unknown mark" in err.reason


def test_page_interrupt_reports_dropped_marks() -> None:
    core = started()
    core.mark("a")
    assert core.receive_text('{"type":"interrupt"}', 1.0) == [Interrupted(("a",))]
    assert core.receive_text('{"type":"interrupt"}', 1.0) == [Interrupted(())]


def test_ping_pong_and_hangup() -> None:
    core = started()
    [ping] = core.receive_text('{"type":"ping","id":42}', 0.0)
    assert isinstance(ping, PingReceived) and json.loads(ping.reply) == {"type": "pong", "id": 42}
    assert core.receive_text('{"type":"hangup"}', 0.0) == [HangupRequested()]
    assert not core.active
    with pytest.raises(ProtocolMisuse):
        core.mark("late")
    assert core.receive_bytes(frame(), 0.0) == []


def test_gated_page_gets_silence_filled_in_simulated_time() -> None:
    core = started(gated=True, now=10.0)
    # Nobody speaking yet: the clock must keep running for server-side turn detection.
    deadline = core.get_timer()
    assert deadline == pytest.approx(10.0 + FILL_SLACK_S)
    assert core.handle_timer(10.0 + FILL_SLACK_S / 2) == []
    filled = core.handle_timer(10.5)
    assert len(filled) == 25
    assert all(isinstance(e, CallerAudio) and e.filled and not e.pcm.any() for e in filled)
    assert core.media_time == pytest.approx(0.5)
    # Speech starts: a pre-roll burst arrives; no fill while speaking.
    assert core.receive_text('{"type":"vad","speaking":true}', 10.6) == [SpeakingChanged(True)]
    assert core.get_timer() is None
    for _ in range(20):  # 400 ms burst (300 ms pre-roll + live)
        core.receive_bytes(frame(), 10.62)
    assert core.media_time == pytest.approx(0.9)
    assert core.receive_text('{"type":"vad","speaking":true}', 10.7) == []  # no change
    assert core.receive_text('{"type":"vad","speaking":false}', 11.0) == [SpeakingChanged(False)]
    # Media (0.9 s) lags wall time by less than the slack: nothing yet.
    assert core.handle_timer(10.9 + FILL_SLACK_S / 2) == []
    more = core.handle_timer(11.5)
    assert core.media_time == pytest.approx(1.5) and len(more) == 30


def test_fill_resumes_right_after_the_gate_closes_when_the_pre_roll_ran_ahead() -> None:
    core = started(gated=True, now=10.0)
    core.handle_timer(10.5)  # 0.5 s of silence filled while nobody spoke
    core.receive_text('{"type":"vad","speaking":true}', 10.5)
    for _ in range(15):  # the 300 ms pre-roll, captured before the gate opened, at once
        core.receive_bytes(frame(), 10.5)
    t = 10.5
    for _ in range(25):  # then 500 ms of live speech at its own pace
        t += 0.02
        core.receive_bytes(frame(), t)
    assert core.media_time == pytest.approx(1.3)  # 0.3 s ahead of wall time (1.0 s)
    core.receive_text('{"type":"vad","speaking":false}', t)
    # Silence is filled from the last frame on, not once wall time has caught up with media.
    assert core.get_timer() == pytest.approx(t + FILL_SLACK_S)
    filled = core.handle_timer(t + 0.5)
    assert len(filled) == 25 and core.media_time == pytest.approx(1.8)


def test_ungated_page_never_fills() -> None:
    core = started(gated=False)
    assert core.get_timer() is None
    assert core.handle_timer(100.0) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=2000), st.text(max_size=300)), max_size=30))
def test_arbitrary_input_never_raises(chunks: list[bytes | str]) -> None:
    core = BrowserProtocol()
    core.receive_text('{"type":"start","gated":true}', 0.0)
    now = 0.0
    for chunk in chunks:
        now += 0.02
        events = (core.receive_bytes(chunk, now) if isinstance(chunk, bytes)
                  else core.receive_text(chunk, now))
        events += core.handle_timer(now)
        for event in events:
            assert isinstance(event, CallerAudio | ProtocolError | SpeakingChanged | Interrupted
                              | MarkPlayed | PingReceived | HangupRequested)
