"""``S3Store``: the recordings in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, ...).

The scale-out ``RecordingStore`` (``recording.store = "s3"``): each object is
``PREFIX + name`` in ``bucket`` at ``endpoint``, reached path-style
(``ENDPOINT/BUCKET/KEY``) over httpx, every request signed with AWS Signature Version 4
(``callport.recording.sigv4``, signed payload). PUT replaces an object whole (a reader never
sees half of it); ListObjectsV2 (paged by continuation token) lists the names. A refused
request (a wrong key: 403 ``SignatureDoesNotMatch``, a missing bucket, a server error)
raises ``S3Error`` naming the operation, the object and S3's error code.
The calls are synchronous, like ``LocalStore``'s file calls.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from callport.recording.sigv4 import canonical_query, sign, uri_encode
from callport.recording.store import valid_name

_NS = re.compile(r"^\{[^}]*\}")


class S3Error(RuntimeError):
    """An S3 request refused: ``status`` and S3's ``code`` (``SignatureDoesNotMatch``)."""

    def __init__(self, message: str, *, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def _now() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _xml(body: bytes) -> dict[str, list[str]]:
    """Every element's text by its local name (namespace dropped)."""
    out: dict[str, list[str]] = {}
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return out
    for el in root.iter():
        out.setdefault(_NS.sub("", el.tag), []).append(el.text or "")
    return out


class S3Store:
    """A ``RecordingStore`` in an S3-compatible bucket (path-style URLs, SigV4)."""

    def __init__(self, *, endpoint: str, bucket: str, region: str, access_key: str,
                 secret_key: str, prefix: str = "", timeout_s: float = 30.0,
                 clock: Callable[[], str] = _now,
                 transport: httpx.BaseTransport | None = None) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"S3 endpoint {endpoint!r}: expected http(s)://host[:port]")
        self.endpoint = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self.base = parts.path.rstrip("/")  # an endpoint behind a path (rare)
        self.bucket = bucket
        self.region = region
        self.access_key = access_key
        self._secret = secret_key
        self.prefix = prefix
        self._clock = clock
        self._client = httpx.Client(timeout=timeout_s, transport=transport)

    def close(self) -> None:
        self._client.close()

    def _key(self, name: str) -> str:
        if not valid_name(name):
            raise ValueError(f"not a recording object name: {name!r}")
        return self.prefix + name

    def _request(self, method: str, key: str | None, *, query: dict[str, str] | None = None,
                 body: bytes = b"") -> httpx.Response:
        path = f"{self.base}/{self.bucket}" + (f"/{key}" if key is not None else "")
        query = query or {}
        headers = sign(method=method, path=path, query=query, headers={"host": self.host},
                       payload=body, access_key=self.access_key, secret_key=self._secret,
                       region=self.region, amz_date=self._clock())
        headers.pop("host")  # httpx sends the same Host itself
        url = self.endpoint + uri_encode(path, slash=False)
        if query:
            url += "?" + canonical_query(query)
        try:
            return self._client.request(method, url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise S3Error(f"S3 {method} {url}: {exc}", status=0, code="Unreachable") from exc

    def _fail(self, what: str, response: httpx.Response) -> S3Error:
        fields = _xml(response.content)
        code = (fields.get("Code") or [""])[0] or (  # a HEAD's answer has no body
            response.reason_phrase.replace(" ", "") or f"HTTP{response.status_code}")
        message = (fields.get("Message") or [""])[0]
        hint = (" (check recording.s3.access_key and secret_key)"
                if response.status_code == 403 else "")
        return S3Error(f"S3 {what} in bucket {self.bucket!r} refused: {response.status_code} "
                       f"{code}{': ' + message if message else ''}{hint}",
                       status=response.status_code, code=code)

    def names(self) -> list[str]:
        found: list[str] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": self.prefix}
            if token:
                query["continuation-token"] = token
            response = self._request("GET", None, query=query)
            if response.status_code != 200:
                raise self._fail("list", response)
            fields = _xml(response.content)
            for key in fields.get("Key", []):
                name = key[len(self.prefix):]
                if key.startswith(self.prefix) and valid_name(name):
                    found.append(name)
            token = (fields.get("NextContinuationToken") or [""])[0]
            if (fields.get("IsTruncated") or ["false"])[0] != "true" or not token:
                return sorted(found)

    def read(self, name: str) -> bytes:
        response = self._request("GET", self._key(name))
        if response.status_code == 404:
            raise FileNotFoundError(f"no recording object {name!r} in bucket {self.bucket!r}")
        if response.status_code != 200:
            raise self._fail(f"GET {name}", response)
        return response.content

    def write(self, name: str, data: bytes) -> None:
        response = self._request("PUT", self._key(name), body=data)
        if response.status_code != 200:
            raise self._fail(f"PUT {name}", response)

    def exists(self, name: str) -> bool:
        response = self._request("HEAD", self._key(name))
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise self._fail(f"HEAD {name}", response)
        return True

    def delete(self, name: str) -> bool:
        if not self.exists(name):  # S3's DELETE answers 204 whether or not it was there
            return False
        response = self._request("DELETE", self._key(name))
        if response.status_code not in {200, 204}:
            raise self._fail(f"DELETE {name}", response)
        return True
