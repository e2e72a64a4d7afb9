"""LLM configuration, read once from the environment (``STEPWISE_LLM_*``).

Kept apart from ``functions.shared.config`` so that only the steps that call the model pay for it.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class LLMSettings(BaseSettings):
    """Model, limits and credentials of the LLM client."""

    model_config = SettingsConfigDict(
        env_prefix="STEPWISE_LLM_", extra="ignore", frozen=True, populate_by_name=True
    )

    model: str = "claude-sonnet-4-6"
    max_tokens: int = Field(default=1024, gt=0)
    #: Kept for configuration compatibility but NOT sent: API version 2026-10-21 (sent by anthropic>=2.0)
    #: rejects ``temperature``/``top_p``/``top_k`` with a 400, and the SDK no longer has the parameter.
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    #: How many times the client re-prompts the model with validation errors before LLMFormatError.
    max_reprompts: int = Field(default=2, ge=0, le=5)
    #: Per-request timeout; keep it below the Lambda timeout so a slow call maps to a typed error.
    timeout_seconds: float = Field(default=50.0, gt=0)
    #: Step Functions owns retries, so the SDK's own retry loop is off by default.
    sdk_max_retries: int = Field(default=0, ge=0, le=5)
    #: Run against the offline model even when a key is configured (demos, CI with a key in the env).
    force_offline: bool = False

    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    #: In the cloud the key lives in Secrets Manager; it is fetched at runtime and cached per process.
    anthropic_secret_arn: str | None = Field(
        default=None, validation_alias="STEPWISE_ANTHROPIC_SECRET_ARN", json_schema_extra={"resource": "llm"}
    )


@lru_cache(maxsize=1)
def llm_settings() -> LLMSettings:
    """Cached settings; ``factory.reset_llm_client()`` clears this cache too."""
    return LLMSettings()
