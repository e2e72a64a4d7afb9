"""Environment of a step Lambda, validated once at cold start.

Domain code never reads ``os.environ``: it receives these values (or ports built from them).
CDK sets the same variable names on every function; the local runtime sets them in-process.

Each field says who needs it (``json_schema_extra``, read by :func:`needed_by` and by
``tests/infra``, which checks every function's template environment against it):

- ``"resource"``: the ``functions.registry.Resource`` whose functions read it (``crm_table`` → a
  step naming ``Resource.CRM_TABLE``); ``"resources"``: several, any one of which needs it;
- ``"every": "function"`` / ``"every": "step"``: every Lambda / every step Lambda reads it;
- ``"cdk_context"``: the CDK context key (``cdk deploy -c <key>=...``, or cdk.json) that sets it.

Fail closed in the cloud: with ``STEPWISE_STAGE`` other than ``local``, a value that only makes
sense on a laptop (a link base on localhost, an address in a reserved example domain) is a startup
error naming the variable and the context key, never a silent default. Those variables are set on
*every* function by the stack (``infra/storage.py``), so the check holds for every function alike
instead of guessing which ones a function was meant to have.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Final, cast
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX: Final = "STEPWISE_"
LOCAL_STAGE: Final = "local"
#: Domains that never receive mail (RFC 2606 / RFC 6761): an address there is a placeholder.
_PLACEHOLDER_DOMAINS: Final = (
    "example",
    "example.com",
    "example.net",
    "example.org",
    "test",
    "invalid",
    "localhost",
)
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})  # noqa: S104 - names, no bind


def is_placeholder_email(address: str) -> bool:
    """``outreach@stepwise.example``: an address no mail reaches (or no address at all)."""
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    if "@" not in address or not domain:
        return True
    return any(domain == d or domain.endswith(f".{d}") for d in _PLACEHOLDER_DOMAINS)


def is_local_url(url: str) -> bool:
    """``http://localhost:8000``: a URL that only this machine can open (or no URL at all)."""
    host = (urlsplit(url.strip()).hostname or "").lower()
    return not host or host in _LOOPBACK_HOSTS or host.startswith("127.") or host.endswith(".localhost")


