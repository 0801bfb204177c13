"""AWS Signature Version 4 (``callport.recording.sigv4``) against AWS's own published
examples: the S3 API reference, "Signature Calculations for the Authorization Header:
Transferring Payload in a Single Chunk" (sig-v4-header-based-auth), section "Examples:
Signature Calculations": credentials AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/
bPxRfiCYEXAMPLEKEY, bucket examplebucket, us-east-1, 20130524T000000Z."""

from __future__ import annotations

import hashlib

from callport.recording.sigv4 import (
    EMPTY_SHA256,
    canonical_query,
    canonical_request,
    scope,
    sign,
    signature,
    string_to_sign,
    uri_encode,
)

ACCESS, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HOST, WHEN = "examplebucket.s3.amazonaws.com", "20130524T000000Z"


def test_aws_get_object_example() -> None:
    """GET /test.txt with ``Range: bytes=0-9``: AWS's canonical request, string to sign and
    signature, piece by piece."""
    headers = {"Host": HOST, "Range": "bytes=0-9", "x-amz-content-sha256": EMPTY_SHA256,
               "x-amz-date": WHEN}
    canonical, signed = canonical_request("GET", "/test.txt", {}, headers, EMPTY_SHA256)
    assert canonical == ("GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
                         "range:bytes=0-9\n"
                         f"x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:{WHEN}\n\n"
                         f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}")
    assert signed == "host;range;x-amz-content-sha256;x-amz-date"
    assert string_to_sign(WHEN, scope("20130524", "us-east-1"), canonical) == (
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    assert signature(SECRET, WHEN, "us-east-1", canonical) == (
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_aws_get_object_example_through_sign() -> None:
    out = sign(method="GET", path="/test.txt", query={}, headers={"host": HOST,
               "range": "bytes=0-9"}, payload=b"", access_key=ACCESS, secret_key=SECRET,
               region="us-east-1", amz_date=WHEN)
    assert out["x-amz-content-sha256"] == EMPTY_SHA256 and out["x-amz-date"] == WHEN
    assert out["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")


def test_aws_put_object_example() -> None:
    """PUT /test$file.text ("Welcome to Amazon S3.", storage class REDUCED_REDUNDANCY): the
    ``$`` is URI-encoded in the canonical path, the payload hash is the body's."""
    body = b"Welcome to Amazon S3."
    assert hashlib.sha256(body).hexdigest() == (
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
    out = sign(method="PUT", path="/test$file.text", query={},
               headers={"host": HOST, "date": "Fri, 24 May 2013 00:00:00 GMT",
                        "x-amz-storage-class": "REDUCED_REDUNDANCY"},
               payload=body, access_key=ACCESS, secret_key=SECRET, region="us-east-1",
               amz_date=WHEN)
    assert out["Authorization"].endswith(
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")


def test_aws_list_objects_example_query() -> None:
    """GET Bucket (List Objects) ``?max-keys=2&prefix=J``: the query sorted and encoded."""
    assert canonical_query({"prefix": "J", "max-keys": "2"}) == "max-keys=2&prefix=J"
    out = sign(method="GET", path="/", query={"max-keys": "2", "prefix": "J"},
               headers={"host": HOST}, payload=b"", access_key=ACCESS, secret_key=SECRET,
               region="us-east-1", amz_date=WHEN)
    assert out["Authorization"].endswith(
        "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")


def test_uri_encoding_keeps_only_unreserved() -> None:
    assert uri_encode("a b/c+d=~_-.") == "a%20b%2Fc%2Bd%3D~_-."
    assert uri_encode("/site a/rec-1.json", slash=False) == "/site%20a/rec-1.json"
    assert canonical_query({"prefix": "site-a/", "list-type": "2"}) == (
        "list-type=2&prefix=site-a%2F")
