#!/usr/bin/env python3
"""G.711 (mu-law / A-law) encode and decode, with a self-test, in stdlib Python.

Phone audio on Twilio Media Streams and most SIP trunks is G.711 at 8 kHz: one byte per
sample, 160 bytes per 20 ms (see references/g711-and-rtp.md). This file is both a tiny codec
and a check that a codec behaves:

- every one of the 256 codes decodes and re-encodes to itself (mu-law's two zeros excepted);
- decoding is monotonic in the code's magnitude and symmetric in its sign;
- known anchors: mu-law encodes 0 as 0xFF, A-law encodes 0 as 0xD5 (its even bits inverted);
- a 1 kHz tone at -10 dBFS survives encode+decode with a signal-to-noise ratio above 35 dB,
  and a -50 dBFS tone (a quiet caller) still above 25 dB: companding keeps SNR roughly level;
- where the stdlib ``audioop`` module exists (Python < 3.13, or ``audioop-lts``), both codecs
  agree with it byte for byte.

``--wav IN.wav --out OUT.wav`` runs a 16-bit mono 8 kHz WAV through the codec so you can hear
what the phone network does to your prompt. Exit status: 0 all checks pass, 1 a check failed.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
import wave

BIAS = 0x84  # decoder bias (16-bit scale)
ULAW_BIAS = 0x21  # encoder bias (14-bit scale)
ULAW_CLIP = 8159


def ulaw_encode_sample(x: int) -> int:
    """ITU-T G.711 mu-law on the 14-bit magnitude (the classic Sun g711.c / audioop rounding)."""
    x >>= 2
    mask = 0x7F if x < 0 else 0xFF
    x = min(-x if x < 0 else x, ULAW_CLIP) + ULAW_BIAS
    segment = max(0, x.bit_length() - 6)  # segment ends 0x3F, 0x7F, ... 0x1FFF
    if segment >= 8:
        return 0x7F ^ mask
    return ((segment << 4) | ((x >> (segment + 1)) & 0x0F)) ^ mask


def ulaw_decode_sample(code: int) -> int:
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = (((code & 0x0F) << 3) + BIAS) << exponent
    magnitude -= BIAS
    return -magnitude if code & 0x80 else magnitude


def alaw_encode_sample(x: int) -> int:
    sign = 0x80 if x >= 0 else 0
    x = min(abs(x) if x >= 0 else -x - 1, 32767) >> 3  # 13-bit magnitude
    if x < 32:
        code = x >> 1
    else:
        exponent = min(x.bit_length() - 5, 7)
        code = (exponent << 4) | ((x >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


def alaw_decode_sample(code: int) -> int:
    code ^= 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    step = (mantissa << 4) + 8
    magnitude = step if exponent == 0 else (step + 0x100) << (exponent - 1)
    return magnitude if code & 0x80 else -magnitude


def encode(pcm: list[int], law: str) -> bytes:
    f = ulaw_encode_sample if law == "ulaw" else alaw_encode_sample
    return bytes(f(x) for x in pcm)


def decode(data: bytes, law: str) -> list[int]:
    f = ulaw_decode_sample if law == "ulaw" else alaw_decode_sample
    return [f(b) for b in data]


def tone(dbfs: float, n: int = 8000, freq: float = 1000.0, rate: int = 8000) -> list[int]:
    amp = 32767 * 10 ** (dbfs / 20)
    return [round(amp * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)]


def snr_db(ref: list[int], got: list[int]) -> float:
    signal = sum(x * x for x in ref)
    noise = sum((x - y) ** 2 for x, y in zip(ref, got, strict=True)) or 1
    return 10 * math.log10(signal / noise)


def selftest() -> list[str]:
    """Failures, one line each (empty: all good)."""
    failures: list[str] = []
    for law, dec, enc in (("ulaw", ulaw_decode_sample, ulaw_encode_sample),
                          ("alaw", alaw_decode_sample, alaw_encode_sample)):
        for code in range(256):
            back = enc(dec(code))
            if back != code and not (law == "ulaw" and code == 0x7F and back == 0xFF):
                failures.append(f"{law}: code {code:#04x} -> {dec(code)} -> {back:#04x}")
        positive = sorted(dec(c) for c in range(256) if dec(c) >= 0)
        if len(set(positive)) < 127:
            failures.append(f"{law}: decoded levels are not distinct")
        for c in range(256):
            if dec(c) != -dec(c ^ 0x80):
                failures.append(f"{law}: code {c:#04x} is not the mirror of {c ^ 0x80:#04x}")
                break
        for dbfs, floor in ((-10.0, 35.0), (-50.0, 25.0)):
            ref = tone(dbfs)
            got = decode(encode(ref, law), law)
            snr = snr_db(ref, got)
            if snr < floor:
                failures.append(f"{law}: SNR at {dbfs} dBFS is {snr:.1f} dB (< {floor})")
    if ulaw_encode_sample(0) != 0xFF:
        failures.append(f"ulaw: encode(0) = {ulaw_encode_sample(0):#04x}, expected 0xff")
    if alaw_encode_sample(0) != 0xD5:
        failures.append(f"alaw: encode(0) = {alaw_encode_sample(0):#04x}, expected 0xd5")
    failures += _against_audioop()
    return failures


def _against_audioop() -> list[str]:
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
    except ImportError:
        return []
    pcm = list(range(-32768, 32768, 7))
    raw = struct.pack(f"<{len(pcm)}h", *pcm)
    failures = []
    for law, lin2, fromlaw in (("ulaw", audioop.lin2ulaw, audioop.ulaw2lin),
                               ("alaw", audioop.lin2alaw, audioop.alaw2lin)):
        if encode(pcm, law) != lin2(raw, 2):
            failures.append(f"{law}: encoding differs from audioop")
        codes = bytes(range(256))
        ours = struct.pack("<256h", *decode(codes, law))
        if ours != fromlaw(codes, 2):
            failures.append(f"{law}: decoding differs from audioop")
    return failures


def roundtrip_wav(src: str, dst: str, law: str) -> float:
    with wave.open(src, "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError("need a 16-bit mono WAV")
        rate = w.getframerate()
        frames = w.readframes(w.getnframes())
    pcm = list(struct.unpack(f"<{len(frames) // 2}h", frames))
    got = decode(encode(pcm, law), law)
    with wave.open(dst, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack(f"<{len(got)}h", *got))
    return snr_db(pcm, got)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="G.711 self-test and WAV round trip")
    p.add_argument("--wav", help="16-bit mono WAV to run through the codec")
    p.add_argument("--out", help="where to write the round-tripped WAV")
    p.add_argument("--law", choices=["ulaw", "alaw"], default="ulaw")
    args = p.parse_args(argv)
    if args.wav:
        if not args.out:
            p.error("--wav needs --out")
        try:
            snr = roundtrip_wav(args.wav, args.out, args.law)
        except (OSError, ValueError, wave.Error) as exc:
            print(f"g711_selftest: {exc}", file=sys.stderr)
            return 2
        print(f"{args.law} round trip: SNR {snr:.1f} dB, written to {args.out}")
        return 0
    failures = selftest()
    for line in failures:
        print("FAIL", line)
    if not failures:
        print("g711 self-test: ok (256 codes each law, symmetry, anchors, SNR, audioop parity)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
