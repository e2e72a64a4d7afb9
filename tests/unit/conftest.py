"""Unit-test fixture: a plain moto account with the resources CDK deploys (no state machines)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from functions.shared.adapters import reset_adapters
from functions.shared.aws import reset_clients
from functions.shared.config import settings
from local.resources import create_resources


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials + ``mock_aws()`` with every table, both buckets, the key and a verified sender."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    settings.cache_clear()
    reset_clients()
    reset_adapters()
    with mock_aws():
        create_resources(settings())
        yield
    reset_adapters()
    reset_clients()
    settings.cache_clear()
