"""``callport call +E164`` with [routing] and no --via: two sipp trunks, the cheaper answers
503, the call goes out on the other, and ``callport calls list`` shows one call with both
attempts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from callport.call.call import Call
from callport.cli import main
from loadgen.ports import free_sip_port

pytestmark = [pytest.mark.slow, pytest.mark.interop,
              pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")]
SCENARIOS = Path(__file__).parent / "scenarios"


async def hang_up(call: Call) -> None:
    """The call's flow: end it at once (the test is about routing, not speech)."""
    await call.hangup("done")


def free_port() -> int:
    return free_sip_port()


def sipp(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        ["sipp", *args, "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_port() & ~1),
         "-m", "1", "-nostdin", "-timeout", "20s"], cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, port


def test_callport_call_routes_and_records(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cheap, cheap_port = sipp(tmp_path, "-sf", str(SCENARIOS / "uas_503.xml"))
    dear, dear_port = sipp(tmp_path, "-sn", "uas")
    try:
        (tmp_path / "cheap.csv").write_text("prefix,rate\n1,0.004\n")
        (tmp_path / "dear.csv").write_text("prefix,rate\n1,0.009\n")
        cfg = tmp_path / "c.toml"
        cfg.write_text(f"""
[server]
db = "{tmp_path / 'cp.db'}"
flow = "test_routing_call_cli:hang_up"
[identity]
unknown = "guest"
[sip]
rtp_port_min = 41000
rtp_port_max = 41198
[sip.trunks.cheap]
address = "127.0.0.1:{cheap_port}"
transport = "udp"
[sip.trunks.dear]
address = "127.0.0.1:{dear_port}"
transport = "udp"
[routing.carriers.cheap]
rates = "{tmp_path / 'cheap.csv'}"
[routing.carriers.dear]
rates = "{tmp_path / 'dear.csv'}"
""")
        assert main(["--config", str(cfg), "call", "+13125550100"]) == 0
        err = capsys.readouterr().err
        assert "cheap: sip 503" in err and "answered via dear" in err
        assert cheap.wait(timeout=10) == 0 and dear.wait(timeout=10) == 0
    finally:
        for proc in (cheap, dear):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert main(["--config", str(cfg), "calls", "list", "--json"]) == 0
    calls = json.loads(capsys.readouterr().out)
    assert len(calls) == 1
    assert calls[0]["carrier"] == "dear" and calls[0]["disposition"] == "answered"
    assert [a["carrier"] for a in calls[0]["attempts"]] == ["cheap", "dear"]
    assert calls[0]["status"] == "ended" and calls[0]["currency"] == "USD"
