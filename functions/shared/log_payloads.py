"""Step input and output as they go into a log record: inline when small, else an S3 reference.

A log line is no place for a 200 KB document (CloudWatch caps an event at 256 KB and bills every
byte), so anything larger than ``INLINE_LIMIT_BYTES`` serialized goes to the audit bucket under
``logs/<trace>/<step>/<attempt>-<invocation>-<input|output>.json`` and the record carries the reference,
size and sha256. The invocation id (the Lambda request id) keeps Map iterations and states that
share one step Lambda from overwriting each other. Logging never fails a step: if the object cannot
be written, the record gets a marked, truncated preview instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from functions.shared.adapters.errors import error_code
from functions.shared.aws import client
from functions.shared.config import settings

INLINE_LIMIT_BYTES = 8 * 1024
#: Where the payloads go in the audit bucket: every step function may put objects here, and only here
#: unless it names ``Resource.AUDIT_BUCKET`` (``infra/storage.py``, ``Storage.grant_log_payloads``).
LOGS_PREFIX = "logs/"
PREVIEW_BYTES = 1024
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]")

PayloadKind = Literal["input", "output"]


def logs_key(trace_id: str, step: str, attempt: int, invocation: str, kind: PayloadKind) -> str:
    """``logs/<trace>/<step>/<attempt>-<invocation>-<kind>.json`` with unsafe characters as ``_``."""
    trace, step_part, invocation_part = (
        _UNSAFE_KEY_CHARS.sub("_", part) or "_" for part in (trace_id, step, invocation)
    )
    return f"{LOGS_PREFIX}{trace}/{step_part}/{attempt}-{invocation_part}-{kind}.json"


def loggable(
    value: Any, *, trace_id: str, step: str, attempt: int, invocation: str, kind: PayloadKind
) -> Any:
    """``value`` itself when its JSON is small, else ``{"s3_ref", "bytes", "sha256"}``."""
    body = json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(body) <= INLINE_LIMIT_BYTES:
        return value
    described: dict[str, Any] = {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    bucket = settings().audit_bucket
    key = logs_key(trace_id, step, attempt, invocation, kind)
    try:
        client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except Exception as exc:  # a log reference must never fail the step
        code = error_code(exc)  # "" for anything but a ClientError (timeouts carry response=None)
        return {
            **described,
            "truncated": True,
            "ref_error": code or type(exc).__name__,
            "preview": body[:PREVIEW_BYTES].decode("utf-8", errors="replace"),
        }
    return {"s3_ref": f"s3://{bucket}/{key}", **described}