def _needs(
    *,
    resource: str | None = None,
    resources: tuple[str, ...] = (),
    every: str | None = None,
    cdk_context: str | None = None,
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if resource:
        extra["resource"] = resource
    if resources:  # read by the functions of any one of these resources
        extra["resources"] = list(resources)
    if every:
        extra["every"] = every
    if cdk_context:
        extra["cdk_context"] = cdk_context
    return extra


class StepwiseSettings(BaseSettings):
    """Names of the resources a step may touch. Each is optional: a step uses only its own."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    stage: str = Field(default=LOCAL_STAGE, json_schema_extra=_needs(every="function"))
    crm_table: str = Field(default="stepwise-crm", json_schema_extra=_needs(resource="crm_table"))
    approvals_table: str = Field(
        default="stepwise-approvals", json_schema_extra=_needs(resource="approvals_table")
    )
    idempotency_table: str = Field(
        default="stepwise-idempotency", json_schema_extra=_needs(resource="idempotency_table")
    )
    billing_table: str = Field(default="stepwise-billing", json_schema_extra=_needs(resource="billing_table"))
    calendar_table: str = Field(
        default="stepwise-calendar", json_schema_extra=_needs(resource="calendar_table")
    )
    #: Tokens and cost of every LLM call, per run and step (``functions/shared/ledger.py``).
    run_ledger_table: str = Field(
        default="stepwise-run-ledger", json_schema_extra=_needs(resource="run_ledger_table")
    )
    files_bucket: str = Field(default="stepwise-files", json_schema_extra=_needs(resource="files_bucket"))
    #: LLM prompts and responses (``Resource.AUDIT_BUCKET``), and every step's large log payloads
    #: (``functions/shared/log_payloads.py``, via ``step_handler``).
    audit_bucket: str = Field(
        default="stepwise-audit", json_schema_extra=_needs(resource="audit_bucket", every="step")
    )
    #: The SES sender; also read outside ``Resource.EMAIL`` (reply-to), so every function gets it.
    sender_email: str = Field(
        default="outreach@stepwise.example",
        json_schema_extra=_needs(resource="email", every="function", cdk_context="senderEmail"),
    )
    approvals_key_alias: str = Field(
        default="alias/stepwise-approvals",
        json_schema_extra=_needs(resources=("token_seal", "token_open")),
    )
    #: Key that signs approval links (env locally; in the cloud the API reads it from Secrets Manager).
    approval_signing_secret: SecretStr | None = None
    #: In the cloud: the Secrets Manager secret holding that key (read at runtime, cached 5 minutes).
    approval_signing_secret_arn: str | None = Field(
        default=None, json_schema_extra=_needs(resource="approval_links")
    )
    #: Where approval links point: the API's stage URL, or a custom domain (context key).
    approval_link_base_url: str = Field(
        default="http://localhost:8000",
        json_schema_extra=_needs(
            resource="approval_links", every="function", cdk_context="approvalLinkBaseUrl"
        ),
    )
    approval_ttl_seconds: int = Field(default=72 * 3600, gt=0)
    #: Second approver of the SLA ladder (escalation), per stage.
    escalation_approver: str = Field(
        default="sales-manager@stepwise.example",
        json_schema_extra=_needs(every="function", cdk_context="escalationApprover"),
    )
    #: The whole approver directory as JSON (``functions/shared/approvers.py``): tests and local
    #: runs only; the stack never sets it (a directory in SSM needs no deploy to change).
    approvers: str | None = None
    #: Where the stack put the directory in SSM, one parameter per workflow under it
    #: (``/stepwise/<stage>/approvers``); set on the functions that may read some of it.
    approvers_parameter_path: str | None = Field(
        default=None, json_schema_extra=_needs(resource="approver_directory", cdk_context="approvers")
    )
    #: The API's clients as JSON, client id → ``{"name", "owner"}`` (``functions/shared/api_clients.py``);
    #: set on the API function only. Unset, only the local stage knows clients (the example file).
    api_clients: str | None = None
    #: Workflow name → state machine (alias) ARN the API starts executions on.
    state_machines: dict[str, str] = Field(default_factory=dict)
    #: Lifetime of idempotency records: must outlast the whole retry window of a run, and Step
    #: Functions' 14-day redrive window (a redrive on day 8 must still find the send it made).
    idempotency_ttl_seconds: int = Field(default=15 * 24 * 3600, gt=0)
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

    @model_validator(mode="after")
    def _cloud_settings_fail_closed(self) -> StepwiseSettings:
        """Outside ``local``, a laptop default is a startup error naming the variable and where to set it."""
        if self.stage == LOCAL_STAGE:
            return self
        problems = []
        for name in ("sender_email", "escalation_approver"):
            value = getattr(self, name)
            if is_placeholder_email(value):
                problems.append(_problem(name, value, "is a placeholder address no mail reaches"))
        if is_local_url(self.approval_link_base_url):
            problems.append(
                _problem(
                    "approval_link_base_url",
                    self.approval_link_base_url,
                    "points at this machine (the stack sets the API's stage URL)",
                )
            )
        if problems:
            raise ValueError(f"stage {self.stage!r}: " + "; ".join(problems))
        return self


def env_var(field: str) -> str:
    """``sender_email`` → ``STEPWISE_SENDER_EMAIL``."""
    return ENV_PREFIX + field.upper()


def _problem(field: str, value: str, why: str) -> str:
    context = StepwiseSettings.model_fields[field].json_schema_extra
    assert isinstance(context, dict), field
    return (
        f"{env_var(field)}={value!r} {why}; set it with the CDK context key {context['cdk_context']!r}"
        f" (cdk deploy -c {context['cdk_context']}=... or cdk.json)"
    )


def needed_by(resources: frozenset[str], *, step: bool) -> set[str]:
    """The ``STEPWISE_*`` variables a Lambda touching ``resources`` reads (a step Lambda if ``step``)."""
    needed = set()
    for name, info in StepwiseSettings.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        every = extra.get("every")
        named = {extra.get("resource"), *cast(list[str], extra.get("resources", []))} - {None}
        if named & resources or every == "function" or (step and every == "step"):
            needed.add(env_var(name))
    return needed


@lru_cache(maxsize=1)
def settings() -> StepwiseSettings:
    """Cached settings; tests that change the environment call ``settings.cache_clear()``."""
    return StepwiseSettings()
