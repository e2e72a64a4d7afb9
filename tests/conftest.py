"""Fixtures every test may use: no network, no real API key, a fresh local AWS per scenario."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.runtime import LocalRuntime
from tests import asl_coverage


def pytest_configure(config: pytest.Config) -> None:
    """The ASL path-coverage gate records every run any test makes (see ``tests/asl_coverage.py``)."""
    asl_coverage.register(config)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never reach Anthropic: without a key the LLM client uses the offline model."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("STEPWISE_ANTHROPIC_SECRET_ARN", raising=False)
    from functions.shared.llm.offline import offline_model

    offline_model().reset()
    yield
    offline_model().reset()


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    """A fresh moto account with every workflow deployed and the demo CRM seeded."""
    with LocalRuntime() as local_runtime:
        yield local_runtime
