"""File store adapter on S3: one bucket, UTF-8 text and JSON objects."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.shared.adapters.errors import aws_errors, error_code, map_client_error
from functions.shared.aws import client
from functions.shared.errors import PermanentIntegrationError
from functions.shared.ports.files import (
    DEFAULT_TEXT_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    check_key,
    dumps_json,
    loads_json,
)

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class S3FileStore:
    """``FileStore`` on one S3 bucket (``settings().files_bucket`` in the factory)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def get_text(self, key: str) -> str:
        check_key(key)
        try:
            response = client("s3").get_object(Bucket=self.bucket, Key=key)
            body: bytes = response["Body"].read()
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND_CODES:
                raise PermanentIntegrationError(f"files.get_text: no object at {self.uri(key)}") from exc
            raise map_client_error(exc, operation=f"files.get_text {self.uri(key)}") from exc
        except BotoCoreError as exc:
            raise map_client_error(exc, operation=f"files.get_text {self.uri(key)}") from exc
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PermanentIntegrationError(f"files.get_text: {self.uri(key)} is not UTF-8 text") from exc

    def put_text(self, key: str, text: str, *, content_type: str = DEFAULT_TEXT_CONTENT_TYPE) -> str:
        check_key(key)
        with aws_errors(f"files.put_text {self.uri(key)}"):
            client("s3").put_object(
                Bucket=self.bucket, Key=key, Body=text.encode("utf-8"), ContentType=content_type
            )
        return self.uri(key)

    def put_json(self, key: str, obj: object) -> str:
        return self.put_text(key, dumps_json(obj), content_type=JSON_CONTENT_TYPE)

    def get_json(self, key: str) -> Any:
        return loads_json(self.get_text(key), uri=self.uri(key))

    def exists(self, key: str) -> bool:
        """Whether ``key`` holds an object (``HeadObject``).

        S3 says 404 for a missing key only to a caller that may ``s3:ListBucket`` the bucket; to one
        that may not, it says 403 so as not to reveal which keys exist. A 403 is not read as "missing"
        (it is also what a real denial looks like): it raises ``PermanentIntegrationError`` naming
        the object. The stack grants ``s3:ListBucket`` to every reader of the files bucket
        (``infra/storage.py``, ``Storage.grant_files_read``); moto always answers 404, so
        ``tests/unit/test_adapters_files.py`` models the 403.
        """
        check_key(key)
        try:
            client("s3").head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in _NOT_FOUND_CODES:
                return False
            raise map_client_error(exc, operation=f"files.exists {self.uri(key)}") from exc
        except BotoCoreError as exc:
            raise map_client_error(exc, operation=f"files.exists {self.uri(key)}") from exc
        return True

    def delete(self, key: str) -> None:
        check_key(key)
        with aws_errors(f"files.delete {self.uri(key)}"):
            client("s3").delete_object(Bucket=self.bucket, Key=key)
