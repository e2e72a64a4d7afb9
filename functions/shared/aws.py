"""Lazily built, cached boto3 clients: the only place a step creates one.

Built on first use (never at import), so tests and the local runtime can set up moto and the
environment first; ``reset_clients()`` drops them when that environment changes. The region is part
of the cache key, so one process can hold clients for several regions (the local runtime keeps its
clients from one runtime to the next: building one costs ~10 ms, and moto intercepts any client).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

# Step Functions owns retries (per error type, in the ASL); the SDK's own retry stays small.
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5, read_timeout=20)


def client(service_name: str) -> Any:
    """A boto3 client for ``service_name`` in the function's region."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return _client(service_name, region)


@lru_cache(maxsize=64)
def _client(service_name: str, region: str) -> Any:
    return boto3.client(service_name, region_name=region, config=_BOTO_CONFIG)


def reset_clients() -> None:
    _client.cache_clear()
