"""House rule 1, transitively: importing a protocol core loads no I/O stack.

Each module in ``CORES`` is imported in a fresh interpreter (``sys.executable -c``), and
``sys.modules`` afterwards must hold none of ``FORBIDDEN``: not the module's own imports only,
but everything they pull in (a package ``__init__`` that imports its driver, a stdlib helper
that drags in ``socket``). ``tests/sip/test_sip_purity.py`` keeps the narrower, stricter rule
for the SIP cores' own source (no ``time`` either).

The list is explicit, and it must cover every module whose docstring calls it pure or sans-IO
(``DESCRIBES_OTHERS`` lists the few that only use the words about the cores they drive).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import callport

SRC = Path(callport.__file__).resolve().parent

FORBIDDEN = ("asyncio", "socket", "selectors", "ssl", "starlette", "httpx", "uvicorn", "aiortc",
             "websockets")

CORES: tuple[str, ...] = (
    # ground floor: shared names and pure DSP / decision modules
    "callport.types", "callport.errors", "callport.metrics",
    "callport.safejson", "callport.edgelog",  # the edge's JSON loader and bad-input counters
    "callport.audio.frame", "callport.audio.g711", "callport.audio.level",
    "callport.audio.resample", "callport.audio.tones", "callport.audio.wav",
    "callport.audio.amd",  # answering-machine detection (cadence + beep), simulated time
    "callport.vad", "callport.vad.base", "callport.vad.buffer", "callport.vad.turn",
    "callport.vad.tick",  # the shared VAD tick's schedule, simulated time
    "callport.vad.edge",  # where speech ended, from the audio's energy (numpy only)
    "callport.speech.text",
    # the call core's definitions and pure bookkeeping
    "callport.call.events", "callport.call.leg", "callport.call.controls", "callport.call.agent",
    "callport.call.playout", "callport.call.marks", "callport.call.turns",
    "callport.call.results", "callport.call.taps", "callport.call.understand",
    "callport.call.transfers",
    # agents: the adapters' wire formats (ConversationRelay, OpenAI-compatible chat streams)
    "callport.agentref", "callport.agents.adapters.relay_protocol",
    "callport.agents.adapters.llm_protocol", "callport.agents.adapters.media_bot_protocol",
    "callport.agents.adapters.openai_realtime_protocol",
    "callport.agents.adapters.gemini_live_protocol",
    # flows: the identification gate's decisions
    "callport.flows.identify",
    # flows: the IVR's compiled form, its file loader and opening hours
    "callport.flows.ivr.model", "callport.flows.ivr.load", "callport.flows.ivr.hours",
    # routing: rate tables, failover causes, breakers, outbound rules, zones, ranking
    "callport.routing", "callport.routing.rates", "callport.routing.causes",
    "callport.routing.health", "callport.routing.rules", "callport.routing.zones",
    "callport.routing.rank",
    # queues: the engine (strategies, waits, call-backs in simulated time) and its vocabulary
    "callport.queues", "callport.queues.engine", "callport.queues.matching",
    "callport.queues.model",
    "callport.call.queueing", "callport.config_queues",
    # bus: the node-to-node messages (typed, validated decoding of what Redis carries)
    "callport.bus", "callport.bus.envelopes",
    # recording: the consent machine and the all-party table
    "callport.recording", "callport.recording.consent", "callport.recording.rules",
    "callport.recording.sigv4",  # AWS Signature Version 4 (hashlib, hmac, urllib.parse)
    # channels: package faces (they must not import their drivers) and provider-neutral cores
    "callport.channels", "callport.channels.provider", "callport.channels.callbook",
    "callport.channels.twilio", "callport.channels.twilio.media",
    "callport.channels.twilio.tokens", "callport.channels.twilio.twiml",
    "callport.channels.twilio.webhooks",
    "callport.channels.telnyx", "callport.channels.telnyx.media",
    "callport.channels.telnyx.tokens", "callport.channels.telnyx.texml",
    "callport.channels.telnyx.webhook",
    "callport.channels.browser", "callport.channels.browser.protocol",
    "callport.channels.browser.messages",
    "callport.channels.browser.tokens", "callport.channels.browser.agent_protocol",
    "callport.channels.sip", "callport.channels.sip.auth", "callport.channels.sip.dialog",
    "callport.channels.sip.dtmf4733", "callport.channels.sip.errors",
    "callport.channels.sip.events", "callport.channels.sip.framing",
    "callport.channels.sip.headers", "callport.channels.sip.ids", "callport.channels.sip.media",
    "callport.channels.sip.message", "callport.channels.sip.registration",
    "callport.channels.sip.ratelimit", "callport.channels.sip.registrar",
    "callport.channels.sip.registrar_bindings", "callport.channels.sip.session_timer",
    "callport.channels.sip.requests", "callport.channels.sip.rtcp", "callport.channels.sip.rtp",
    "callport.channels.sip.sdp", "callport.channels.sip.srv", "callport.channels.sip.targets",
    "callport.channels.sip.transaction", "callport.channels.sip.trust",
    "callport.channels.sip.replaces",
    "callport.channels.sip.ua_core", "callport.channels.sip.ua_hold",
    "callport.channels.sip.ua_admission", "callport.channels.sip.ua_inbound",
    "callport.channels.sip.ua_outbound", "callport.channels.sip.ua_refresh",
    "callport.channels.sip.ua_register",
    "callport.channels.sip.useragent",
    # server: pure request rules; doctor: the open-door checks
    "callport.server.hosts", "callport.server.csrf", "callport.store.live",
    "callport.server.admission",  # admission by capacity, simulated time
    "callport.doctor_doors",
)

# Modules whose docstrings say "pure" or "sans-IO" about something other than themselves.
DESCRIBES_OTHERS: dict[str, str] = {
    "callport.call.mediaclock": "the asyncio clock; its TickWaits half is pure, tested as such",
    "callport.server.wsfast": "a uvicorn protocol (the driver); it says uvicorn's is sans-IO",
    "callport.agents.adapters.bot_api": "the socket; its routing is media_bot_protocol (pure)",
    "callport.call.session": "the asyncio driver; its decisions live in pure modules",
    "callport.flows.gate": "drives the pure decisions of flows.identify over a live Call",
    "callport.server.auth": "the middleware; its decisions are in server.hosts / server.csrf",
    "callport.server.capacity": "the live side of the pure server.admission",
    "callport.vad.batcher": "the asyncio shell of the sans-IO vad.tick schedule",
    "callport.queues.relay": ("the relay leg (asyncio, an EventInbox); its wire format and "
                              "HMAC door are plain functions, tested without a loop"),
    "callport.speech": "names its pure submodule text",
    "callport.channels.browser.ws": "the WebSocket driver around the sans-IO protocol",
    "callport.channels.sip.channel": "the asyncio driver around the sans-IO UserAgent",
    "callport.channels.sip.registrar_service": "the asyncio side of the sans-IO Registrar",
    "callport.channels.media_stream": "the WebSocket driver around a provider's MediaCore",
    "callport.channels.callrecords": "the async companion of the pure callbook",
    "callport.agents.taskmanager.picker": "pure functions over the (async) task store's types",
}

PROBE = (
    "import importlib, json, sys\n"
    "importlib.import_module(sys.argv[1])\n"
    f"print(json.dumps([m for m in {FORBIDDEN!r} if m in sys.modules]))\n"
)


def loaded_io(module: str) -> list[str]:
    """The forbidden modules a fresh interpreter holds after importing ``module``."""
    done = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True,
                          text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"importing {module} failed:\n{done.stderr[-2000:]}")
    found: list[str] = json.loads(done.stdout)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def claims_purity(path: Path) -> bool:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return re.search(r"\bpure\b|\bsans-io\b", doc, re.IGNORECASE) is not None


def test_protocol_cores_load_no_io_stack() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(CORES, pool.map(loaded_io, CORES), strict=True))
    impure = {module: found for module, found in results.items() if found}
    assert not impure, "cores that load an I/O stack when imported:\n" + "\n".join(
        f"  {module}: {', '.join(found)}" for module, found in sorted(impure.items())
    )


def test_the_probe_sees_a_driver() -> None:
    """A driver really does load what the cores must not (so an empty answer means something)."""
    assert {"asyncio", "socket"} <= set(loaded_io("callport.channels.sip.transports"))
    assert "starlette" in loaded_io("callport.channels.browser.channel")


def test_every_module_that_says_it_is_pure_is_checked() -> None:
    claimed = {module_name(p) for p in SRC.rglob("*.py") if claims_purity(p)}
    unlisted = claimed - set(CORES) - set(DESCRIBES_OTHERS)
    assert not unlisted, (
        "these modules' docstrings say pure/sans-IO: add them to CORES (or, if the words are "
        f"about other modules, to DESCRIBES_OTHERS): {sorted(unlisted)}"
    )
    existing = {module_name(p) for p in SRC.rglob("*.py")}
    stale = (set(CORES) | set(DESCRIBES_OTHERS)) - existing
    assert not stale, f"listed modules that no longer exist: {sorted(stale)}"
