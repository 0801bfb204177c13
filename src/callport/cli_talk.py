"""``callport talk IN.wav ...``: a conversation from WAV files through the same ``CallSession``
as a real call (``callport.talk.run_talk``). Each file is the caller's next turn; ``--phone``
makes it 8 kHz mu-law both ways, ``--caller`` identifies the call as that number's user,
``--out`` writes what the agent said, ``--json`` prints the turns (transcript, intent, reply,
per-stage timing). Exit 1 when the agent failed mid-call.
"""

from __future__ import annotations

import argparse
import json
import sys

from callport import cli_ivr
from callport.config import Settings


async def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the conversation of ``args.wavs`` and print (or ``--json``) its turns."""
    from callport.audio.decode import AudioFileError, read_audio
    from callport.audio.wav import write_wav
    from callport.server.runtime import build_runtime
    from callport.talk import TalkError, run_talk

    runtime = build_runtime(settings)  # a bad --agent is said first
    if (problem := cli_ivr.use_at(runtime, args.at)) is not None:
        print(f"callport: {problem}", file=sys.stderr)
        return 2
    inputs = []
    for wav in args.wavs:
        try:
            inputs.append(read_audio(wav))
        except AudioFileError as exc:
            print(f"callport: {exc}", file=sys.stderr)
            return 2
    print("callport: loading speech models (VAD, Whisper, TTS, intents)...", file=sys.stderr)
    await runtime.warmup()  # before the first turn, so its latency is the call's, not loading
    try:
        result = await run_talk(runtime, inputs, phone=args.phone, caller=args.caller,
                                sources=[str(w) for w in args.wavs])
    except TalkError as exc:
        print(f"callport: {exc}", file=sys.stderr)
        return 1
    if args.out:
        write_wav(args.out, result.output, result.sample_rate)
    if args.json:
        out = {
            "call_id": result.call_id,
            "phone": args.phone,
            "user": result.user,
            "hangup": result.hangup_reason,
            **cli_ivr.talk_report(runtime, result.call_id),
            "turns": [
                {
                    "file": t.source,
                    **(t.record.as_dict() if t.record else {"transcript": None}),
                    "secret": t.secret,
                    "reply_audio_s": [round(t.reply_start_s, 3), round(t.reply_end_s, 3)],
                }
                for t in result.turns
            ],
        }
        print(json.dumps(out, indent=2))
        return _talk_status(result.hangup_reason)
    for t in result.turns:
        print(f"--- {t.source}")
        if t.record is None:
            print("  (PIN entered)" if t.secret else "  (no speech detected)")
            continue
        r = t.record
        print(f"  caller : {r.transcript or r.digits}")
        print(f"  intent : {r.intent} ({r.score:.2f})")
        print(f"  agent  : {r.reply}")
        first = "-" if r.first_audio_ms is None else f"{r.first_audio_ms:.0f}"
        print(
            f"  timing : endpoint {r.endpoint_ms:.0f} ms + stt {r.stt_ms:.0f} ms + agent "
            f"{r.agent_ms:.0f} ms + tts {r.tts_ms:.0f} ms -> first audio {first} ms"
        )
    return _talk_status(result.hangup_reason)


def _talk_status(hangup_reason: str) -> int:
    """1 when the agent or flow failed mid-call (its error was logged above), else 0."""
    from callport.flows.default import FAILED_REASON

    if hangup_reason == FAILED_REASON:
        print("callport: the agent failed mid-call (the error is above); the caller heard "
              "an apology and server.fallback", file=sys.stderr)
        return 1
    return 0
