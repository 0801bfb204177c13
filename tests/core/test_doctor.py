"""callport doctor: embedded defaults are ready; a half-configured provider is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from callport.config import load_settings
from callport.doctor import run_doctor


def test_embedded_defaults_are_ready(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "d.db"), "CALLPORT_PORT": "0"}
    code = run_doctor(load_settings(None, env=env))
    out = capsys.readouterr().out
    assert "twilio (optional)" in out and "telnyx (optional)" in out
    assert "VAD: Silero ONNX model" in out and "task database" in out
    # `make test` installs the speech stack and the test tools, so nothing is left to fix
    assert code == 0 and "FAIL" not in out, out


def test_half_configured_twilio_says_what_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"CALLPORT_DB": str(tmp_path / "d.db"), "CALLPORT_TWILIO_ACCOUNT_SID": "AC123"}
    assert run_doctor(load_settings(None, env=env)) == 1
    out = capsys.readouterr().out
    assert "FAIL  twilio account SID" in out and "CALLPORT_TWILIO_AUTH_TOKEN" in out
