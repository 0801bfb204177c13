"""A real Pipecat bot (pipecat-ai from PyPI, TwilioFrameSerializer, FastAPIWebsocketTransport)
behind ``--agent twilio-ws:``: audio both ways, the bot's interruption clears its audio, the
bot's auto hang-up (an EndFrame: the serializer's REST call) ends the call."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from adapter_support import ScriptedSTT, ToneTTS, line, tone, until
from call_fakes import EnergyVad
from pipecat_support import PipecatBot, needs_pipecat, pipecat_bot

from callport.audio.wav import read_wav, write_wav

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sip"))
BROWSER_TESTS = str(Path(__file__).resolve().parents[1] / "browser")

pytestmark = [pytest.mark.slow, pytest.mark.interop, needs_pipecat]
__all__ = ["pipecat_bot"]
CALLER = "+15550001111"


def loud_frames(frames: list[np.ndarray], level: int = 3000) -> int:
    return sum(1 for f in frames if len(f) and int(np.abs(f).max()) > level)


async def test_a_call_with_a_pipecat_bot_audio_both_ways_barge_in_and_bot_hang_up(
        pipecat_bot: PipecatBot) -> None:
    ln = line(f"twilio-ws:{pipecat_bot.url}", [], realtime=True)
    ln.start()
    await until(lambda: loud_frames(ln.leg.sent) >= 20, timeout=20)  # the bot's greeting tone
    greeting = len(ln.leg.sent)
    await ln.leg.speak(tone(1.0, 8000, freq=500.0, amp=9000), 8000, trailing_silence_s=0.5)
    await until(lambda: loud_frames(ln.leg.sent[greeting:]) >= 30, timeout=10)  # the echo
    echo = np.concatenate(ln.leg.sent[greeting:])
    spectrum = np.abs(np.fft.rfft(echo.astype(np.float64)))
    assert abs(int(np.argmax(spectrum)) * 8000 / len(echo) - 500.0) < 20  # our tone came back

    ln.leg.press("1")  # the bot starts 6 s of tone; the caller talks over it
    await until(lambda: "dtmf 1" in pipecat_bot.output(), timeout=10)
    before = len(ln.leg.sent)
    await until(lambda: loud_frames(ln.leg.sent[before:]) >= 25, timeout=10)
    cleared = ln.leg.cleared
    await ln.leg.speak(tone(0.4, 8000, freq=300.0, amp=9000), 8000, trailing_silence_s=1.0)
    await until(lambda: ln.leg.cleared > cleared, timeout=10)  # the bot sent clear
    assert "interrupted" in pipecat_bot.output()
    await asyncio.sleep(0.5)
    assert len(ln.leg.sent) - before < 6 * 50 * 0.6  # far less than the bot's 6 s went out

    ln.leg.press("#")  # EndFrame: TwilioFrameSerializer POSTs Calls/{sid}.json Status=completed
    call = await asyncio.wait_for(ln.task, 20) if ln.task else None
    assert call is not None and call.session.hangup_reason == "agent-ended"
    events = [e.detail for e in await ln.calls.events(ln.info.call_id) if e.kind == "agent"]
    assert any("REST hang-up" in d for d in events), events
    await until(lambda: "call over" in pipecat_bot.output(), timeout=10)


# ---- over SIP: baresip calls callport, callport's agent is the Pipecat bot -------------------


def _level_at(pcm: np.ndarray, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    bin_hz = 8000 / len(pcm)
    i = round(freq / bin_hz)
    return float(spectrum[max(0, i - 2):i + 3].max() / (np.median(spectrum) + 1e-9))


async def test_baresip_calls_callport_and_talks_to_the_pipecat_bot(
        pipecat_bot: PipecatBot, tmp_path: Path) -> None:
    from sip_support import BARESIP, free_udp_port, rtp_range, stop_baresip, write_baresip_config

    from callport.channels.sip.channel import SipChannel
    from callport.config import AgentSettings, ServerSettings, Settings, SipSettings
    from callport.server.runtime import build_runtime

    if BARESIP is None:
        pytest.skip("baresip not installed")
    low, high = rtp_range()
    settings = dataclasses.replace(
        Settings(server=ServerSettings(db=":memory:", agent=f"twilio-ws:{pipecat_bot.url}"),
                 agent=AgentSettings(connect_timeout_s=5.0)),
        sip=SipSettings(enabled=True, host="127.0.0.1", port=0, rtp_port_min=low,
                        rtp_port_max=high, media_timeout_s=10.0))
    runtime = build_runtime(settings, stt=ScriptedSTT([]), tts=ToneTTS(),  # type: ignore[arg-type]
                            vad=EnergyVad())
    await runtime.users.add("alice", display_name="Alice", phones=[CALLER])
    pcm = np.concatenate([np.zeros(int(2.5 * 8000), np.int16),
                          tone(1.5, 8000, freq=500.0, amp=9000), np.zeros(2 * 8000, np.int16),
                          tone(0.6, 8000, freq=1000.0, amp=9000),  # the bot's hang-up tone
                          np.zeros(20 * 8000, np.int16)])
    write_wav(tmp_path / "caller.wav", pcm, 8000)
    ctrl_port = free_udp_port()
    conf = write_baresip_config(
        tmp_path, source_wav=tmp_path / "caller.wav", sip_port=free_udp_port(),
        ctrl_port=ctrl_port, rtp_low=low,
        account=f"<sip:{CALLER}@127.0.0.1>;regint=0;answermode=manual;audio_codecs=PCMU")
    with (conf / "config").open("a") as f:
        f.write("net_interface 127.0.0.1\n")  # SDP on loopback: callport checks media = source
    channel = SipChannel(runtime, settings=settings.sip)
    await channel.start()
    proc = await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(conf), "-t", "30", "-e", f"/dial sip:agent@127.0.0.1:{channel.port}",
        stdout=(tmp_path / "baresip.log").open("w"), stderr=asyncio.subprocess.STDOUT)
    try:
        await until(lambda: bool(runtime.active), timeout=15)
        [call] = runtime.active.values()
        # greeting; the caller's tone at 2.5 s and its echo; at 6 s the hang-up tone: the bot
        # POSTs Calls/{sid}.json and callport ends the SIP call (BYE)
        await until(lambda: not runtime.active, timeout=20)
    finally:
        await asyncio.sleep(0.3)
        await stop_baresip(proc, ctrl_port)
        await channel.stop()
    [recording] = sorted((tmp_path / "rec").glob("*-dec.wav"))
    heard, rate = read_wav(recording)
    assert rate == 8000 and len(heard) > 4 * 8000
    assert _level_at(heard[: int(2.5 * 8000)], 440.0) > 20  # the bot's greeting over RTP
    assert _level_at(heard[int(2.5 * 8000):int(5.5 * 8000)], 500.0) > 20  # echoed by it
    assert "twilio call" in pipecat_bot.output() and "hang-up tone" in pipecat_bot.output()
    assert call.session.hangup_reason == "agent-ended"
    assert channel.calls == {} and channel.pool.in_use == set()


# ---- from the browser: headless Chromium's page calls callport, the agent is the Pipecat bot --


async def test_a_browser_call_talks_to_the_pipecat_bot_is_cleared_and_hung_up_by_it(
        pipecat_bot: PipecatBot, tmp_path: Path) -> None:
    sys.path.insert(0, BROWSER_TESTS)
    from browser_harness import chromium, dump, have_chromium, serve, sign_in_by_link

    from callport.channels.browser import create
    from callport.config import ServerSettings, Settings
    from callport.server.app import create_app
    from callport.server.runtime import build_runtime
    from callport.store.owner import ensure_owner

    if not have_chromium():
        pytest.skip("needs chromium + playwright")
    # The fake microphone loops: 2.5 s of silence, then 0.6 s of a 500 Hz tone.
    mic = np.concatenate([np.zeros(int(2.5 * 16000), np.int16),
                          tone(0.6, 16000, freq=500.0, amp=9000)])
    write_wav(tmp_path / "mic.wav", mic, 16000)
    settings = Settings(server=ServerSettings(db=str(tmp_path / "db.sqlite"),
                                              agent=f"twilio-ws:{pipecat_bot.url}"))
    runtime = build_runtime(settings, stt=ScriptedSTT([]), tts=ToneTTS(),  # type: ignore[arg-type]
                            vad=EnergyVad())
    app = create_app(runtime, channels=[create(runtime)])
    async with serve(app) as base, chromium(tmp_path / "mic.wav", loop=True) as browser:
        page = await browser.new_page()
        owner, _ = await ensure_owner(runtime.users, name=settings.identity.owner)
        await sign_in_by_link(page, base, runtime, owner.name)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(f"{base}/?transport=ws&apm=0&gate=0&record=1")
        await page.click("#call")
        await page.wait_for_function("window.callport.state === 'live'", timeout=20_000)
        await asyncio.sleep(4.0)  # the greeting and a tone's echo
        rec = await dump(page)
        await page.evaluate("window.callport.call.pressDigit('1')")  # the bot's 6 s tone...
        await page.wait_for_function(  # ...which the next tone from the mic interrupts
            "window.callport.call.stats.serverClears > 0", timeout=15_000)
        await page.evaluate("window.callport.call.pressDigit('#')")  # the bot hangs up
        await until(lambda: not runtime.active, timeout=15)
    assert not errors, errors
    played = (rec.remote * 32767).astype(np.int16)
    rate = 16000  # the page records what it played at the call's rate
    greeting = _tone_share(played, 440.0, rate)  # the bot's greeting, heard on the page
    echo = _tone_share(played, 500.0, rate)  # the page's microphone, echoed by the bot
    assert greeting > 0.8 and echo > 0.8, (greeting, echo, len(played) / rate)
    out = pipecat_bot.output()
    assert "dtmf 1" in out and "interrupted" in out and "dtmf #" in out
    [record] = await runtime.calls.list_recent(1)
    events = [e.detail for e in await runtime.calls.events(record.call_id) if e.kind == "agent"]
    assert any("REST hang-up" in d for d in events), events  # the bot ended it


def _tone_share(pcm: np.ndarray, freq: float, rate: int) -> float:
    """The largest share of a loud 0.2 s window's energy within 20 Hz of ``freq``."""
    win = rate // 5
    best = 0.0
    for i in range(0, len(pcm) - win + 1, win // 2):
        chunk = pcm[i:i + win].astype(np.float64)
        if np.sqrt(np.mean(chunk ** 2)) < 1000:
            continue
        power = np.abs(np.fft.rfft(chunk)) ** 2
        hz = np.fft.rfftfreq(win, 1 / rate)
        best = max(best, float(power[np.abs(hz - freq) <= 20].sum() / power.sum()))
    return best
