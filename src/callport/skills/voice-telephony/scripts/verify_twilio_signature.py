#!/usr/bin/env python3
"""Check an ``X-Twilio-Signature`` on a captured webhook request, offline (stdlib only).

Twilio signs ``base64(HMAC-SHA1(auth_token, URL + sorted(name + value)...))`` where URL is the
exact URL Twilio requested (scheme, host, port, path, query) and the POST form parameters are
appended sorted by name (see references/twilio-webhook-security.md). A JSON body is not signed as
parameters: the URL carries ``bodySHA256=<hex sha256 of the body>`` instead.

The request is a JSON file::

    {"url": "http://127.0.0.1:8080/twilio/voice",          # the URL as YOUR app saw it
     "headers": {"X-Twilio-Signature": "...", "X-Forwarded-Proto": "https", ...},
     "body": "CallSid=CA...&From=%2B1555...",               # raw body text
     "auth_token": "..."}                  # or --auth-token / $TWILIO_AUTH_TOKEN

It tries the URL as captured, with and without the default port, and the public URL rebuilt from
``X-Forwarded-Proto``/``X-Forwarded-Host`` or from ``--public-base-url``, and says which one
Twilio signed. That answers the usual question: "why does my signature check fail behind a proxy?"

Exit status: 0 a candidate URL matches, 1 none does, 2 the input is unusable.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit


def signature(auth_token: str, url: str, params: dict[str, list[str]]) -> str:
    """Twilio's signature over ``url`` and form ``params`` (every value of a repeated name)."""
    data = url
    for name in sorted(params):
        for value in sorted(params[name]):
            data += name + value
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def form_params(body: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


def port_variants(url: str) -> list[str]:
    """The URL with and without the scheme's default port (Twilio's SDKs try both)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if parts.port is None and default:
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=host)
    else:
        return [url]
    return [url, urlunsplit(other)]


def candidates(url: str, headers: dict[str, str], public_base_url: str) -> list[tuple[str, str]]:
    """(why, url) pairs to try, the captured URL first."""
    lower = {k.lower(): v for k, v in headers.items()}
    parts = urlsplit(url)
    path_query = parts.path + (f"?{parts.query}" if parts.query else "")
    found: list[tuple[str, str]] = [("as captured", url)]
    proto = lower.get("x-forwarded-proto", "").split(",")[0].strip()
    host = lower.get("x-forwarded-host", "").split(",")[0].strip()
    if proto or host:
        rebuilt = f"{proto or parts.scheme}://{host or parts.netloc}{path_query}"
        found.append(("rebuilt from X-Forwarded-Proto/Host", rebuilt))
    if public_base_url:
        base = urlsplit(public_base_url.rstrip("/"))
        found.append(("--public-base-url", f"{base.scheme}://{base.netloc}{base.path}{path_query}"))
    out: list[tuple[str, str]] = []
    for why, candidate in found:
        for variant in port_variants(candidate):
            label = why if variant == candidate else f"{why}, port toggled"
            if variant not in [u for _, u in out]:
                out.append((label, variant))
    return out


def check(
    request: dict[str, object], auth_token: str, public_base_url: str = ""
) -> dict[str, object]:
    url = str(request["url"])
    raw_headers = request.get("headers") or {}
    items = raw_headers.items() if isinstance(raw_headers, dict) else []
    headers = {str(k): str(v) for k, v in items}
    body = str(request.get("body", ""))
    given = {k.lower(): v for k, v in headers.items()}.get("x-twilio-signature", "")
    if not given:
        return {"ok": False, "error": "no X-Twilio-Signature header in the request"}
    tried = []
    for why, candidate in candidates(url, headers, public_base_url):
        query = parse_qs(urlsplit(candidate).query)
        if "bodySHA256" in query:  # JSON body: the URL alone is signed, the body by its hash
            body_ok = hashlib.sha256(body.encode()).hexdigest() == query["bodySHA256"][0]
            expected = signature(auth_token, candidate, {})
            match = body_ok and hmac.compare_digest(expected, given)
        else:
            expected = signature(auth_token, candidate, form_params(body))
            match = hmac.compare_digest(expected, given)
        tried.append({"url": candidate, "why": why, "expected": expected, "match": match})
        if match:
            hint = "" if why == "as captured" else (
                f"Twilio signed {candidate}, not the URL your app saw ({url}): validate against "
                "the public URL (a configured public base URL, or X-Forwarded-* from a proxy you "
                "trust)")
            return {"ok": True, "signed_url": candidate, "why": why, "hint": hint, "tried": tried}
    return {"ok": False, "tried": tried, "hint": (
        "no candidate URL matches: wrong auth token (a subaccount's or an old one), a body that "
        "was re-encoded before checking, or a public URL that differs in path or query")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("request", help="captured request as JSON (url, headers, body[, auth_token])")
    p.add_argument("--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN", ""),
                   help="the account's auth token (default: the file's, or $TWILIO_AUTH_TOKEN)")
    p.add_argument("--public-base-url", default="", help="e.g. https://voice.example.com")
    args = p.parse_args(argv)
    try:
        with open(args.request, encoding="utf-8") as f:
            request = json.load(f)
        if not isinstance(request, dict) or "url" not in request:
            raise ValueError("the request must be a JSON object with a 'url'")
    except (OSError, ValueError) as exc:
        print(f"verify_twilio_signature: {exc}", file=sys.stderr)
        return 2
    token = args.auth_token or str(request.get("auth_token", ""))
    if not token:
        print("verify_twilio_signature: no auth token (--auth-token or $TWILIO_AUTH_TOKEN)",
              file=sys.stderr)
        return 2
    result = check(request, token, args.public_base_url)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
