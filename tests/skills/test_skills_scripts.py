"""Every script in the skills' ``scripts/`` runs against fixtures, offline and bounded, and
its verdict is right both ways (valid input passes, a tampered one fails).

The signature checks are compared with the providers' own algorithms: twilio-python's
``RequestValidator`` and ``cryptography``'s Ed25519, so the stdlib scripts cannot drift.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import math
import struct
import subprocess
import sys
import wave
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twilio.request_validator import RequestValidator

import callport

SKILLS = Path(callport.__file__).resolve().parent / "skills"
VT = SKILLS / "voice-telephony" / "scripts"
FIX = VT / "fixtures"
# Every script and the test that runs it (a new script without a test fails below).
COVERED = {
    "voice-telephony/scripts/verify_twilio_signature.py": "test_twilio_*",
    "voice-telephony/scripts/verify_telnyx_signature.py": "test_telnyx_*",
    "voice-telephony/scripts/g711_selftest.py": "test_g711_*",
    "voice-telephony/scripts/validate_stream_messages.py": "test_validator_*",
    "web-audio-capture/scripts/worklet_smoke.py": "tests/skills/test_skills_worklet_smoke.py",
}


def run(script: Path, *args: str | Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def load(script: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(script.stem, script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_json(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_every_script_is_covered() -> None:
    found = {str(p.relative_to(SKILLS)) for p in SKILLS.glob("*/scripts/*.py")}
    assert found == set(COVERED)


# --- Twilio ------------------------------------------------------------------------------


def test_twilio_behind_a_proxy_names_the_signed_url() -> None:
    rc, out = run(VT / "verify_twilio_signature.py", FIX / "twilio_voice_webhook.json")
    assert rc == 0, out
    result = json.loads(out)
    assert result["signed_url"] == "https://voice.example.com/twilio/voice"
    assert result["why"] == "rebuilt from X-Forwarded-Proto/Host"
    assert result["tried"][0]["match"] is False  # the URL the app saw is not what Twilio signed


def test_twilio_direct_capture_and_public_base_url(tmp_path: Path) -> None:
    rc, out = run(VT / "verify_twilio_signature.py", FIX / "twilio_voice_webhook_direct.json")
    assert rc == 0 and json.loads(out)["why"] == "as captured", out
    request = json.loads((FIX / "twilio_voice_webhook.json").read_text())
    request["headers"] = {"X-Twilio-Signature": request["headers"]["X-Twilio-Signature"]}
    bare = write_json(tmp_path / "no_forwarded.json", request)
    rc, out = run(VT / "verify_twilio_signature.py", bare)
    assert rc == 1, out  # no forwarded headers, no base URL: nothing matches
    rc, out = run(VT / "verify_twilio_signature.py", bare,
                  "--public-base-url", "https://voice.example.com/")
    assert rc == 0 and json.loads(out)["why"] == "--public-base-url", out


def test_twilio_tampered_body_or_wrong_token_fails(tmp_path: Path) -> None:
    request = json.loads((FIX / "twilio_voice_webhook.json").read_text())
    tampered = dict(request, body=request["body"].replace("ringing", "completed"))
    rc, out = run(VT / "verify_twilio_signature.py", write_json(tmp_path / "t.json", tampered))
    assert rc == 1 and "no candidate URL matches" in out
    rc, out = run(VT / "verify_twilio_signature.py", FIX / "twilio_voice_webhook.json",
                  "--auth-token", "f" * 32)
    assert rc == 1
    rc, out = run(VT / "verify_twilio_signature.py", tmp_path / "missing.json")
    assert rc == 2


def test_twilio_agrees_with_request_validator() -> None:
    """Repeated fields, a port, a query string and a JSON body (bodySHA256), checked both ways."""
    mod = load(VT / "verify_twilio_signature.py")
    token = "abc123" * 5
    url = "https://voice.example.com:443/twilio/status?x=1&y=two"
    params = {"Digits": ["1", "2"], "From": ["+15550100001"], "Empty": [""]}
    ours = mod.signature(token, url, params)

    class Multi(dict[str, list[str]]):
        def getlist(self, name: str) -> list[str]:
            return self[name]

    assert RequestValidator(token).validate(url, Multi(params), ours)
    body = '{"CallSid": "CA1", "Status": "completed"}'
    json_url = f"https://voice.example.com/hook?bodySHA256={hashlib.sha256(body.encode()).hexdigest()}"
    sig = RequestValidator(token).compute_signature(json_url, {})
    request = {"url": json_url, "headers": {"X-Twilio-Signature": sig}, "body": body}
    assert mod.check(request, token)["ok"] is True
    assert mod.check(dict(request, body=body.replace("completed", "ringing")), token)["ok"] is False


# --- Telnyx ------------------------------------------------------------------------------

TELNYX_NOW = "1764626450"  # 50 s after the fixture's telnyx-timestamp


@pytest.mark.parametrize("impl", [[], ["--fallback"]], ids=["cryptography", "rfc8032"])
def test_telnyx_fixture_verifies(impl: list[str]) -> None:
    rc, out = run(VT / "verify_telnyx_signature.py", FIX / "telnyx_webhook.json",
                  "--now", TELNYX_NOW, *impl)
    assert rc == 0, out
    result = json.loads(out)
    assert result["signature_valid"] is True and result["timestamp_skew_s"] == 50.0
    assert result["verified_with"] == ("rfc8032-fallback" if impl else "cryptography")


@pytest.mark.parametrize("impl", [[], ["--fallback"]], ids=["cryptography", "rfc8032"])
def test_telnyx_tampered_or_stale_fails(tmp_path: Path, impl: list[str]) -> None:
    request = json.loads((FIX / "telnyx_webhook.json").read_text())
    tampered = dict(request, body=request["body"].replace("+15550100001", "+15550199999"))
    rc, out = run(VT / "verify_telnyx_signature.py", write_json(tmp_path / "t.json", tampered),
                  "--now", TELNYX_NOW, *impl)
    assert rc == 1 and json.loads(out)["signature_valid"] is False, out
    rc, out = run(VT / "verify_telnyx_signature.py", FIX / "telnyx_webhook.json",
                  "--now", str(int(TELNYX_NOW) + 3600), *impl)
    assert rc == 1 and json.loads(out)["signature_valid"] is True, out  # valid but replayed
    other_key = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)).decode()
    rc, _ = run(VT / "verify_telnyx_signature.py", FIX / "telnyx_webhook.json",
                "--now", TELNYX_NOW, "--public-key", other_key, *impl)
    assert rc == 1
    rc, _ = run(VT / "verify_telnyx_signature.py", FIX / "telnyx_webhook.json",
                "--public-key", base64.b64encode(b"short").decode())
    assert rc == 2


def test_telnyx_fallback_matches_cryptography_on_fresh_keys() -> None:
    mod = load(VT / "verify_telnyx_signature.py")
    for i in range(8):
        key = Ed25519PrivateKey.generate()
        pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        message = f"{1764626400 + i}|".encode() + bytes(range(i * 7 % 256))
        sig = key.sign(message)
        assert mod.ed25519_verify_fallback(pub, message, sig)
        bad = bytes([sig[0] ^ 1]) + sig[1:]
        assert not mod.ed25519_verify_fallback(pub, message, bad)
        assert not mod.ed25519_verify_fallback(pub, message + b"x", sig)


# --- G.711 -------------------------------------------------------------------------------


def test_g711_selftest_passes() -> None:
    rc, out = run(VT / "g711_selftest.py")
    assert rc == 0 and "self-test: ok" in out, out


def test_g711_selftest_catches_a_broken_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = load(VT / "g711_selftest.py")
    assert mod.selftest() == []
    monkeypatch.setattr(mod, "alaw_encode_sample", lambda x: (x >> 8) & 0xFF)  # linear, wrong
    failures = mod.selftest()
    assert failures and all(f.startswith("alaw") for f in failures)


def test_g711_wav_round_trip(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    pcm = [round(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000)]
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack(f"<{len(pcm)}h", *pcm))
    for law in ("ulaw", "alaw"):
        rc, out = run(VT / "g711_selftest.py", "--wav", src, "--out", dst, "--law", law)
        assert rc == 0, out
        snr = float(out.split("SNR ")[1].split(" dB")[0])
        assert snr > 30
        with wave.open(str(dst), "rb") as w:
            assert w.getnframes() == len(pcm) and w.getframerate() == 8000


# --- stream message validator ------------------------------------------------------------


def validate(name: str, *args: str) -> tuple[int, dict[str, Any]]:
    rc, out = run(VT / "validate_stream_messages.py", FIX / name, *args)
    return rc, json.loads(out)


def test_validator_twilio_session_and_marks_heard() -> None:
    rc, rep = validate("twilio_media_stream.jsonl")
    assert rc == 0 and rep["protocol"] == "twilio", rep
    assert rep["marks_played"] == ["greeting-1"]
    assert rep["marks_cleared_not_played"] == ["greeting-2"]  # echoed after clear: not heard


def test_validator_telnyx_and_relay_sessions() -> None:
    rc, rep = validate("telnyx_media_stream.jsonl")
    assert rc == 0 and rep["protocol"] == "telnyx" and rep["marks_played"] == ["m1"], rep
    rc, rep = validate("conversationrelay.jsonl")
    assert rc == 0 and rep["protocol"] == "relay", rep


def test_validator_reports_broken_twilio_session() -> None:
    rc, rep = validate("twilio_media_stream_broken.jsonl")
    assert rc == 1
    text = "\n".join(rep["errors"])
    for expected in ("bad media.chunk: 1", "sequenceNumber 3 after 1", "WAV/AU header",
                     "mark 'never-sent' the app never sent", "after stop"):
        assert expected in text, text


def test_validator_reports_broken_relay_session() -> None:
    rc, rep = validate("conversationrelay_broken.jsonl")
    assert rc == 1 and rep["protocol"] == "relay"
    text = "\n".join(rep["errors"])
    for expected in ("bad last: 'true'", "first message must be setup", "missing token",
                     "not a relay message the app sends"):
        assert expected in text, text


def test_validator_wrong_protocol_and_bad_input(tmp_path: Path) -> None:
    rc, rep = validate("twilio_media_stream.jsonl", "--protocol", "telnyx")
    assert rc == 1 and rep["errors"]
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"from": "carrier", "message": {}}\n')
    rc, _ = run(VT / "validate_stream_messages.py", junk)
    assert rc == 2
