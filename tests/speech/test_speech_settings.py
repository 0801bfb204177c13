"""speech.stt_batch and speech.whisper_window_s: loaded, range-checked, handed to Whisper."""

from __future__ import annotations

import pytest

from callport.config import ConfigError, load_settings


def test_batch_and_window_load_from_the_environment() -> None:
    s = load_settings(None, env={"CALLPORT_SPEECH_STT_BATCH": "3",
                                 "CALLPORT_SPEECH_WHISPER_WINDOW_S": "30"})
    assert (s.speech.stt_batch, s.speech.whisper_window_s) == (3, 30.0)
    default = load_settings(None, env={}).speech
    assert (default.stt_batch, default.whisper_window_s) == (1, 20.0)


@pytest.mark.parametrize(("env", "says"), [
    ({"CALLPORT_SPEECH_WHISPER_WINDOW_S": "2"}, "out of range, use 5-30"),
    ({"CALLPORT_SPEECH_WHISPER_WINDOW_S": "31"}, "out of range, use 5-30"),
    ({"CALLPORT_SPEECH_STT_BATCH": "0"}, "out of range, use 1-64"),
])
def test_a_window_or_batch_out_of_range_is_refused(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_settings(None, env=env)


def test_the_factory_hands_them_to_whisper() -> None:
    pytest.importorskip("faster_whisper")
    from callport.speech.factory import make_stt
    from callport.speech.whisper import WhisperSTT

    s = load_settings(None, env={"CALLPORT_SPEECH_STT_BATCH": "3",
                                 "CALLPORT_SPEECH_WHISPER_WINDOW_S": "12"})
    stt = make_stt(s.speech)
    assert isinstance(stt, WhisperSTT)
    assert (stt.max_batch, stt.window_s) == (3, 12.0)
