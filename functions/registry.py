"""The step registry: workflow → steps → handler, the one list both CDK and the local runtime read.

It is plain data (no handler imports), so CDK synth and the local dispatcher can load it cheaply.
Each ASL file refers to a step's Lambda as ``${<StepName>FunctionArn}`` (``placeholder``); the
tests check that the placeholders of every ASL file and the steps registered here match exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATEMACHINES_DIR = ROOT / "statemachines"


class StepKind(StrEnum):
    """How a step affects the outside world, which decides its failure handling."""

    PURE = "pure"  # reads only, or writes nothing anyone else sees: safe to retry
    REVERSIBLE = "reversible"  # has a compensation step that undoes it
    IRREVERSIBLE = "irreversible"  # cannot be undone: idempotent, and placed after approval
    COMPENSATION = "compensation"  # undoes a reversible step; itself idempotent


class Resource(StrEnum):
    """What a step touches; CDK grants exactly these, the local runtime creates them."""

    CRM_TABLE = "crm_table"
    APPROVALS_TABLE = "approvals_table"
    IDEMPOTENCY_TABLE = "idempotency_table"
    BILLING_TABLE = "billing_table"
    CALENDAR_TABLE = "calendar_table"
    FILES_BUCKET = "files_bucket"
    AUDIT_BUCKET = "audit_bucket"
    EMAIL = "email"
    APPROVALS_KEY = "approvals_key"
    APPROVAL_LINKS = "approval_links"  # signs approval links (reads the signing secret)
    LLM = "llm"  # calls Claude (reads the Anthropic API key; gets the anthropic layer)


@dataclass(frozen=True)
class StepSpec:
    """One step = one Lambda function."""

    name: str
    handler: str  # dotted path "functions.<workflow>.<module>.handler"
    kind: StepKind
    resources: frozenset[Resource] = frozenset()
    compensation: str | None = None  # name of the step that undoes this one (REVERSIBLE only)
    timeout_seconds: int = 30
    memory_mb: int = 256

    @property
    def uses_llm(self) -> bool:
        return Resource.LLM in self.resources

    @property
    def placeholder(self) -> str:
        """The ``${...}`` name an ASL file uses for this step's function ARN."""
        return "".join(part.capitalize() for part in self.name.split("_")) + "FunctionArn"

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]


@dataclass(frozen=True)
class ApprovalSla:
    """The ladder a pending approval climbs (the sweeper applies it; the ASL timeout is the backstop).

    After ``remind_after_s`` the approver gets a reminder with the same link; after
    ``escalate_after_s`` a second approver gets a link of their own; at the approval's expiry the
    run is resumed with ``ApprovalExpired`` (the default decision is reject: an irreversible action
    is never approved by a clock).
    """

    remind_after_s: int = 24 * 3600
    escalate_after_s: int = 48 * 3600


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    description: str
    input_model: str  # dotted path of the pydantic model that validates the execution input
    business_key: str  # field of the input that identifies the business object (lead id, ...)
    steps: tuple[StepSpec, ...] = field(default_factory=tuple)
    approval_sla: ApprovalSla = field(default_factory=ApprovalSla)

    @property
    def asl_path(self) -> Path:
        return STATEMACHINES_DIR / f"{self.name}.asl.json"

    def step(self, name: str) -> StepSpec:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"workflow {self.name!r} has no step {name!r}")


def _steps(
    workflow: str, *specs: tuple[str, StepKind, frozenset[Resource], str | None]
) -> tuple[StepSpec, ...]:
    return tuple(
        StepSpec(
            name=name,
            handler=f"functions.{workflow}.{name}.handler",
            kind=kind,
            resources=resources,
            compensation=compensation,
            timeout_seconds=60 if Resource.LLM in resources else 30,
        )
        for name, kind, resources, compensation in specs
    )


_R = Resource
_K = StepKind

SALES_OUTREACH = WorkflowSpec(
    name="sales_outreach",
    description="research → draft → approve → send → log, with a human approving every email",
    input_model="functions.sales_outreach.models.OutreachRequest",
    business_key="lead_id",
    steps=_steps(
        "sales_outreach",
        ("validate_lead", _K.PURE, frozenset({_R.CRM_TABLE}), None),
        ("research_lead", _K.PURE, frozenset({_R.CRM_TABLE, _R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM}), None),
        ("log_disqualified", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        ("draft_email", _K.PURE, frozenset({_R.CRM_TABLE, _R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM}), None),
        ("mark_contacted", _K.REVERSIBLE, frozenset({_R.CRM_TABLE}), "revert_contact_status"),
        (
            "request_approval",
            _K.REVERSIBLE,
            frozenset({_R.APPROVALS_TABLE, _R.APPROVALS_KEY, _R.APPROVAL_LINKS, _R.EMAIL, _R.FILES_BUCKET}),
            "cancel_approval",
        ),
        ("send_email", _K.IRREVERSIBLE, frozenset({_R.EMAIL, _R.FILES_BUCKET, _R.IDEMPOTENCY_TABLE}), None),
        ("log_activity", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        ("revert_contact_status", _K.COMPENSATION, frozenset({_R.CRM_TABLE}), None),
        ("cancel_approval", _K.COMPENSATION, frozenset({_R.APPROVALS_TABLE}), None),
        (
            "log_rejection",
            _K.IRREVERSIBLE,
            frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE, _R.APPROVALS_TABLE}),
            None,
        ),
        ("record_failure", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
    ),
)

WORKFLOWS: dict[str, WorkflowSpec] = {wf.name: wf for wf in (SALES_OUTREACH,)}


def workflow(name: str) -> WorkflowSpec:
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise KeyError(f"unknown workflow {name!r}; known: {', '.join(sorted(WORKFLOWS))}") from None


def all_steps() -> list[tuple[WorkflowSpec, StepSpec]]:
    return [(wf, step) for wf in WORKFLOWS.values() for step in wf.steps]
