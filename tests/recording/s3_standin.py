"""A protocol-exact S3 stand-in on loopback: one bucket in memory behind path-style URLs.

Every request must carry a valid AWS Signature Version 4 ``Authorization`` header made with
the stand-in's access key and secret; the stand-in verifies it on its own (its canonical
request is rebuilt from the raw request line here, not with ``callport.recording.sigv4``),
checks ``x-amz-content-sha256`` against the body, and answers a bad one with 403 and S3's
``SignatureDoesNotMatch`` XML. It serves what ``S3Store`` uses: PUT, GET, HEAD and DELETE
of an object and ListObjectsV2 (``list-type=2``, ``prefix``, ``max-keys``, continuation).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request,"
                   r"\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$")
_NS = "http://s3.amazonaws.com/doc/2006-03-01/"


def _error(code: str, message: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error>").encode()


def _mac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class S3Standin:
    """``with S3Standin(access_key=..., secret_key=..., bucket=...) as s3: s3.endpoint``."""

    def __init__(self, *, access_key: str, secret_key: str, bucket: str,
                 region: str = "us-east-1", page: int = 1000) -> None:
        self.access_key, self.secret_key, self.bucket, self.region = (
            access_key, secret_key, bucket, region)
        self.page = page  # keys per ListObjectsV2 page (small to exercise continuation)
        self.objects: dict[str, bytes] = {}
        self.refused = 0  # requests answered 403
        self.requests: list[str] = []  # "METHOD path?query"
        self._lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                standin._handle(self)

            do_GET = do_PUT = do_HEAD = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)  # a short poll: a quick shutdown

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> S3Standin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- the protocol -----------------------------------------------------------------

    def _verify(self, req: BaseHTTPRequestHandler, body: bytes) -> str:
        """'' when the signature is good, else why not."""
        found = _AUTH.match(req.headers.get("Authorization", ""))
        if not found:
            return "no AWS4-HMAC-SHA256 Authorization header"
        access, date, region, signed, given = found.groups()
        if access != self.access_key:
            return "unknown access key"
        amz_date = req.headers.get("x-amz-date", "")
        if region != self.region or not amz_date.startswith(date):
            return "credential scope does not match"
        payload_hash = req.headers.get("x-amz-content-sha256", "")
        if payload_hash != hashlib.sha256(body).hexdigest():
            return "x-amz-content-sha256 does not match the body"
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names:
            return "host and x-amz-date must be signed"
        raw = urlsplit(req.path)
        pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~"))
                       for k, v in parse_qsl(raw.query, keep_blank_values=True))
        headers = "".join(f"{n}:{' '.join(str(req.headers.get(n, '')).split())}\n"
                          for n in names)
        canonical = "\n".join([req.command, raw.path, "&".join(f"{k}={v}" for k, v in pairs),
                               headers, signed, payload_hash])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date,
                             f"{date}/{region}/s3/aws4_request",
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = _mac(_mac(_mac(_mac(("AWS4" + self.secret_key).encode(), date), region), "s3"),
                   "aws4_request")
        if not hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(),
                                   given):
            return ("The request signature we calculated does not match the signature you "
                    "provided. Check your key and signing method.")
        return ""

    def _answer(self, req: BaseHTTPRequestHandler, status: int, body: bytes = b"",
                kind: str = "application/xml") -> None:
        req.send_response(status)
        req.send_header("Content-Type", kind)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(body)

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        self.requests.append(f"{req.command} {req.path}")
        why = self._verify(req, body)
        if why:
            self.refused += 1
            code = "InvalidAccessKeyId" if why == "unknown access key" else "SignatureDoesNotMatch"
            self._answer(req, 403, _error(code, why))
            return
        raw = urlsplit(req.path)
        bucket, _, key = unquote(raw.path).lstrip("/").partition("/")
        if bucket != self.bucket:
            self._answer(req, 404, _error("NoSuchBucket", "The specified bucket does not exist"))
            return
        with self._lock:
            if not key and req.command == "GET":
                self._list(req, dict(parse_qsl(raw.query, keep_blank_values=True)))
            elif key and req.command == "PUT":
                self.objects[key] = body
                self._answer(req, 200)
            elif key and req.command in {"GET", "HEAD"}:
                if key not in self.objects:
                    self._answer(req, 404, _error("NoSuchKey", "The specified key does not exist."))
                else:
                    self._answer(req, 200, self.objects[key], "application/octet-stream")
            elif key and req.command == "DELETE":
                self.objects.pop(key, None)
                self._answer(req, 204)
            else:
                self._answer(req, 400, _error("InvalidRequest", "not served by the stand-in"))

    def _list(self, req: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        if query.get("list-type") != "2":
            self._answer(req, 400, _error("InvalidRequest", "only ListObjectsV2"))
            return
        prefix = query.get("prefix", "")
        keys = sorted(k for k in self.objects if k.startswith(prefix))
        start = query.get("continuation-token", "")
        keys = [k for k in keys if k > start] if start else keys
        page = keys[:min(self.page, int(query.get("max-keys", "1000")))]
        truncated = len(keys) > len(page)
        items = "".join(f"<Contents><Key>{escape(k)}</Key><Size>{len(self.objects[k])}</Size>"
                        "</Contents>" for k in page)
        more = (f"<NextContinuationToken>{escape(page[-1])}</NextContinuationToken>"
                if truncated else "")
        xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="{_NS}">'
               f"<Name>{self.bucket}</Name><Prefix>{escape(prefix)}</Prefix>"
               f"<KeyCount>{len(page)}</KeyCount><IsTruncated>{str(truncated).lower()}"
               f"</IsTruncated>{more}{items}</ListBucketResult>")
        self._answer(req, 200, xml.encode())
