"""End to end: examples/ivr/acme.toml answered on the SIP channel, sipp pressing keys with
RFC 4733 telephone-events (sip-tester's pcaps) or SIP INFO (application/dtmf-relay). Key 1 is
"Connecting you to sales" and a REFER to sip:sales@example.com (sipp checks Refer-To, accepts,
callport hangs up); key 2 is the queue ``support`` (the server's queue service; none is
configured, so the caller hears nobody can take the call); key 0 sent as INFO is the operator
(a REFER to sip:operator@example.com). The outcome is read from the IVR's journal and the
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


INFO = """  <send>
    <![CDATA[
      INFO sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "Caller" <sip:+15550001111@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: sip:caller@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={signal}
      Duration=160
    ]]>
  </send>
  <recv response="200"/>"""


def scenario(tmp_path: Path, keys: str, refer_to: str = "sip:nobody@nowhere",
             *, info: bool = False) -> Path:
    """The IVR caller scenario pressing ``keys``, 0.6 s apart: one RFC 4733 pcap each, or
    (``info``) one SIP INFO ``application/dtmf-relay`` request each."""
    plays = '\n  <pause milliseconds="600"/>\n'.join(
        INFO.format(cseq=2 + n, signal=k) if info else
        f'  <nop><action><exec play_pcap_audio="pcap/dtmf_2833_{PCAP.get(k, k)}.pcap"/>'
        '</action></nop>' for n, k in enumerate(keys))
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


async def call_ivr(tmp_path: Path, keys: str, refer_to: str = "sip:nobody@nowhere", *,
                   info: bool = False) -> tuple[str, dict[str, object], list[str]]:
    """One sipp call pressing ``keys``; (outcome, the first menu step, what callport said)."""
    runtime, flow, tts = ivr_runtime(settings(tmp_path))
    channel = create(runtime)
    await channel.start()
    try:
        rc, out = await run_sipp("-sf", str(scenario(tmp_path, keys, refer_to, info=info)),
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


async def test_key_0_as_sip_info_transfers_to_the_operator(tmp_path: Path) -> None:
    """The other way SIP phones send keys: INFO with application/dtmf-relay (Signal=0)."""
    outcome, step, _ = await call_ivr(tmp_path, "0", refer_to="sip:operator@example.com",
                                      info=True)
    assert outcome == "transfer:sip:operator@example.com"
    assert (step["choice"], step["by"], step["digits"]) == ("operator", "dtmf", "0")
