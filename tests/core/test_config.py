"""Settings: defaults, TOML, environment precedence, and clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callport.config import ConfigError, Settings, load_settings


def test_defaults_without_file_or_env() -> None:
    s = load_settings(None, env={})
    assert s.server.port == 8080
    assert s.server.db == str(Path.home() / ".local/share/callport/callport.db")  # per user
    assert s.turn.vad == "silero"


def test_toml_then_env_precedence(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[server]\nport = 9000\ndb = "a.db"\n[twilio]\nnumbers = ["+15550001"]\n'
        '[turn]\nend_of_turn_ms = 700\n'
    )
    s = load_settings(cfg, env={"CALLPORT_DB": "b.db", "CALLPORT_TWILIO_AUTH_TOKEN": "tok"})
    assert s.server.port == 9000
    assert s.server.db == "b.db"  # env wins over the file
    assert s.twilio.auth_token == "tok" and s.twilio.numbers == ("+15550001",)
    assert s.turn.end_of_turn_ms == 700


def test_env_lists_and_bools() -> None:
    env = {"CALLPORT_TWILIO_NUMBERS": "+1, +2", "CALLPORT_SIP_ENABLED": "yes"}
    s = load_settings(None, env=env)
    assert s.twilio.numbers == ("+1", "+2") and s.sip.enabled is True


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\nport = "x"\ncolour = 1\n[nope]\na = 1\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, env={"CALLPORT_TURN_VAD": "magic"})
    text = str(err.value)
    for needle in ("server.port", "server.colour: unknown setting", "[nope]", "turn.vad"):
        assert needle in text


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(cfg, env={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_docs_list_every_setting() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for section in dataclasses.fields(Settings):
        cls = section.type if isinstance(section.type, type) else None
        value = getattr(Settings(), section.name)
        for f in dataclasses.fields(value):
            assert f"`{section.name}.{f.name}`" in doc, f"{section.name}.{f.name} undocumented"
        del cls


def _numeric_fields() -> list[str]:
    import typing

    out = []
    for top in dataclasses.fields(Settings):
        cls = typing.get_type_hints(Settings)[top.name]
        for f, typ in typing.get_type_hints(cls).items():
            if typ in (int, float):
                out.append(f"{top.name}.{f}")
    return out


def test_every_numeric_setting_has_an_allowed_range() -> None:
    from callport.config_check import RANGES

    missing = [key for key in _numeric_fields() if key not in RANGES]
    assert not missing, f"add these to callport.config_check.RANGES: {missing}"
    defaults = Settings()
    for key, (lo, hi) in RANGES.items():  # every default is inside its own range
        section, name = key.split(".")
        assert lo <= getattr(getattr(defaults, section), name) <= hi, key


@pytest.mark.parametrize(("env", "says"), [
    ({"CALLPORT_TURN_END_OF_TURN_MS": "-5"},
     "CALLPORT_TURN_END_OF_TURN_MS=-5: out of range, use 50-10000"),
    ({"CALLPORT_BROWSER_LEAD_MS": "5"}, "CALLPORT_BROWSER_LEAD_MS=5: out of range, use 20-2000"),
    ({"CALLPORT_SIP_MAX_CALLS": "0"}, "CALLPORT_SIP_MAX_CALLS=0: out of range, use 1-100000"),
    ({"CALLPORT_SPEECH_WHISPER_THREADS": "0"}, "CALLPORT_SPEECH_WHISPER_THREADS=0: out of range"),
    ({"CALLPORT_PORTT": "1"}, "CALLPORT_PORTT: no such setting; did you mean CALLPORT_PORT?"),
    ({"CALLPORT_TWILIO_AUTH_TOKN": "x"}, "did you mean CALLPORT_TWILIO_AUTH_TOKEN?"),
    ({"CALLPORT_FALLBACK": "hold"}, "server.fallback='hold': use goodbye, voicemail, operator"),
    ({"CALLPORT_LOG_FORMAT": "xml"}, "server.log_format='xml': use text or json"),
])
def test_mistakes_in_the_environment_are_one_line(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, env=env)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_variables_that_are_not_settings_are_allowed() -> None:
    s = load_settings(None, env={"CALLPORT_CONFIG": "", "CALLPORT_TEST_ANYTHING": "1",
                                 "CALLPORT_UPDATE_SCREENSHOT": "1", "XDG_DATA_HOME": "/x"})
    assert s.server.db == "/x/callport/callport.db"
