"""File store port: the same scenarios against S3FileStore (on moto) and InMemoryFileStore."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from pydantic import BaseModel

from functions.shared.adapters import get_audit_files, get_files
from functions.shared.adapters.memory import InMemoryFileStore
from functions.shared.adapters.s3_files import S3FileStore
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import PermanentIntegrationError, TransientIntegrationError
from functions.shared.ports.files import FileStore, sha256_text

BUCKET = "stepwise-files"  # the settings default, used by both implementations here


class Draft(BaseModel):
    subject: str
    words: int


@pytest.fixture(params=["s3", "memory"])
def files(request: pytest.FixtureRequest) -> FileStore:
    """Each scenario runs against both implementations: the fake must behave like the adapter."""
    if request.param == "s3":
        request.getfixturevalue("moto_aws")
        assert settings().files_bucket == BUCKET
        return S3FileStore(bucket=BUCKET)
    return InMemoryFileStore(bucket=BUCKET)


def test_text_round_trip(files: FileStore) -> None:
    # Given UTF-8 text with non-ASCII characters
    text = "Notes on Ada — café, naïve, 数学\n"

    # When it is stored and read back
    ref = files.put_text("notes/c-1.txt", text)

    # Then the reference is an s3:// URI and the text is unchanged
    assert ref == f"s3://{BUCKET}/notes/c-1.txt"
    assert files.get_text("notes/c-1.txt") == text
    assert isinstance(files, FileStore)


def test_json_round_trip_including_models(files: FileStore) -> None:
    # Given a JSON-able object that contains a pydantic model
    obj: dict[str, Any] = {"draft": Draft(subject="Hi", words=3), "tags": ["a", "ü"], "n": 1.5, "ok": None}

    # When it is stored as JSON and read back
    ref = files.put_json("audit/run-1/draft/0.json", obj)

    # Then the model was dumped in JSON mode and the rest is unchanged
    assert ref == f"s3://{BUCKET}/audit/run-1/draft/0.json"
    assert files.get_json("audit/run-1/draft/0.json") == {
        "draft": {"subject": "Hi", "words": 3},
        "tags": ["a", "ü"],
        "n": 1.5,
        "ok": None,
    }


def test_missing_key_is_a_permanent_error_naming_the_key(files: FileStore) -> None:
    # Given an empty bucket
    # When / Then reading a missing key fails for good, naming the key
    with pytest.raises(PermanentIntegrationError, match=r"notes/missing\.txt"):
        files.get_text("notes/missing.txt")
    with pytest.raises(PermanentIntegrationError, match=r"notes/missing\.json"):
        files.get_json("notes/missing.json")


def test_invalid_json_is_a_permanent_error_without_the_content(files: FileStore) -> None:
    # Given an object that is not JSON
    files.put_text("bad.json", "secret text {")

    # When / Then reading it as JSON fails, naming the key but not the content
    with pytest.raises(PermanentIntegrationError, match=r"bad\.json is not valid JSON") as raised:
        files.get_json("bad.json")
    assert "secret" not in str(raised.value)


def test_exists_and_delete(files: FileStore) -> None:
    # Given one stored object
    files.put_text("a.txt", "a")

    # When it is deleted (twice: deleting a missing key is fine)
    existed = files.exists("a.txt")
    files.delete("a.txt")
    files.delete("a.txt")

    # Then it no longer exists
    assert existed is True
    assert files.exists("a.txt") is False


def test_put_text_overwrites(files: FileStore) -> None:
    # Given a stored object
    files.put_text("k.txt", "one")

    # When the same key is written again
    files.put_text("k.txt", "two")

    # Then the new text is read
    assert files.get_text("k.txt") == "two"


@pytest.mark.parametrize("key", ["", "/absolute.txt", "x" * 1025])
def test_invalid_keys_are_refused(files: FileStore, key: str) -> None:
    # Given / When / Then
    with pytest.raises(ValueError, match="invalid file key"):
        files.put_text(key, "text")


def test_sha256_text_is_hex_sha256_of_utf8() -> None:
    # Given / When / Then: the FIPS 180-2 "abc" vector, and UTF-8 encoding for non-ASCII text
    assert sha256_text("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_text("é") == hashlib.sha256(b"\xc3\xa9").hexdigest()


# -- S3 specifics ----------------------------------------------------------------------------------


def test_s3_stores_the_content_type(moto_aws: None) -> None:
    # Given a JSON object and a text object written to S3
    files = S3FileStore(bucket=BUCKET)
    files.put_json("o.json", {"a": 1})
    files.put_text("o.md", "# hi", content_type="text/markdown; charset=utf-8")

    # When their metadata is read
    s3 = client("s3")

    # Then each has its content type
    assert s3.head_object(Bucket=BUCKET, Key="o.json")["ContentType"] == "application/json"
    assert s3.head_object(Bucket=BUCKET, Key="o.md")["ContentType"] == "text/markdown; charset=utf-8"


def test_s3_slowdown_is_a_transient_error(moto_aws: None) -> None:
    # Given S3 asks the next caller to slow down
    files = S3FileStore(bucket=BUCKET)
    with Stubber(client("s3")) as stub:
        stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)

        # When / Then the read fails with a retryable error naming the object
        with pytest.raises(
            TransientIntegrationError, match=rf"^files.get_text s3://{BUCKET}/a.txt: SlowDown"
        ):
            files.get_text("a.txt")


def test_s3_access_denied_is_a_permanent_error(moto_aws: None) -> None:
    # Given S3 denies access on the next call
    files = S3FileStore(bucket=BUCKET)
    with Stubber(client("s3")) as stub:
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)

        # When / Then exists() does not pretend the object is missing
        with pytest.raises(PermanentIntegrationError, match=r"^files.exists "):
            files.exists("a.txt")


class _EmptyBody:
    def stream(self, **_: Any) -> Any:
        return iter([b""])


def _s3_without_list_bucket(request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
    """What real S3 does and moto does not: a caller without ``s3:ListBucket`` gets 403 (an empty
    HEAD response) for a key that does not exist, so as not to tell it which keys exist. Existing
    keys are left to moto (``s3:GetObject`` suffices for them)."""
    url = urlsplit(request.url)
    path = unquote(url.path).lstrip("/")  # virtual-hosted (bucket in the host) or path-style
    key = path if url.netloc.startswith(f"{BUCKET}.") else path.removeprefix(f"{BUCKET}/")
    try:
        boto3.client("s3", region_name="us-east-1").head_object(Bucket=BUCKET, Key=key)
    except Exception:  # the key is missing: S3 will not say so to this caller
        return AWSResponse(request.url, 403, {}, _EmptyBody())
    return None


@pytest.mark.parametrize("may_list", [True, False], ids=["with-ListBucket", "without-ListBucket"])
def test_a_missing_key_is_false_only_when_the_role_may_list_the_bucket(
    moto_aws: None, may_list: bool
) -> None:
    # Given a bucket with one object, read by a role with or without s3:ListBucket on the bucket
    files = S3FileStore(bucket=BUCKET)
    files.put_text("drafts/run-1/body.txt", "Hello")
    if not may_list:
        client("s3").meta.events.register("before-send.s3.HeadObject", _s3_without_list_bucket)

    # When / Then an existing key exists either way
    assert files.exists("drafts/run-1/body.txt") is True
    if may_list:
        # ... and a missing one is False (S3 may say 404)
        assert files.exists("drafts/run-2/body.txt") is False
    else:
        # ... but without ListBucket S3 answers 403 for a missing key: exists() raises rather than
        # guess (a 403 can also mean a real denial), naming the object; infra grants ListBucket
        with pytest.raises(
            PermanentIntegrationError, match=rf"^files.exists s3://{BUCKET}/drafts/run-2/body.txt: 403"
        ):
            files.exists("drafts/run-2/body.txt")


def test_unreachable_s3_is_a_transient_error(moto_aws: None) -> None:
    # Given the S3 endpoint cannot be reached
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://s3.amazonaws.com")

    client("s3").meta.events.register("before-send.s3.PutObject", unreachable)

    # When / Then writing fails with a retryable error
    with pytest.raises(TransientIntegrationError, match=r"EndpointConnectionError"):
        S3FileStore(bucket=BUCKET).put_text("a.txt", "a")


def test_factories_use_the_configured_buckets(moto_aws: None) -> None:
    # Given / When the file stores are built from settings
    files, audit = get_files(), get_audit_files()

    # Then each is an S3 store on its bucket, built once
    assert isinstance(files, S3FileStore)
    assert isinstance(audit, S3FileStore)
    assert (files.bucket, audit.bucket) == (settings().files_bucket, settings().audit_bucket)
    assert get_files() is files
