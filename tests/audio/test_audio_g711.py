"""G.711 µ-law / A-law: reference code points from ITU-T G.711 and bit-exactness vs audioop."""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import pytest

from callport.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def _audioop() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:
            pytest.skip("stdlib audioop not available")
    return audioop


def enc(fn: object, *samples: int) -> bytes:
    assert callable(fn)
    out = fn(np.array(samples, dtype=np.int16))
    assert isinstance(out, bytes)
    return out


# --- µ-law reference points (G.711 table 2a, 16-bit scaled) -------------------------------


def test_ulaw_zero_encodes_to_0xff() -> None:
    assert enc(ulaw_encode, 0, 3) == b"\xff\xff"  # below one 14-bit step
    # -1 >> 2 == -1: negative inputs have magnitude >= 1, i.e. mantissa 1 of segment 0.
    assert enc(ulaw_encode, -1, -4) == b"\x7e\x7e"


def test_ulaw_full_scale_clips_to_segment_7() -> None:
    assert enc(ulaw_encode, 32767, 32124, -32768, -32124) == b"\x80\x80\x00\x00"


def test_ulaw_decode_extremes_and_zeros() -> None:
    assert ulaw_decode(b"\x00\x80\x7f\xff").tolist() == [-32124, 32124, 0, 0]


def test_ulaw_segment_boundaries() -> None:
    # Codes 0xEF/0xEE are the top/bottom of segment 1 vs 0; decode gives step centres.
    # Segment k (positive, code 0xFF - (k<<4) - m) decodes to ((m<<3) + 0x84 << k) - 0x84.
    for seg in range(8):
        for m in (0, 15):
            code = 0xFF ^ ((seg << 4) | m)
            expect = (((m << 3) + 0x84) << seg) - 0x84
            assert ulaw_decode(bytes([code])).tolist() == [expect]
            assert ulaw_decode(bytes([code & 0x7F])).tolist() == [-expect]
    # Encoder thresholds: 14-bit magnitude + 33 crossing 0x40 moves from segment 0 to 1.
    assert enc(ulaw_encode, (0x3F - 33) << 2) == bytes([0xFF ^ 0x0F])
    assert enc(ulaw_encode, (0x40 - 33) << 2) == bytes([0xFF ^ 0x10])


# --- A-law reference points (G.711 table 1a, even-bit inversion) --------------------------


def test_alaw_zero_and_even_bit_inversion() -> None:
    assert enc(alaw_encode, 0) == b"\xd5"  # 0x80 (sign=+) ^ 0x55
    assert enc(alaw_encode, -1) == b"\x55"  # smallest negative step: 0x00 ^ 0x55
    assert alaw_decode(b"\xd5\x55").tolist() == [8, -8]


def test_alaw_full_scale() -> None:
    assert enc(alaw_encode, 32767, -32768) == bytes([0xFF ^ 0x55, 0x7F ^ 0x55])
    assert alaw_decode(bytes([0xFF ^ 0x55, 0x7F ^ 0x55])).tolist() == [32256, -32256]


def test_alaw_segment_boundaries() -> None:
    # Segment 0 and 1 share a step of 16 (16-bit units); segment s>1 doubles it each time.
    for seg in range(8):
        for m in (0, 15):
            code = ((seg << 4) | m | 0x80) ^ 0x55
            step = (m << 4) + 8 if seg == 0 else ((m << 4) + 0x108) << (seg - 1)
            assert alaw_decode(bytes([code])).tolist() == [step]
    assert enc(alaw_encode, 0x1F << 3) == bytes([0x8F ^ 0x55])
    assert enc(alaw_encode, 0x20 << 3) == bytes([0x90 ^ 0x55])


# --- properties over the whole domain -----------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_decode_encode_is_identity_on_codes(encode: object, decode: object) -> None:
    assert callable(encode) and callable(decode)
    codes = ALL_CODES
    pcm = decode(codes)
    back = encode(pcm)
    if encode is ulaw_encode:  # µ-law has two zeros (0x7F, 0xFF); both decode to 0 -> 0xFF
        codes = codes.replace(b"\x7f", b"\xff")
    assert back == codes


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_round_trip_is_monotonic_and_bounded(encode: object, decode: object) -> None:
    assert callable(encode) and callable(decode)
    y = decode(encode(ALL_SAMPLES)).astype(np.int32)
    assert np.all(np.diff(y) >= 0)
    err = np.abs(y - ALL_SAMPLES.astype(np.int32))
    # Quantisation error within half the largest step (1024 µ-law / 1024 A-law) + clipping.
    assert int(err[(ALL_SAMPLES > -32000) & (ALL_SAMPLES < 32000)].max()) <= 1024


def test_input_shapes_and_types() -> None:
    two_d = ALL_SAMPLES[:320].reshape(2, 160)
    assert ulaw_encode(two_d) == ulaw_encode(ALL_SAMPLES[:320])
    strided = ALL_SAMPLES[::2]
    assert alaw_encode(strided) == alaw_encode(strided.copy())
    assert ulaw_encode(np.zeros(0, dtype=np.int16)) == b""
    assert ulaw_decode(b"").size == 0
    assert ulaw_decode(bytearray(b"\xff")).tolist() == [0]
    assert alaw_decode(memoryview(b"\xd5")).tolist() == [8]
    with pytest.raises(TypeError):
        ulaw_encode(np.zeros(4, dtype=np.float32))


def test_decode_returns_writable_int16() -> None:
    out = ulaw_decode(b"\x00\x01")
    assert out.dtype == np.int16
    out[0] = 1  # a fresh array, not a view of the table


# --- bit-exact against stdlib audioop -----------------------------------------------------


def test_ulaw_encode_matches_audioop_for_all_samples() -> None:
    audioop = _audioop()
    assert ulaw_encode(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2)


def test_alaw_encode_matches_audioop_for_all_samples() -> None:
    audioop = _audioop()
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2)


def test_decoders_match_audioop_for_all_codes() -> None:
    audioop = _audioop()
    assert ulaw_decode(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
    assert alaw_decode(ALL_CODES).tobytes() == audioop.alaw2lin(ALL_CODES, 2)
