"""Every input a person can get wrong ends in one line (what is wrong, what to do) and exit
code 2, never a traceback and never a hang. Each row runs the real ``callport`` command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from callport.audio.wav import wav_bytes


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("mistakes")
    (d / "notes.txt").write_text("add a task to buy milk\n")
    (d / "bad.toml").write_text("[server\nport = 1\n")
    (d / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x55" * 16)
    (d / "empty.wav").write_bytes(wav_bytes(__import__("numpy").zeros(0, "int16"), 16000))
    (d / "folder.wav").mkdir()
    return d


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    """A TCP and a UDP socket on one port, held by someone else (this test)."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    port = tcp.getsockname()[1]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    yield port
    tcp.close()
    udp.close()


def run(args: list[str], cwd: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLPORT_")}
    base["XDG_DATA_HOME"] = str(cwd / "xdg")
    return subprocess.run([sys.executable, "-m", "callport.cli", *args], cwd=cwd,
                          env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=60, check=False)


# (command line with {d} = the files folder and {port} = a busy port, env, what stderr says)
MISTAKES: list[tuple[str, dict[str, str], str]] = [
    ("talk {d}/notes.txt", {}, "notes.txt: not an audio file any installed decoder reads"),
    ("talk {d}/missing.wav", {}, "missing.wav: no such file"),
    ("talk {d}/folder.wav", {}, "folder.wav: not a file; give an audio file"),
    ("talk {d}/broken.wav", {}, "convert it to 16-bit PCM WAV"),
    ("talk {d}/empty.wav", {}, "empty.wav: the file holds no audio"),
    ("talk {d}/notes.txt", {"CALLPORT_TURN_END_OF_TURN_MS": "-5"},
     "CALLPORT_TURN_END_OF_TURN_MS=-5: out of range, use 50-10000"),
    ("doctor", {"CALLPORT_PORTT": "1"},
     "CALLPORT_PORTT: no such setting; did you mean CALLPORT_PORT?"),
    ("tasks list", {"CALLPORT_SIP_PROT": "5060"}, "did you mean CALLPORT_SIP_PORT?"),
    ("serve --port 70000", {}, "--port=70000: out of range, use 0-65535"),
    ("serve --port 0 --sip-port 99999", {}, "--sip-port=99999: out of range, use 0-65535"),
    ("serve", {"CALLPORT_FALLBACK": "hold"}, "server.fallback='hold': use goodbye, voicemail,"),
    ("serve", {"CALLPORT_FALLBACK": "operator"}, "server.fallback='operator' needs server.operat"),
    ("serve", {"CALLPORT_LOG_FORMAT": "xml"}, "server.log_format='xml': use text or json"),
    ("serve --port {port} --no-warmup", {}, "HTTP port 127.0.0.1:{port} is in use"),
    ("serve --port 0 --sip-port {port} --no-warmup", {}, "SIP port 127.0.0.1:{port}/udp is in use"),
    ("serve --host 203.0.113.7 --port 18999 --no-warmup", {},
     "cannot listen on 203.0.113.7:18999 (Cannot assign requested address)"),
    ("--config {d}/nope.toml doctor", {}, "config file {d}/nope.toml not found"),
    ("doctor --config {d}/nope.toml", {}, "config file {d}/nope.toml not found"),  # after, too
    ("talk --config {d}/bad.toml {d}/notes.txt", {}, "bad.toml is not valid TOML"),
    ("talk --agent nope_nope:make {d}/notes.txt", {}, "cannot import 'nope_nope'"),
    ("users add bob --phone 123", {}, "phone '123': use E.164, e.g. +15551234567"),
    ("tasks list --user nobody", {}, "no user 'nobody' (see `callport users list`)"),
    ("tokens revoke 999", {}, "999"),
    ("call sip:bob@no-such-host.invalid", {},  # RFC 6761: .invalid never resolves
     "the host 'no-such-host.invalid' does not resolve (no DNS SRV, A or AAAA record); check"),
    ("call sip:bob@no-such-host.invalid --via sip", {}, "or set sip.trunk_address"),
]


@pytest.mark.parametrize(("line", "env", "says"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_a_mistake_is_one_line_and_exit_2(line: str, env: dict[str, str], says: str,
                                          files: Path, busy_port: int) -> None:
    fill = {"d": str(files), "port": str(busy_port)}
    proc = run(line.format(**fill).split(), files, env)
    err = [x for x in proc.stderr.splitlines() if x.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert len(err) == 1 and err[0].startswith("callport: "), proc.stderr
    assert says.format(**fill) in err[0]
    assert "open http" not in proc.stdout + proc.stderr  # nothing claimed before failing


def test_options_work_after_every_subcommand(files: Path) -> None:
    db = files / "after.db"
    assert run(["users", "add", "carol", "--db", str(db)], files).returncode == 0
    listed = run(["users", "list", "--db", str(db)], files)
    assert "carol" in listed.stdout
    where = run(["where", "--db", str(db)], files)
    assert where.returncode == 0 and str(db) in where.stdout
    before = run(["--db", str(db), "where"], files)
    assert str(db) in before.stdout


def test_the_database_is_per_user_and_doctor_and_where_create_nothing(tmp_path: Path) -> None:
    files, xdg = tmp_path, tmp_path / "xdg"
    where = run(["where"], files)
    assert f"{xdg}/callport/callport.db (created on first use)" in where.stdout
    doctor = run(["doctor"], files)
    assert "task database" in doctor.stdout and not (xdg / "callport").exists()
    assert run(["tasks", "list"], files).returncode == 0  # from any folder: the same file
    assert (xdg / "callport" / "callport.db").is_file()
    (files / "callport.db").write_bytes(b"")  # an older version's file in the folder
    note = run(["tasks", "list"], files)
    assert "./callport.db here is from an older version" in note.stderr
