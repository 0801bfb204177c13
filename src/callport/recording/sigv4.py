"""AWS Signature Version 4 for S3 requests (header-based, signed payload), sans-IO.

Follows AWS's "Signature Calculations for the Authorization Header: Transferring Payload in a
Single Chunk" (Amazon S3 API reference, ``sig-v4-header-based-auth``): a canonical request
(method, URI-encoded path, sorted query, lower-cased sorted headers, the signed header names,
the payload's SHA-256), a string to sign (``AWS4-HMAC-SHA256``, the ``x-amz-date``, the scope
``DATE/REGION/s3/aws4_request``, the canonical request's SHA-256) and the signing key, the
HMAC-SHA256 chain ``"AWS4"+secret`` -> date -> region -> service -> ``aws4_request``.
``tests/recording/test_sigv4.py`` checks it against AWS's published GET example.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def uri_encode(text: str, *, slash: bool = True) -> str:
    """AWS's UriEncode: every byte but ``A-Za-z0-9-._~`` as ``%XY``; ``/`` kept when
    ``slash`` is False (an object key in the path)."""
    return quote(text, safe="-_.~" if slash else "-_.~/")


def canonical_query(query: Mapping[str, str]) -> str:
    """The query's names and values URI-encoded, sorted by name, ``&``-joined."""
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in query.items())
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(method: str, path: str, query: Mapping[str, str],
                      headers: Mapping[str, str], payload_hash: str) -> tuple[str, str]:
    """The canonical request and its signed header names (``host;x-amz-date;...``).
    ``path`` is the raw path (encoded here once, ``/`` kept)."""
    lowered = sorted((k.lower().strip(), " ".join(v.split())) for k, v in headers.items())
    signed = ";".join(k for k, _ in lowered)
    lines = [method.upper(), uri_encode(path, slash=False), canonical_query(query),
             "".join(f"{k}:{v}\n" for k, v in lowered), signed, payload_hash]
    return "\n".join(lines), signed


def scope(date: str, region: str, service: str = "s3") -> str:
    """``YYYYMMDD/REGION/SERVICE/aws4_request``."""
    return f"{date}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, credential_scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{credential_scope}\n{digest}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """The HMAC chain: ``"AWS4"+secret`` -> date -> region -> service -> ``aws4_request``."""
    key = _hmac(("AWS4" + secret).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def signature(secret: str, amz_date: str, region: str, canonical: str,
              service: str = "s3") -> str:
    """The hex signature of a canonical request at ``amz_date`` (``YYYYMMDDTHHMMSSZ``)."""
    date = amz_date[:8]
    text = string_to_sign(amz_date, scope(date, region, service), canonical)
    return hmac.new(signing_key(secret, date, region, service), text.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def sign(*, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
         payload: bytes, access_key: str, secret_key: str, region: str, amz_date: str,
         service: str = "s3") -> dict[str, str]:
    """``headers`` (which must hold ``host``) plus ``x-amz-date``, ``x-amz-content-sha256``
    and the ``Authorization`` header of the signed request."""
    payload_hash = hashlib.sha256(payload).hexdigest()
    out = {**headers, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    canonical, signed = canonical_request(method, path, query, out, payload_hash)
    sig = signature(secret_key, amz_date, region, canonical, service)
    credential = f"{access_key}/{scope(amz_date[:8], region, service)}"
    out["Authorization"] = (f"{ALGORITHM} Credential={credential},SignedHeaders={signed},"
                            f"Signature={sig}")
    return out
