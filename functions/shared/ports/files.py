"""File store port: small text and JSON objects by key (notes, drafts, LLM audit records).

Adapters: ``functions.shared.adapters.s3_files.S3FileStore`` and ``memory.InMemoryFileStore``.
Both return ``s3://<bucket>/<key>`` references, which is what workflow state carries.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol, runtime_checkable

from functions.shared.errors import PermanentIntegrationError

DEFAULT_TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 encoding of ``text`` (the hash stored next to a reference)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_key(key: str) -> str:
    """Reject keys that S3 would mangle or refuse: empty, leading "/", over 1024 bytes."""
    if not key or key.startswith("/") or len(key.encode("utf-8")) > 1024:
        raise ValueError(f"invalid file key {key!r}")
    return key


def dumps_json(obj: object) -> str:
    """Stable JSON (sorted keys, UTF-8 kept); pydantic models are dumped in JSON mode."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, default=_json_default)


def _json_default(value: object) -> Any:
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def loads_json(text: str, *, uri: str) -> Any:
    """Parse a stored object; invalid JSON is a ``PermanentIntegrationError`` naming the object only."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PermanentIntegrationError(f"files.get_json: {uri} is not valid JSON ({exc.msg})") from exc


@runtime_checkable
class FileStore(Protocol):
    def get_text(self, key: str) -> str:
        """The object's text; a missing key raises ``PermanentIntegrationError`` naming the key."""
        ...

    def put_text(self, key: str, text: str, *, content_type: str = DEFAULT_TEXT_CONTENT_TYPE) -> str:
        """Store (overwrite) and return ``s3://<bucket>/<key>``."""
        ...

    def put_json(self, key: str, obj: object) -> str:
        """Store ``obj`` as JSON (pydantic models are dumped in JSON mode); returns the reference."""
        ...

    def get_json(self, key: str) -> Any:
        """Parsed JSON; missing key or invalid JSON raises ``PermanentIntegrationError``."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        ...
