"""Environment of a step Lambda, validated once at cold start.

Domain code never reads ``os.environ``: it receives these values (or ports built from them).
CDK sets the same variable names on every function; the local runtime sets them in-process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StepwiseSettings(BaseSettings):
    """Names of the resources a step may touch. Each is optional: a step uses only its own."""

    model_config = SettingsConfigDict(env_prefix="STEPWISE_", extra="ignore", frozen=True)

    stage: str = "local"
    crm_table: str = "stepwise-crm"
    approvals_table: str = "stepwise-approvals"
    idempotency_table: str = "stepwise-idempotency"
    billing_table: str = "stepwise-billing"
    calendar_table: str = "stepwise-calendar"
    #: Tokens and cost of every LLM call, per run and step (``functions/shared/ledger.py``).
    run_ledger_table: str = "stepwise-run-ledger"
    files_bucket: str = "stepwise-files"
    audit_bucket: str = "stepwise-audit"
    sender_email: str = "outreach@stepwise.example"
    approvals_key_alias: str = "alias/stepwise-approvals"
    #: Key that signs approval links (env locally; in the cloud the API reads it from Secrets Manager).
    approval_signing_secret: SecretStr | None = None
    #: In the cloud: the Secrets Manager secret holding that key (read at runtime, cached 5 minutes).
    approval_signing_secret_arn: str | None = None
    approval_link_base_url: str = "http://localhost:8000"
    approval_ttl_seconds: int = Field(default=72 * 3600, gt=0)
    #: Second approver of the SLA ladder (escalation), per stage.
    escalation_approver: str = "sales-manager@stepwise.example"
    #: Workflow name → state machine (alias) ARN the API starts executions on.
    state_machines: dict[str, str] = Field(default_factory=dict)
    #: Lifetime of idempotency records: must outlast the whole retry window of a run.
    idempotency_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    #: How long a run's ledger items are kept (DynamoDB TTL): long enough for monthly cost reviews.
    run_ledger_ttl_seconds: int = Field(default=400 * 24 * 3600, gt=0)
    #: Share of runs that log everything (decided once per run from a hash of its trace id); the
    #: others log warnings and errors only.
    log_sample_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    #: Optional cap in USD on what one run of a workflow may spend on LLM calls, e.g.
    #: ``STEPWISE_BUDGETS='{"sales_outreach": 0.05}'``; workflows not named have no cap.
    budgets: dict[str, Annotated[float, Field(ge=0.0)]] = Field(default_factory=dict)

    @field_validator("budgets")
    @classmethod
    def _budgets_name_registered_workflows(cls, budgets: dict[str, float]) -> dict[str, float]:
        """A misspelt workflow would silently have no cap: refuse it at cold start instead."""
        from functions.registry import WORKFLOWS  # plain data; imported here to keep config leaf-level

        unknown = sorted(set(budgets) - set(WORKFLOWS))
        if unknown:
            raise ValueError(f"budgets name unknown workflows {unknown}; known: {sorted(WORKFLOWS)}")
        return budgets


@lru_cache(maxsize=1)
def settings() -> StepwiseSettings:
    """Cached settings; tests that change the environment call ``settings.cache_clear()``."""
    return StepwiseSettings()
