"""``S3Store`` beyond the contract (``test_store_contract.py`` runs it too): a wrong key is
refused by the SigV4-verifying stand-in (``s3_standin.py``) with a clear error and the
recordings stay readable; ``recording.store = "s3"`` from the settings; a recorded call's
objects move to the bucket and play back from there."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from s3_standin import S3Standin
from test_recording_calls import CALL_ID, TIMEOUT, runtime, start, until

from callport.config import ConfigError, load_settings
from callport.recording.crypt import load_key
from callport.recording.listing import recordings
from callport.recording.run import open_recording, recording_store
from callport.recording.s3 import S3Error, S3Store
from callport.recording.sigv4 import sign

ACCESS, SECRET, BUCKET, REGION = "AKIDCALLPORT", "s3cr3t/key", "calls", "eu-west-1"


@pytest.fixture
def standin() -> Iterator[S3Standin]:
    with S3Standin(access_key=ACCESS, secret_key=SECRET, bucket=BUCKET, region=REGION) as s3:
        yield s3


def s3store(standin: S3Standin, *, secret: str = SECRET, access: str = ACCESS) -> S3Store:
    return S3Store(endpoint=standin.endpoint, bucket=BUCKET, region=REGION, access_key=access,
                   secret_key=secret, prefix="rec/")


def test_a_wrong_secret_is_refused_and_the_recordings_stay_readable(
        standin: S3Standin) -> None:
    good = s3store(standin)
    good.write("rec-1.json", b'{"id": "rec-1"}')
    bad = s3store(standin, secret="not-the-secret")
    with pytest.raises(S3Error) as put:
        bad.write("rec-1.json", b"overwritten")
    assert put.value.status == 403 and put.value.code == "SignatureDoesNotMatch"
    assert "PUT rec-1.json" in str(put.value) and "secret_key" in str(put.value)
    for refused in (lambda: bad.read("rec-1.json"), bad.names):
        with pytest.raises(S3Error, match="403 SignatureDoesNotMatch: The request signature"):
            refused()
    for head in (bad.delete, bad.exists):
        with pytest.raises(S3Error, match=r"HEAD rec-1\.json .* 403 Forbidden"):  # no body
            head("rec-1.json")
    assert standin.refused == 5
    assert good.read("rec-1.json") == b'{"id": "rec-1"}' and good.names() == ["rec-1.json"]


def test_listing_pages_and_keys_needing_encoding() -> None:
    """ListObjectsV2 pages (continuation tokens) and a prefix with a space and ``+`` (URI-
    encoded in the path and the query, signed as encoded)."""
    with S3Standin(access_key=ACCESS, secret_key=SECRET, bucket=BUCKET, region=REGION,
                   page=2) as standin:
        store = S3Store(endpoint=standin.endpoint, bucket=BUCKET, region=REGION,
                        access_key=ACCESS, secret_key=SECRET, prefix="site a/+x/")
        names = [f"rec-{i}.json" for i in range(5)]
        for name in names:
            store.write(name, name.encode())
        standin.objects["other/rec-9.json"] = b"not ours"  # outside the prefix
        assert store.names() == names and store.read("rec-3.json") == b"rec-3.json"
        assert sorted(standin.objects)[0] == "other/rec-9.json"
        assert "site a/+x/rec-0.json" in standin.objects and standin.refused == 0
        lists = [r for r in standin.requests if "list-type=2" in r]
        assert len(lists) == 3 and sum("continuation-token" in r for r in lists) == 2
        assert any("/site%20a/%2Bx/rec-0.json" in r for r in standin.requests)


def test_an_unknown_access_key_is_refused(standin: S3Standin) -> None:
    with pytest.raises(S3Error) as exc:
        s3store(standin, access="AKIDSOMEONEELSE").names()
    assert (exc.value.status, exc.value.code) == (403, "InvalidAccessKeyId")


def test_the_standin_refuses_a_body_other_than_the_signed_one(standin: S3Standin) -> None:
    """A request signed for one body and sent with another: the payload hash gives it away;
    a signature over another path is refused too (the stand-in really verifies)."""
    host = standin.endpoint.removeprefix("http://")
    headers = sign(method="PUT", path=f"/{BUCKET}/rec/rec-1.json", query={},
                   headers={"host": host}, payload=b"signed", access_key=ACCESS,
                   secret_key=SECRET, region=REGION, amz_date="20261202T000000Z")
    headers.pop("host")
    url = f"{standin.endpoint}/{BUCKET}/rec/rec-1.json"
    assert httpx.put(url, headers=headers, content=b"sent").status_code == 403
    headers["x-amz-content-sha256"] = hashlib.sha256(b"sent").hexdigest()
    refused = httpx.put(url, headers=headers, content=b"sent")
    assert refused.status_code == 403 and b"SignatureDoesNotMatch" in refused.content
    assert httpx.put(f"{standin.endpoint}/{BUCKET}/rec/rec-2.json", headers={
        **headers, "x-amz-content-sha256": hashlib.sha256(b"signed").hexdigest()},
        content=b"signed").status_code == 403  # signed for rec-1, sent to rec-2
    ok = httpx.put(url, headers={**headers, "x-amz-content-sha256":
                                 hashlib.sha256(b"signed").hexdigest()}, content=b"signed")
    assert ok.status_code == 200 and standin.objects == {"rec/rec-1.json": b"signed"}


def test_an_unreachable_endpoint_is_a_clear_error() -> None:
    store = S3Store(endpoint="http://127.0.0.1:9", bucket=BUCKET, region=REGION,
                    access_key=ACCESS, secret_key=SECRET, timeout_s=2.0)
    with pytest.raises(S3Error, match=r"S3 GET http://127\.0\.0\.1:9/calls"):
        store.names()


def test_settings_recording_s3_table_and_secret_from_env(tmp_path: Path,
                                                         standin: S3Standin) -> None:
    toml = tmp_path / "callport.toml"
    toml.write_text(f'[recording]\nstore = "s3"\n[recording.s3]\nendpoint = "{standin.endpoint}"'
                    f'\nbucket = "{BUCKET}"\nregion = "{REGION}"\naccess_key = "{ACCESS}"\n'
                    'prefix = "site-a/"\n')
    settings = load_settings(toml, env={"CALLPORT_S3_SECRET_KEY": SECRET})
    assert settings.recording.s3_secret_key == SECRET
    store = recording_store(settings)
    assert isinstance(store, S3Store) and store.prefix == "site-a/"
    store.write("rec-a.json", b"{}")
    assert standin.objects == {"site-a/rec-a.json": b"{}"}
    with pytest.raises(ConfigError, match=r"recording\.s3\.secret_key: required"):
        load_settings(toml, env={})
    with pytest.raises(ConfigError, match=r"recording\.store='disk': use local or s3"):
        load_settings(None, env={"CALLPORT_RECORDING_STORE": "disk"})
    toml.write_text('[recording]\nstore = "s3"\n[recording.s3]\nendpoint = "minio:9000"\n'
                    'bucket = "b"\naccess_key = "a"\nsecret_key = "s"\n')
    with pytest.raises(ConfigError, match=r"recording\.s3\.endpoint 'minio:9000'"):
        load_settings(toml, env={})


async def test_a_recorded_call_moves_to_the_bucket_and_plays_from_it(
        tmp_path: Path, standin: S3Standin) -> None:
    rt, tts, _calls = await runtime(
        tmp_path, [], mode="notify", store="s3", s3_endpoint=standin.endpoint,
        s3_bucket=BUCKET, s3_region=REGION, s3_access_key=ACCESS, s3_secret_key=SECRET,
        s3_prefix="rec/")
    leg, _holder, task = start(rt)
    await until(lambda: "Hello" in tts.spoken)
    await asyncio.sleep(0.5)  # some recorded audio
    leg.caller_hangup()
    await asyncio.wait_for(task, TIMEOUT)
    assert sorted(standin.objects) == [f"rec/rec-{CALL_ID}.json", f"rec/rec-{CALL_ID}.wav.enc"]
    assert not list(tmp_path.glob("rec-*"))  # noqa: ASYNC240 - moved, not copied
    assert b"RIFF" not in standin.objects[f"rec/rec-{CALL_ID}.wav.enc"]  # sealed at rest
    store = recording_store(rt.settings)
    [meta] = recordings(tmp_path, store)
    assert meta["consent"] == "implied" and meta["final"] is True
    wav, _words = open_recording(meta, tmp_path, load_key(rt.settings), store)
    assert wav[:4] == b"RIFF" and len(wav) > 44
    assert json.loads(standin.objects[f"rec/rec-{CALL_ID}.json"])["id"] == f"rec-{CALL_ID}"


async def test_a_refused_upload_keeps_the_recording_in_the_directory(
        tmp_path: Path, standin: S3Standin, caplog: pytest.LogCaptureFixture) -> None:
    rt, tts, _calls = await runtime(
        tmp_path, [], mode="notify", store="s3", s3_endpoint=standin.endpoint,
        s3_bucket=BUCKET, s3_region=REGION, s3_access_key=ACCESS, s3_secret_key="wrong",
        s3_prefix="rec/")
    leg, _holder, task = start(rt)
    await until(lambda: "Hello" in tts.spoken)
    with caplog.at_level(logging.ERROR):
        leg.caller_hangup()
        await asyncio.wait_for(task, TIMEOUT)
    assert standin.objects == {} and standin.refused >= 1
    assert (tmp_path / f"rec-{CALL_ID}.json").is_file()
    assert (tmp_path / f"rec-{CALL_ID}.wav.enc").is_file()
    assert "not moved to the store" in caplog.text and "SignatureDoesNotMatch" in caplog.text
