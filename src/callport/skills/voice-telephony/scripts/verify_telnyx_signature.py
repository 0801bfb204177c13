#!/usr/bin/env python3
"""Check a Telnyx webhook's Ed25519 signature on a captured request, offline.

Telnyx signs ``f"{telnyx-timestamp}|{raw body}"`` with the account's Ed25519 key; the base64
signature is in ``telnyx-signature-ed25519`` and the unix time in ``telnyx-timestamp``. The
public key (base64 of 32 bytes) is in the Mission Control portal (see
references/telnyx-webhook-signing.md).
A timestamp more than 300 s from now is refused, as the Telnyx SDKs do, so a captured request
cannot be replayed; ``--now`` sets "now" for checking an old capture.

The request is a JSON file::

    {"headers": {"telnyx-signature-ed25519": "...", "telnyx-timestamp": "1764626400"},
     "body": "{\\"data\\": ...}",            # the raw body text, exactly as received
     "public_key": "base64..."}              # or --public-key / $TELNYX_PUBLIC_KEY

Verification uses the ``cryptography`` package when it is installed, otherwise a small RFC 8032
verifier in this file (slow but dependency-free). Exit status: 0 valid, 1 invalid or stale,
2 the input is unusable.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys
import time

TOLERANCE_S = 300

# --- RFC 8032 section 5.1 Ed25519 verification (fallback when `cryptography` is absent) ---
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)


def _add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s: int, pt: Point) -> Point:
    q: Point = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        s >>= 1
    return q


def _equal(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _decompress(raw: bytes) -> Point | None:
    if len(raw) != 32:
        return None
    y = int.from_bytes(raw, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        if sign:
            return None
        return (0, y, 1, 0)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if (x & 1) != sign:
        x = P - x
    return (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_G = _decompress(_GY.to_bytes(32, "little"))


def ed25519_verify_fallback(public_key: bytes, message: bytes, sig: bytes) -> bool:
    if len(sig) != 64 or _G is None:
        return False
    a = _decompress(public_key)
    r = _decompress(sig[:32])
    s = int.from_bytes(sig[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(sig[:32] + public_key + message).digest(), "little") % L
    return _equal(_mul(s, _G), _add(r, _mul(k, a)))


def ed25519_verify(public_key: bytes, message: bytes, sig: bytes) -> tuple[bool, str]:
    """(valid, which implementation checked it)."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return ed25519_verify_fallback(public_key, message, sig), "rfc8032-fallback"
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, message)
    except InvalidSignature:
        return False, "cryptography"
    return True, "cryptography"


def check(request: dict[str, object], public_key_b64: str, now: float,
          tolerance_s: float = TOLERANCE_S, *, fallback: bool = False) -> dict[str, object]:
    raw_headers = request.get("headers") or {}
    items = raw_headers.items() if isinstance(raw_headers, dict) else []
    headers = {str(k).lower(): str(v) for k, v in items}
    body = str(request.get("body", "")).encode()
    sig_b64 = headers.get("telnyx-signature-ed25519", "")
    stamp = headers.get("telnyx-timestamp", "")
    if not sig_b64 or not stamp:
        return {"ok": False, "error": "missing telnyx-signature-ed25519 or telnyx-timestamp"}
    try:
        key = base64.b64decode(public_key_b64.strip(), validate=True)
        sig = base64.b64decode(sig_b64, validate=True)
        ts = int(stamp)
    except (binascii.Error, ValueError):
        return {"ok": False, "error": "public key, signature or timestamp is not well formed"}
    if len(key) != 32:
        return {"ok": False, "error": f"the public key must be 32 bytes, got {len(key)}"}
    message = f"{ts}|".encode() + body
    if fallback:
        valid, impl = ed25519_verify_fallback(key, message, sig), "rfc8032-fallback"
    else:
        valid, impl = ed25519_verify(key, message, sig)
    skew = now - ts
    fresh = abs(skew) <= tolerance_s
    result: dict[str, object] = {"ok": valid and fresh, "signature_valid": valid,
                                 "timestamp_skew_s": round(skew, 1), "verified_with": impl}
    if not valid:
        result["hint"] = ("signature does not verify: check the body is the raw bytes (not "
                          "re-serialised JSON) and the key is the account's current public key")
    elif not fresh:
        result["hint"] = f"valid signature, but {skew:.0f} s off (limit {tolerance_s:.0f} s)"
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("request", help="captured request as JSON (headers, body[, public_key])")
    p.add_argument("--public-key", default=os.environ.get("TELNYX_PUBLIC_KEY", ""))
    p.add_argument("--now", type=float, help="unix time to check the timestamp against")
    p.add_argument("--fallback", action="store_true", help="use the built-in RFC 8032 verifier")
    args = p.parse_args(argv)
    try:
        with open(args.request, encoding="utf-8") as f:
            request = json.load(f)
        if not isinstance(request, dict):
            raise ValueError("the request must be a JSON object")
    except (OSError, ValueError) as exc:
        print(f"verify_telnyx_signature: {exc}", file=sys.stderr)
        return 2
    key = args.public_key or str(request.get("public_key", ""))
    if not key:
        print("verify_telnyx_signature: no public key (--public-key or $TELNYX_PUBLIC_KEY)",
              file=sys.stderr)
        return 2
    now = time.time() if args.now is None else args.now
    result = check(request, key, now, fallback=args.fallback)
    if "error" in result:
        print(json.dumps(result, indent=2))
        return 2
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
