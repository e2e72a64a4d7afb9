"""Builds the process-wide LLM client: the real API when a key is configured, else the offline model.

Both paths use the same ``anthropic.Anthropic`` class; only the HTTP transport differs, so offline runs
exercise the same SDK code (retries, parsing, errors) as the cloud.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from functions.shared.aws import client
from functions.shared.config import LOCAL_STAGE, settings
from functions.shared.ledger import get_run_ledger
from functions.shared.llm.audit import S3AuditStore
from functions.shared.llm.client import LLMClient
from functions.shared.llm.settings import LLMSettings, llm_settings

if TYPE_CHECKING:
    import anthropic

log = logging.getLogger(__name__)

#: Sent to the offline transport only; it never leaves the process.
OFFLINE_API_KEY = "sk-ant-offline-not-a-real-key"
_SECRET_JSON_FIELDS = ("ANTHROPIC_API_KEY", "anthropic_api_key", "api_key")
#: What the stack's Anthropic secret holds until the real key is stored (infra/storage.py; CloudFormation
#: adds one random, unused field): an empty key, which is "no key configured", never a key to send.
SECRET_PLACEHOLDER = '{"api_key": ""}'  # noqa: S105 - an empty placeholder, no secret


class LLMConfigurationError(RuntimeError):
    """The key is configured but cannot be obtained: never fall back to the offline model silently."""


def api_key_from_secret_string(secret: str) -> str:
    """The API key in a secret's value: a plain string, or JSON with an ``api_key`` field ("" if none).

    ``python -m local preflight`` reads the deployed secret with this same function.
    """
    value = secret.strip()
    if value.startswith("{"):
        try:
            fields = json.loads(value)
        except ValueError:
            fields = {}
        if not isinstance(fields, dict):
            return ""
        value = next((str(fields[name]) for name in _SECRET_JSON_FIELDS if fields.get(name)), "")
    return value


@lru_cache(maxsize=4)
def _secret_api_key(secret_arn: str) -> str:
    """The API key stored in Secrets Manager (a plain string, or JSON with an ``api_key`` field)."""
    secret = client("secretsmanager").get_secret_value(SecretId=secret_arn).get("SecretString") or ""
    value = api_key_from_secret_string(secret)
    if not value:
        raise LLMConfigurationError(
            f"the secret {secret_arn} (STEPWISE_ANTHROPIC_SECRET_ARN) holds no Anthropic API key; store"
            f" one with: aws secretsmanager put-secret-value --secret-id {secret_arn}"
            """ --secret-string '{"api_key": "sk-ant-..."}'"""
        )
    return value


def resolve_api_key(config: LLMSettings) -> str | None:
    """The key from ``ANTHROPIC_API_KEY``, else from Secrets Manager, else ``None`` (offline)."""
    if config.force_offline:
        return None
    if config.anthropic_api_key is not None and config.anthropic_api_key.get_secret_value():
        return config.anthropic_api_key.get_secret_value()
    if config.anthropic_secret_arn:
        return _secret_api_key(config.anthropic_secret_arn)
    return None


def build_anthropic(config: LLMSettings) -> tuple[anthropic.Anthropic, bool]:
    """The SDK client and whether it is offline.

    The SDK (~0.9 s) and the offline transport are imported here, on the first call, not when a step
    module is imported: a cold start pays for them only in a step that really calls the model.
    """
    import anthropic

    api_key = resolve_api_key(config)
    stage = settings().stage
    if api_key is None and not config.force_offline and stage != LOCAL_STAGE:
        # Fail closed: in the cloud the offline model is never a silent stand-in for a missing key.
        raise LLMConfigurationError(
            f"stage {stage!r}: no Anthropic API key (STEPWISE_ANTHROPIC_SECRET_ARN is not set); the stack"
            " sets it to its Anthropic secret, or set STEPWISE_LLM_FORCE_OFFLINE=true for the offline model"
        )
    if api_key is not None:
        real = anthropic.Anthropic(
            api_key=api_key, max_retries=config.sdk_max_retries, timeout=config.timeout_seconds
        )
        return real, False
    import httpx2

    from functions.shared.llm.offline import offline_model

    transport = httpx2.MockTransport(offline_model().handle)
    offline = anthropic.Anthropic(
        api_key=OFFLINE_API_KEY,
        max_retries=config.sdk_max_retries,
        timeout=config.timeout_seconds,
        http_client=httpx2.Client(transport=transport, timeout=config.timeout_seconds),
    )
    return offline, True


@lru_cache(maxsize=1)
def get_llm_client() -> LLMClient:
    """The cached client for this process (built on first use, not at import)."""
    config = llm_settings()
    sdk, offline = build_anthropic(config)
    log.info("LLM client ready", extra={"model": config.model, "offline": offline})
    stepwise = settings()
    return LLMClient(
        sdk, S3AuditStore(stepwise.audit_bucket), config, ledger=get_run_ledger(), budgets=stepwise.budgets
    )


def reset_llm_client() -> None:
    """Forget the client, the LLM settings and the cached secret (tests, environment changes)."""
    get_llm_client.cache_clear()
    llm_settings.cache_clear()
    _secret_api_key.cache_clear()
