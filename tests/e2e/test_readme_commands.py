"""Every command in the README's ``bash`` blocks, in order, in a fresh clone, as a new user
would type them (one shell, so ``. .venv/bin/activate`` holds for the lines after it).

What it covers: ``git clone`` of this repository (its last commit) into a temporary folder;
``make run`` there (the gateway starts, prints its sign-in link and answers ``/healthz``;
then it is stopped with SIGTERM), ``. .venv/bin/activate``, ``callport where`` and
``callport doctor`` while that gateway runs, every users/tokens/tasks line, the README's
``mybot.py`` snippet saved as the file and used by ``callport talk --agent`` (with a
spoken ``q.wav``) and ``callport serve --agent`` (started, healthy, stopped), and
``callport skills install``.

What it leaves out, and why: ``make test`` (it is this suite); installing (the clone's
``.venv`` is this checkout's virtual environment, linked, with the clone's ``src`` first on
``PYTHONPATH`` so the clone's code runs; the web assets npm fetches are copied from this
checkout, and the stamps make sees are made current so nothing is reinstalled); provider
calls and ``--sip-port 5060`` in prose (they need the network, a number or a free 5060);
the blocks for external agents (``relay:wss://app.example.com``, ``llm:http://...``), which
need that app or LLM server running.
Long-running lines (``make run``, ``callport serve``) run until ``/healthz`` answers,
then get SIGTERM; the user's terminal would keep them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from loadgen.ports import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LEFT_OUT = ("make test",)
# Blocks that talk to a service outside this machine (a ConversationRelay app, an LLM server):
# left out whole, they need the network.
EXTERNAL = re.compile(r"wss?://app\.example\.com|llm:http")
LONG_RUNNING = re.compile(r"^(make run\b|callport serve\b)")


def readme_blocks() -> tuple[list[str], str]:
    """The README's bash lines (comments dropped) and its mybot.py Python block."""
    text = (ROOT / "README.md").read_text()
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        if EXTERNAL.search(block):
            continue
        for raw in block.splitlines():
            line = raw.split(" #")[0].strip() if not raw.lstrip().startswith("#") else ""
            if line and not line.startswith(LEFT_OUT):
                lines.append(line)
    [bot] = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "mybot.py" in b]
    return lines, bot


def script_for(lines: list[str], port: int) -> str:
    """One bash script, like one user with two terminals: a long-running line starts in the
    background and, once its ``/healthz`` answers, the next lines run while it serves; the
    next long-running line (same port) or the end of the script stops it with SIGTERM."""
    out = ["set -euo pipefail", "SERVER=",
           'stop() { if [ -n "$SERVER" ]; then kill -TERM -- -"$SERVER" || true;',
           '  wait "$SERVER" || true; cat serve.log; SERVER=; fi; }',
           "trap stop EXIT",
           'start() { setsid bash -c "$1" > serve.log 2>&1 & SERVER=$!',
           "  for _ in $(seq 600); do",
           f"    curl -fsS http://127.0.0.1:{port}/healthz >/dev/null 2>&1 && return 0",
           '    kill -0 "$SERVER" 2>/dev/null || { cat serve.log; exit 1; }; sleep 0.5',
           '  done; echo "no /healthz after 300 s"; exit 1; }']
    for line in lines:
        out.append(f"echo {shlex.quote('$ ' + line)}")
        if LONG_RUNNING.match(line):
            cmd = f"{line} PORT={port}" if line.startswith("make run") else line
            out.append(f"stop; start {shlex.quote(cmd)}")
        else:
            out.append(line)
    out.append("stop")
    return "\n".join(out) + "\n"


@pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("git") is None,
                    reason="needs espeak-ng and git")
def test_every_readme_command_runs_as_written_in_a_fresh_clone(tmp_path: Path) -> None:
    lines, bot = readme_blocks()
    assert lines[:1] == ["make run"] and ". .venv/bin/activate" in lines
    clone = tmp_path / "callport"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    vendor = ROOT / "src/callport/web/vendor"
    if vendor.is_dir():
        shutil.copytree(vendor, clone / "src/callport/web/vendor")
    old = 946684800  # 2000-01-01: the clone's inputs older than the venv's install stamps
    for name in ("pyproject.toml", "web-assets/package-lock.json"):
        if (clone / name).exists():
            os.utime(clone / name, (old, old))
    stamp = clone / "src/callport/web/vendor/.stamp"
    if stamp.parent.is_dir():
        stamp.touch()
    (clone / "mybot.py").write_text(bot)
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(clone / "q.wav"),
                    "what time do you open"], check=True, timeout=60)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CALLPORT_", "VIRTUAL_ENV", "PYTEST"))}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(clone / "src"),
               CALLPORT_PORT=str(port), PATH="/usr/local/bin:/usr/bin:/bin")
    script = script_for(lines, port)
    (clone / "readme.sh").write_text(script)
    proc = subprocess.run(["bash", "readme.sh"], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "callport: sign in at http://" in out  # make run: the first-run link
    assert f"{clone}/src/callport/web" in out  # where: the clone's own code runs
    assert "in use by callport" in out and "0 to fix" in out  # doctor knows the gateway
    low = out.lower()
    assert "added alice" in low and "no tasks for alice" in low and "removed alice" in low
    assert re.search(r"\bcp_[0-9a-f]+_", out)  # tokens create printed one
    assert "agent  : You said" in out  # talk --agent mybot:make_agent q.wav, the snippet
    assert (clone / ".claude/skills/voice-telephony/SKILL.md").is_file()
    assert (tmp_path / "xdg/callport/callport.db").is_file()  # the per-user database
    assert not (clone / "callport.db").exists()
