"""Where every prompt and raw model response is kept, so a run's LLM decisions can be inspected later.

State carries only the ``audit_ref`` and a hash; the large text lives here.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from functions.shared.aws import client

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]")


def audit_key(trace_id: str, step: str, attempt: int, item: str | None = None) -> str:
    """``audit/<trace_id>/<step>/<attempt>[-<item>].json``; characters outside ``[A-Za-z0-9._=-]`` → ``_``.

    ``item`` tells apart the calls one step attempt makes per item (e.g. one per appointment), which
    would otherwise overwrite each other's record.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    parts = [_UNSAFE_KEY_CHARS.sub("_", part) for part in (trace_id, step)]
    if any(part in {"", ".", ".."} for part in parts):
        raise ValueError(f"invalid audit key parts: trace_id={trace_id!r} step={step!r}")
    suffix = ""
    if item is not None:
        if not item:
            raise ValueError("item must not be empty")
        suffix = "-" + _UNSAFE_KEY_CHARS.sub("_", item)
    return f"audit/{parts[0]}/{parts[1]}/{attempt}{suffix}.json"


def encode_record(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, default=str, ensure_ascii=False, indent=1).encode("utf-8")


class AuditStore(Protocol):
    """Stores one JSON record per LLM call."""

    @property
    def bucket(self) -> str: ...

    def put(self, key: str, record: Mapping[str, Any]) -> str:
        """Store ``record`` at ``key``; return its reference ``s3://<bucket>/<key>``."""
        ...

    def get(self, key: str) -> dict[str, Any]:
        """The record at ``key`` (or at a full ``s3://`` reference)."""
        ...


def _key_of(bucket: str, key_or_ref: str) -> str:
    prefix = f"s3://{bucket}/"
    return key_or_ref.removeprefix(prefix)


class S3AuditStore:
    """Audit records as S3 objects (the bucket's default encryption applies)."""

    def __init__(self, bucket: str, s3_client: Any | None = None) -> None:
        self._bucket = bucket
        self._s3 = s3_client

    @property
    def bucket(self) -> str:
        return self._bucket

    def _client(self) -> Any:
        # Resolved on use, not at construction, so moto / reset_clients() apply.
        return self._s3 if self._s3 is not None else client("s3")

    def put(self, key: str, record: Mapping[str, Any]) -> str:
        self._client().put_object(
            Bucket=self._bucket, Key=key, Body=encode_record(record), ContentType="application/json"
        )
        return f"s3://{self._bucket}/{key}"

    def get(self, key: str) -> dict[str, Any]:
        obj = self._client().get_object(Bucket=self._bucket, Key=_key_of(self._bucket, key))
        loaded: dict[str, Any] = json.loads(obj["Body"].read())
        return loaded


class InMemoryAuditStore:
    """Audit records in a dict, for unit tests. Thread-safe."""

    def __init__(self, bucket: str = "stepwise-audit") -> None:
        self._bucket = bucket
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def bucket(self) -> str:
        return self._bucket

    def put(self, key: str, record: Mapping[str, Any]) -> str:
        body = encode_record(record)
        with self._lock:
            self._objects[key] = body
        return f"s3://{self._bucket}/{key}"

    def get(self, key: str) -> dict[str, Any]:
        with self._lock:
            body = self._objects[_key_of(self._bucket, key)]
        loaded: dict[str, Any] = json.loads(body)
        return loaded

    def raw(self, key: str) -> bytes:
        """The stored bytes, e.g. to check that a secret never reached the audit trail."""
        with self._lock:
            return self._objects[_key_of(self._bucket, key)]

    def keys(self) -> list[str]:
        with self._lock:
            return sorted(self._objects)
