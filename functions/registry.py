"""The step registry: workflow → steps → handler, the one list both CDK and the local runtime read.

It is plain data (no handler imports), so CDK synth and the local dispatcher can load it cheaply.
Each ASL file refers to a step's Lambda as ``${<StepName>FunctionArn}`` (``placeholder``); the
tests check that the placeholders of every ASL file and the steps registered here match exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATEMACHINES_DIR = ROOT / "statemachines"
#: The HTTP API's and the approval SLA sweeper's handlers (not steps: they serve every workflow).
API_HANDLER = "functions.api.app.handler"
SWEEPER_HANDLER = "functions.api.sweeper.handler"
#: Secrets Manager's rotation of the approval-link key ring (``functions/shared/link_keys.py``).
LINK_KEY_ROTATION_HANDLER = "functions.api.rotate_link_keys.handler"


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
    #: The task-token vault's KMS key, split by direction (least privilege): an approval step seals
    #: (``kms:Encrypt``), only what resumes a run (the API, the sweeper) opens (``kms:Decrypt``).
    TOKEN_SEAL = "token_seal"  # noqa: S105 - a resource name, not a secret
    TOKEN_OPEN = "token_open"  # noqa: S105 - a resource name, not a secret
    APPROVAL_LINKS = "approval_links"  # signs approval links (reads the signing secret)
    LLM = "llm"  # calls Claude (reads the Anthropic API key; gets the anthropic layer)
    RUN_LEDGER_TABLE = "run_ledger_table"  # LLM steps: record tokens + cost per call, read the run's total
    #: Reads its workflow's approver directory parameter (SSM): steps that ask a staff approver.
    APPROVER_DIRECTORY = "approver_directory"


#: ASL placeholders that name a resource instead of a step's function (``${FilesBucketName}``: the
#: files bucket, which a Distributed Map's ItemReader and ResultWriter name in the definition).
#: CDK substitutes the deployed name, the local runtime its own.
RESOURCE_PLACEHOLDERS: dict[str, Resource] = {"FilesBucketName": Resource.FILES_BUCKET}


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
class ScheduleSpec:
    """An EventBridge Scheduler schedule that starts the workflow on its ``live`` alias (CDK deploys it).

    ``context_key`` names the CDK context value that overrides ``expression`` (``cron(...)`` or
    ``rate(...)``, in UTC); ``input_json`` is the execution input, in which Scheduler replaces
    ``<aws.scheduler.scheduled-time>`` by the time the run was due.
    """

    context_key: str
    expression: str
    input_json: str


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    description: str
    input_model: str  # dotted path of the pydantic model that validates the execution input
    business_key: str  # field of the input that identifies the business object (lead id, ...)
    steps: tuple[StepSpec, ...] = field(default_factory=tuple)
    approval_sla: ApprovalSla = field(default_factory=ApprovalSla)
    schedule: ScheduleSpec | None = None

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

#: What a step that emails an approval link needs: the approvals table, sealing its task token
#: (``kms:Encrypt`` only), the link-signing key, email, and the draft in the files bucket.
_ASKS_ANYONE = frozenset({_R.APPROVALS_TABLE, _R.TOKEN_SEAL, _R.APPROVAL_LINKS, _R.EMAIL, _R.FILES_BUCKET})
#: ... and, when the approver is staff, the workflow's part of the approver directory.
_ASKS_STAFF = _ASKS_ANYONE | {_R.APPROVER_DIRECTORY}

SALES_OUTREACH = WorkflowSpec(
    name="sales_outreach",
    description="research → draft → approve → send → log, with a human approving every email",
    input_model="functions.sales_outreach.models.OutreachRequest",
    business_key="lead_id",
    steps=_steps(
        "sales_outreach",
        ("validate_lead", _K.PURE, frozenset({_R.CRM_TABLE}), None),
        (
            "research_lead",
            _K.PURE,
            frozenset({_R.CRM_TABLE, _R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        ("log_disqualified", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        (
            "draft_email",
            _K.PURE,
            frozenset({_R.CRM_TABLE, _R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        ("mark_contacted", _K.REVERSIBLE, frozenset({_R.CRM_TABLE}), "revert_contact_status"),
        (
            "request_approval",
            _K.REVERSIBLE,
            _ASKS_STAFF,
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

CASE_STUDY = WorkflowSpec(
    name="case_study",
    description="CRM facts → questions → client answers → draft → client + marketing approval → publish",
    input_model="functions.case_study.models.CaseStudyRequest",
    business_key="deal_id",
    steps=_steps(
        "case_study",
        ("collect_facts", _K.PURE, frozenset({_R.CRM_TABLE}), None),
        (
            "write_questions",
            _K.PURE,
            frozenset({_R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        ("request_answers", _K.REVERSIBLE, _ASKS_ANYONE, "cancel_approval"),
        (
            "draft_case_study",
            _K.PURE,
            frozenset({_R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        ("request_client_approval", _K.REVERSIBLE, _ASKS_ANYONE, "cancel_approval"),
        (
            "request_marketing_approval",
            _K.REVERSIBLE,
            _ASKS_ANYONE | {_R.APPROVER_DIRECTORY},
            "cancel_approval",
        ),
        ("publish", _K.REVERSIBLE, frozenset({_R.FILES_BUCKET, _R.IDEMPOTENCY_TABLE}), "unpublish"),
        ("log_published", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        ("cancel_approval", _K.COMPENSATION, frozenset({_R.APPROVALS_TABLE}), None),
        ("unpublish", _K.COMPENSATION, frozenset({_R.FILES_BUCKET}), None),
        (
            "log_no_interview",
            _K.IRREVERSIBLE,
            frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE, _R.APPROVALS_TABLE}),
            None,
        ),
        (
            "log_rejection",
            _K.IRREVERSIBLE,
            frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE, _R.APPROVALS_TABLE}),
            None,
        ),
        ("record_failure", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
    ),
)

NO_SHOW = WorkflowSpec(
    name="no_show",
    description="calendar signals → score (points + LLM notes) → confirm low risk, one digest approval"
    " for high risk",
    input_model="functions.no_show.models.NoShowRequest",
    business_key="owner",
    # Batch steps: every appointment-sized list lives in the files bucket, and the Distributed Maps'
    # children are one step each (ScoreBatch, SendConfirmations, ApplyApprovedActions).
    steps=_steps(
        "no_show",
        ("collect_signals", _K.PURE, frozenset({_R.CALENDAR_TABLE, _R.FILES_BUCKET}), None),
        (
            "score_batch",
            _K.PURE,
            frozenset({_R.CALENDAR_TABLE, _R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        (
            "send_confirmations",
            _K.IRREVERSIBLE,
            frozenset({_R.CALENDAR_TABLE, _R.CRM_TABLE, _R.EMAIL, _R.IDEMPOTENCY_TABLE, _R.FILES_BUCKET}),
            None,
        ),
        ("prepare_digest", _K.PURE, frozenset({_R.FILES_BUCKET}), None),
        ("request_approval", _K.REVERSIBLE, _ASKS_STAFF, "cancel_approval"),
        ("cancel_approval", _K.COMPENSATION, frozenset({_R.APPROVALS_TABLE}), None),
        (
            "settle_digest",
            _K.IRREVERSIBLE,
            frozenset({_R.FILES_BUCKET, _R.EMAIL, _R.IDEMPOTENCY_TABLE, _R.APPROVALS_TABLE}),
            None,
        ),
        (
            "apply_approved_actions",
            _K.IRREVERSIBLE,
            frozenset({_R.CALENDAR_TABLE, _R.CRM_TABLE, _R.IDEMPOTENCY_TABLE, _R.FILES_BUCKET}),
            None,
        ),
        ("summarize_day", _K.PURE, frozenset({_R.FILES_BUCKET}), None),
    ),
)

NO_SHOW_REPLY = WorkflowSpec(
    name="no_show_reply",
    description="a client's reply to a confirmation request (confirm / cancel / reschedule, or read from"
    " their words by Claude) → calendar status → CRM timeline; a reply nobody can vouch for changes nothing",
    input_model="functions.no_show_reply.models.NoShowReply",
    business_key="event_id",
    steps=_steps(
        "no_show_reply",
        ("validate_reply", _K.PURE, frozenset({_R.CALENDAR_TABLE, _R.CRM_TABLE}), None),
        ("classify_reply", _K.PURE, frozenset({_R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}), None),
        ("log_needs_human", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        ("apply_reply", _K.REVERSIBLE, frozenset({_R.CALENDAR_TABLE}), "revert_reply_status"),
        ("log_reply", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        ("revert_reply_status", _K.COMPENSATION, frozenset({_R.CALENDAR_TABLE}), None),
        ("record_failure", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
    ),
)

REFERRAL = WorkflowSpec(
    name="referral",
    description="referral → dedupe (email + LLM entity match; an unsure match with a reward asks a"
    " person first) → contact → thank-you → reward credit (approval above $100) → dormant client"
    " of the referrer's company → draft → approve → send → log",
    input_model="functions.referral.models.ReferralRequest",
    business_key="referrer_contact_id",
    steps=_steps(
        "referral",
        ("load_referrer", _K.PURE, frozenset({_R.CRM_TABLE}), None),
        (
            "match_referral",
            _K.PURE,
            frozenset({_R.CRM_TABLE, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        (
            "log_duplicate",
            _K.IRREVERSIBLE,
            frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE, _R.APPROVALS_TABLE}),
            None,
        ),
        ("create_referred_contact", _K.REVERSIBLE, frozenset({_R.CRM_TABLE}), "rollback_referred_contact"),
        ("send_thank_you", _K.IRREVERSIBLE, frozenset({_R.EMAIL, _R.IDEMPOTENCY_TABLE}), None),
        ("reward_request_approval", _K.REVERSIBLE, _ASKS_STAFF, "cancel_approval"),
        ("grant_credit", _K.IRREVERSIBLE, frozenset({_R.BILLING_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        ("find_dormant_clients", _K.PURE, frozenset({_R.CRM_TABLE}), None),
        ("log_rewarded", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        (
            "draft_reengagement",
            _K.PURE,
            frozenset({_R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        ("reengagement_request_approval", _K.REVERSIBLE, _ASKS_STAFF, "cancel_approval"),
        (
            "send_reengagement",
            _K.IRREVERSIBLE,
            frozenset({_R.EMAIL, _R.FILES_BUCKET, _R.IDEMPOTENCY_TABLE}),
            None,
        ),
        ("log_reengagement", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        (
            "log_rejection",
            _K.IRREVERSIBLE,
            frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE, _R.APPROVALS_TABLE}),
            None,
        ),
        ("rollback_referred_contact", _K.COMPENSATION, frozenset({_R.CRM_TABLE}), None),
        ("cancel_approval", _K.COMPENSATION, frozenset({_R.APPROVALS_TABLE}), None),
        ("record_failure", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
    ),
)

LAW_FIRM_OPS = WorkflowSpec(
    name="law_firm_ops",
    description=(
        "intake → conflict check → client + matter → engagement letter → billing → billable-hours recovery,"
        " with a partner waiving conflicts and the attorney approving the letter and the recovered time"
    ),
    input_model="functions.law_firm_ops.models.IntakeRequest",
    business_key="client_email",
    steps=_steps(
        "law_firm_ops",
        ("identify_client", _K.PURE, frozenset({_R.CRM_TABLE}), None),
        ("classify_matter", _K.PURE, frozenset({_R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}), None),
        ("check_conflicts", _K.PURE, frozenset({_R.CRM_TABLE, _R.FILES_BUCKET}), None),
        (
            "request_waiver",
            _K.REVERSIBLE,
            _ASKS_STAFF | {_R.CRM_TABLE},
            "cancel_approval",
        ),
        ("close_conflict", _K.PURE, frozenset({_R.APPROVALS_TABLE}), None),
        ("create_client", _K.REVERSIBLE, frozenset({_R.CRM_TABLE}), "revert_client_status"),
        ("open_matter", _K.REVERSIBLE, frozenset({_R.CRM_TABLE}), "archive_matter"),
        (
            "draft_letter",
            _K.PURE,
            frozenset({_R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        (
            "request_letter_approval",
            _K.REVERSIBLE,
            _ASKS_STAFF,
            "cancel_approval",
        ),
        (
            "send_letter",
            _K.IRREVERSIBLE,
            frozenset({_R.CRM_TABLE, _R.EMAIL, _R.FILES_BUCKET, _R.IDEMPOTENCY_TABLE}),
            None,
        ),
        ("setup_billing", _K.REVERSIBLE, frozenset({_R.BILLING_TABLE}), "void_retainer"),
        ("gather_unbilled", _K.PURE, frozenset({_R.CALENDAR_TABLE, _R.CRM_TABLE, _R.BILLING_TABLE}), None),
        (
            "propose_entries",
            _K.PURE,
            frozenset({_R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
            None,
        ),
        (
            "request_entries_approval",
            _K.REVERSIBLE,
            _ASKS_STAFF,
            "cancel_approval",
        ),
        ("finalize_entries", _K.PURE, frozenset({_R.FILES_BUCKET}), None),
        ("post_time_entries", _K.IRREVERSIBLE, frozenset({_R.BILLING_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        ("record_onboarded", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        (
            "record_letter_rejected",
            _K.IRREVERSIBLE,
            frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE, _R.APPROVALS_TABLE}),
            None,
        ),
        ("record_failure", _K.IRREVERSIBLE, frozenset({_R.CRM_TABLE, _R.IDEMPOTENCY_TABLE}), None),
        ("cancel_approval", _K.COMPENSATION, frozenset({_R.APPROVALS_TABLE}), None),
        ("revert_client_status", _K.COMPENSATION, frozenset({_R.CRM_TABLE}), None),
        ("archive_matter", _K.COMPENSATION, frozenset({_R.CRM_TABLE}), None),
        ("void_retainer", _K.COMPENSATION, frozenset({_R.BILLING_TABLE}), None),
    ),
)

_SWEEP_STEPS = _steps(
    "reengagement_sweep",
    ("find_dormant_clients", _K.PURE, frozenset({_R.CRM_TABLE, _R.FILES_BUCKET}), None),
    (
        "draft_batch",
        _K.PURE,
        frozenset({_R.FILES_BUCKET, _R.AUDIT_BUCKET, _R.LLM, _R.RUN_LEDGER_TABLE}),
        None,
    ),
    ("request_digest_approval", _K.REVERSIBLE, _ASKS_STAFF, "cancel_approval"),
    ("finalize_digest", _K.PURE, frozenset({_R.FILES_BUCKET}), None),
    (
        "send_batch",
        _K.IRREVERSIBLE,
        frozenset({_R.CRM_TABLE, _R.EMAIL, _R.FILES_BUCKET, _R.IDEMPOTENCY_TABLE}),
        None,
    ),
    ("summarize_sweep", _K.PURE, frozenset({_R.FILES_BUCKET}), None),
    ("close_rejected", _K.PURE, frozenset({_R.FILES_BUCKET, _R.APPROVALS_TABLE}), None),
    ("cancel_approval", _K.COMPENSATION, frozenset({_R.APPROVALS_TABLE}), None),
)
#: Batch steps get room for their batch (functions/reengagement_sweep/draft_batch.py: 25 clients,
#: 5 Claude calls at a time, ~15 s at 3 s a call) and the CRM scan of up to 10,000 clients.
_SWEEP_TIMEOUTS = {"find_dormant_clients": (120, 1024), "draft_batch": (120, 512), "send_batch": (120, 256)}

REENGAGEMENT_SWEEP = WorkflowSpec(
    name="reengagement_sweep",
    description="scheduled sweep: every dormant client → batch files → drafts (LLM, per batch) → one digest"
    " approval (approve / drop clients / reject) → send in batches, once per client and period",
    input_model="functions.reengagement_sweep.models.SweepRequest",
    business_key="period",
    # Mondays 07:00 UTC; the period is the ISO week of the scheduled time (reengagement_sweep/models.py).
    schedule=ScheduleSpec(
        context_key="reengagementSweepSchedule",
        expression="cron(0 7 ? * MON *)",
        input_json='{"period": "<aws.scheduler.scheduled-time>"}',
    ),
    steps=tuple(
        replace(step, timeout_seconds=_SWEEP_TIMEOUTS[step.name][0], memory_mb=_SWEEP_TIMEOUTS[step.name][1])
        if step.name in _SWEEP_TIMEOUTS
        else step
        for step in _SWEEP_STEPS
    ),
)

WORKFLOWS: dict[str, WorkflowSpec] = {
    wf.name: wf
    for wf in (SALES_OUTREACH, CASE_STUDY, NO_SHOW, NO_SHOW_REPLY, REFERRAL, LAW_FIRM_OPS, REENGAGEMENT_SWEEP)
}


def workflow(name: str) -> WorkflowSpec:
    try:
        return WORKFLOWS[name]
    except KeyError:
        raise KeyError(f"unknown workflow {name!r}; known: {', '.join(sorted(WORKFLOWS))}") from None


def all_steps() -> list[tuple[WorkflowSpec, StepSpec]]:
    return [(wf, step) for wf in WORKFLOWS.values() for step in wf.steps]
