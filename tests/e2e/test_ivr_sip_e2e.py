"""End to end: examples/ivr/acme.toml answered on the SIP channel, sipp pressing keys with
RFC 4733 telephone-events (sip-tester's pcaps). Key 1 is "Connecting you to sales" and a
REFER to sip:sales@example.com (sipp checks Refer-To, accepts, callport hangs up); key 2 is
the queue ``support`` (whatever ``QueueJoiner`` the runtime has; without one the caller hears
it is not available and callport hangs up). The outcome is read from the IVR's journal and the
call record in the database (its ``ivr`` event)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from ivr_support import ivr_runtime, ivr_settings, journal, until

sys.path.insert(0, str(Path(__file__).parents[1] / "sip"))
from sip_support import PCAP_DIR, free_udp_port, needs_sipp, rtp_range, run_sipp

from callport.channels.sip import create
from callport.config import Settings, SipSettings

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_sipp]

TEMPLATE = Path(__file__).parent / "scenarios" / "uac_ivr_key.xml"
PCAP = {"#": "pound", "*": "star"}


def scenario(tmp_path: Path, keys: str, refer_to: str = "sip:nobody@nowhere") -> Path:
    """The IVR caller scenario pressing ``keys`` (one RFC 4733 pcap each, 0.6 s apart)."""
    plays = '\n  <pause milliseconds="600"/>\n'.join(
        f'  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_{PCAP.get(k, k)}.pcap"/>'
        '</action></nop>' for k in keys)
    path = tmp_path / f"ivr_{len(list(tmp_path.iterdir()))}.xml"
    path.write_text(TEMPLATE.read_text().replace("  <!-- KEYS -->", plays)
                    .replace("REFER_TO", refer_to))
    link = tmp_path / "pcap"
    if not link.exists():
        link.symlink_to(PCAP_DIR)
    return path


def settings(tmp_path: Path) -> Settings:
    low, high = rtp_range()
    base = replace(Settings(), sip=SipSettings(enabled=True, host="127.0.0.1", port=0,
                                               rtp_port_min=low, rtp_port_max=high))
    return ivr_settings(base, tmp_path / "ivr.db")


async def call_ivr(tmp_path: Path, keys: str, refer_to: str = "sip:nobody@nowhere"
                   ) -> tuple[str, dict[str, object], list[str]]:  # fmt: skip
    """One sipp call pressing ``keys``; (outcome, the first menu step, what callport said)."""
    runtime, flow, tts = ivr_runtime(settings(tmp_path))
    channel = create(runtime)
    await channel.start()
    try:
        rc, out = await run_sipp("-sf", str(scenario(tmp_path, keys, refer_to)),
                                 f"127.0.0.1:{channel.port}", "-i", "127.0.0.1",
                                 "-p", str(free_udp_port()), "-mp", str(free_udp_port() & ~1),
                                 "-m", "1", "-trace_err", cwd=tmp_path)
        assert rc == 0, out[-3000:]
        await until(lambda: not runtime.active, "the call to end")
        call_id, entry = journal(flow)
        record = await runtime.calls.get(call_id)
        assert record is not None and record.channel == "sip", record
        assert record.ended_at is not None  # the record was closed
        events = [e.detail for e in await runtime.calls.events(call_id) if e.kind == "ivr"]
        assert events == [f"main: {entry.steps[0]['choice']} (dtmf {keys}) > {entry.outcome}"]
        return entry.outcome, entry.steps[0], tts.spoken
    finally:
        await channel.stop()


async def test_key_1_over_rfc4733_refers_the_caller_to_sales(tmp_path: Path) -> None:
    outcome, step, spoken = await call_ivr(tmp_path, "1", refer_to="sip:sales@example.com")
    assert outcome == "transfer:sip:sales@example.com"
    assert step == {"menu": "main", "heard": None, "digits": "1", "choice": "sales",
                    "by": "dtmf", "confidence": 1.0}
    assert "Connecting you to sales" in spoken


async def test_key_2_over_rfc4733_is_the_support_queue(tmp_path: Path) -> None:
    outcome, step, spoken = await call_ivr(tmp_path, "2")
    assert outcome == "queue:support"
    assert (step["choice"], step["by"], step["digits"]) == ("support", "dtmf", "2")
    assert spoken[0].startswith("Thanks for calling Acme")
    # the server's queue service took the call: no [queues.support] here, so it is said
    assert any("nobody can take your call" in s for s in spoken), spoken
