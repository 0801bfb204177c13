"""``callport routes explain`` and ``callport calls list|export`` on a real config and db."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from callport.cli import main
from callport.cli_routing import CSV_COLUMNS
from callport.routing.report import parse_since
from callport.store.calls import CallAttempt, CallRecord
from callport.store.sqlite_calls import SqliteCallStore


def config(tmp_path: Path) -> Path:
    (tmp_path / "a.csv").write_text("prefix,rate,increment,minimum\n1,0.010,60,60\n")
    (tmp_path / "b.csv").write_text("prefix,rate,increment,minimum\n1,0.008,60,60\n")
    (tmp_path / "dnc.txt").write_text("# never\n+13125550199\n")
    path = tmp_path / "callport.toml"
    path.write_text(f"""
[server]
db = "{tmp_path / 'cp.db'}"
[sip.trunks.a]
address = "127.0.0.1:5071"
[sip.trunks.b]
address = "127.0.0.1:5072"
[routing]
dnc_file = "{tmp_path / 'dnc.txt'}"
routes = ["+1212=a"]
[routing.carriers.a]
rates = "{tmp_path / 'a.csv'}"
[routing.carriers.b]
rates = "{tmp_path / 'b.csv'}"
[routing.carriers.twilio]
""")
    return path


def test_routes_explain_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path)
    assert main(["--config", str(cfg), "routes", "explain", "+13125550100"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].startswith("1. b [sip] 0.008/min") and lines[2].startswith("2. a [sip]")
    assert "twilio [twilio] price unknown" in lines[3]
    assert "skipped: not configured or not running here" in lines[3]
    assert main(["--config", str(cfg), "routes", "explain", "+12125550100", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [c["carrier"] for c in doc["choices"]][:2] == ["a", "b"]  # the pin
    assert doc["choices"][0]["pinned"] and doc["choices"][0]["cost"] == "0.020"
    assert main(["--config", str(cfg), "routes", "explain", "+13125550199"]) == 0
    assert "refused before any dial: dnc:" in capsys.readouterr().out


def test_routes_explain_without_routing(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.toml").write_text(f'[server]\ndb = "{tmp_path / "x.db"}"\n')
    assert main(["--config", str(tmp_path / "c.toml"), "routes", "explain", "+1"]) == 2
    assert "routing is not configured" in capsys.readouterr().err


def test_calls_list_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path)
    now = datetime.now().astimezone()

    async def fill() -> None:
        store = SqliteCallStore(tmp_path / "cp.db")
        await store.create(CallRecord(call_id="old", channel="browser", user="bob",
                                      status="canceled", started_at=now - timedelta(days=3)))
        await store.create(CallRecord(call_id="new", channel="sip", direction="outbound",
                                      callee="+13125550100", started_at=now))
        await store.amend("new", answered_at=now, carrier="b", billable_s=60,
                          cost=Decimal("0.008"), currency="USD", disposition="answered",
                          attempts=(CallAttempt(carrier="a", outcome="failed",
                                                cause="sip 503"),
                                    CallAttempt(carrier="b", outcome="answered")))
        await store.update_status("new", "ended", at=now + timedelta(seconds=42))
        store.close()

    asyncio.run(fill())
    assert main(["--config", str(cfg), "calls", "list", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["call_id"] for d in doc] == ["new", "old"]
    assert doc[0]["carrier"] == "b" and doc[0]["duration_s"] == 42.0
    assert doc[0]["attempts"][0] == {"carrier": "a", "outcome": "failed", "cause": "sip 503"}
    assert main(["--config", str(cfg), "calls", "list", "--since", "24h"]) == 0
    out = capsys.readouterr().out
    assert "new" in out and "old" not in out and "answered via b (2 attempts)" in out
    assert main(["--config", str(cfg), "calls", "export", "--csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 3
    row = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert row["attempts"] == "a: sip 503; b: answered" and row["cost"] == "0.008"
    assert main(["--config", str(cfg), "calls", "list", "--user", "bob", "--json"]) == 0
    assert [d["call_id"] for d in json.loads(capsys.readouterr().out)] == ["old"]
    assert main(["--config", str(cfg), "calls", "list", "--since", "yesterday"]) == 2


def test_parse_since() -> None:
    now = datetime(2026, 1, 6, 12, 0)
    assert parse_since("90m", now=now) == datetime(2026, 1, 6, 10, 30)
    assert parse_since("2026-01-01", now=now) == datetime(2026, 1, 1)
    assert parse_since("", now=now) is None
