"""Settings: defaults, TOML, environment precedence, and clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callport.config import ConfigError, Settings, load_settings


def test_defaults_without_file_or_env() -> None:
    s = load_settings(None, env={})
    assert s.server.port == 8080 and s.server.db == "callport.db"
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
