"""The approver directory: who may approve what, decided by the server, per stage (issue #19).

A start request may leave an approver field out (the directory's ``default`` fills it) or name one
of the directory's ``allowed`` addresses for that workflow and field; anything else is refused.
Where money moves (:data:`AMOUNT_FIELDS`), a field may instead list amount ``tiers``: the amount
of the request picks the tier, so a $50 credit and a $1,000 credit go to different people, and
naming a lower tier's approver for a higher amount is refused. Each entry may name an
``escalation`` chain, whom the SLA sweeper escalates to instead of the stage's one address.

Where it comes from: in the cloud, one SSM parameter per workflow (``<path>/<workflow>``, the path
in ``STEPWISE_APPROVERS_PARAMETER_PATH``; the stack writes them from the CDK context key
``approvers``), so a directory change is a parameter change, not a code deploy of every function,
and no function carries it in its 4 KB of environment. ``STEPWISE_APPROVERS`` (the whole
directory as JSON) still wins when set (tests, local runs); the ``local`` stage without either
reads ``examples/approvers.json``. A cloud stage without any fails closed: nobody may approve.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Final, Self

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator

from functions.shared.config import LOCAL_STAGE, StepwiseSettings, env_var
from functions.shared.errors import BusinessRuleError, TransientIntegrationError
from functions.shared.models import EmailAddress

#: The start-request fields that name an approver, per workflow (each input model's optional fields).
APPROVER_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "sales_outreach": ("approver_email",),
    "case_study": ("marketing_approver",),
    "referral": ("rewards_approver",),
    "law_firm_ops": ("attorney_email", "partner_email"),
    "no_show": ("manager_email",),
    "reengagement_sweep": ("approver_email",),
}
#: (workflow, approver field) → the start-request field holding the amount (in cents) its approval
#: moves: only these may have amount tiers. law_firm_ops' money steps (the retainer in the letter,
#: the recovered time) are approved by the matter's responsible attorney, whose identity also
#: scopes whose time is billed, so routing it by amount would bill the wrong person's hours.
AMOUNT_FIELDS: Final[Mapping[tuple[str, str], str]] = {("referral", "rewards_approver"): "reward_cents"}
#: The CDK context key the stack turns into the SSM parameters (``infra/stage_context.py``).
CONTEXT_KEY: Final = "approvers"
ENV_VAR: Final = env_var("approvers")
PARAMETER_PATH_ENV_VAR: Final = env_var("approvers_parameter_path")
#: A directory change reaches warm functions within this many seconds, without a deploy; in
#: between, each container asks SSM at most once per parameter (SSM's standard throughput is shared
#: by the whole account, and a start request must not wait on a call it made a second ago).
PARAMETER_MAX_AGE_S: Final = 300
#: The local stage's directory, and the content of the as-deployed synthesis's context.
LOCAL_FILE: Final = Path(__file__).resolve().parents[2] / "examples" / "approvers.json"


class DirectoryMissing(RuntimeError):
    """A cloud stage has no approver directory: refuse to pick anyone."""


class ApproverNotAllowed(BusinessRuleError):
    """An approval was about to go to an address the directory does not allow for its workflow."""


class Approvers(BaseModel):
    """Who approves: ``default`` when the request names nobody, ``allowed`` who it may name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: EmailAddress
    allowed: tuple[EmailAddress, ...]
    #: Whom a pending approval escalates to, in order (the sweeper uses the first).
    escalation: tuple[EmailAddress, ...] = ()

    @model_validator(mode="after")
    def _default_is_allowed(self) -> Self:
        if self.default not in self.allowed:
            raise ValueError(f"default {self.default!r} must be one of allowed")
        return self

    def addresses(self) -> set[str]:
        return {self.default, *self.allowed, *self.escalation}


class Tier(Approvers):
    """The approvers of amounts up to ``up_to_cents`` (inclusive); ``None``: every larger amount."""

    up_to_cents: int | None = Field(default=None, ge=0)


class ApproverChoice(BaseModel):
    """One approver field: either flat (``default``/``allowed``/``escalation``) or amount ``tiers``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: EmailAddress | None = None
    allowed: tuple[EmailAddress, ...] = ()
    escalation: tuple[EmailAddress, ...] = ()
    tiers: tuple[Tier, ...] = ()

    @model_validator(mode="after")
    def _flat_or_tiered(self) -> Self:
        if self.tiers:
            if self.default is not None or self.allowed or self.escalation:
                raise ValueError("give either tiers or default/allowed/escalation, not both")
            _check_tiers(self.tiers)
        else:
            Approvers(default=self.default, allowed=self.allowed, escalation=self.escalation)
        return self

    def entries(self) -> tuple[Approvers, ...]:
        """The tiers, or the one flat entry."""
        if self.tiers:
            return self.tiers
        assert self.default is not None
        return (Approvers(default=self.default, allowed=self.allowed, escalation=self.escalation),)

    def for_amount(self, amount_cents: int | None) -> Approvers:
        """The entry that approves ``amount_cents``; a tiered field needs the amount."""
        if not self.tiers:
            return self.entries()[0]
        if amount_cents is None:
            raise ValueError("this approver field has amount tiers: the amount picks the approvers")
        return next(t for t in self.tiers if t.up_to_cents is None or amount_cents <= t.up_to_cents)


def _check_tiers(tiers: tuple[Tier, ...]) -> None:
    """Sorted by amount, no two with the same bound (so none overlap), and one top tier, last."""
    bounds = [t.up_to_cents for t in tiers]
    if bounds[-1] is not None or None in bounds[:-1]:
        raise ValueError("tiers need exactly one top tier (no up_to_cents), and it must come last")
    limited = [b for b in bounds if b is not None]
    if any(low >= high for low, high in pairwise(limited)):
        raise ValueError(f"tiers must be sorted by up_to_cents, each above the one before: {limited}")


class WorkflowApprovers(BaseModel):
    """One workflow's part of the directory (what one SSM parameter holds)."""

    model_config = ConfigDict(frozen=True)

    workflow: str
    fields: dict[str, ApproverChoice]

    @model_validator(mode="after")
    def _covers_its_approver_fields(self) -> Self:
        expected = set(APPROVER_FIELDS.get(self.workflow, ()))
        problems = [f"missing {self.workflow}.{f}" for f in sorted(expected - set(self.fields))]
        problems += [f"unknown {self.workflow}.{f}" for f in sorted(set(self.fields) - expected)]
        problems += [
            f"{self.workflow}.{f} has tiers but its approval moves no amount"
            for f, choice in sorted(self.fields.items())
            if choice.tiers and (self.workflow, f) not in AMOUNT_FIELDS
        ]
        if problems:
            raise ValueError("approver directory: " + "; ".join(problems))
        return self

    def choice(self, field: str, amount_cents: int | None = None) -> Approvers:
        return self.fields[field].for_amount(amount_cents)

    def allows(self, address: str, *, amount_cents: int | None = None) -> bool:
        """Is ``address`` allowed for some field (for a tiered field: the amount's tier, if given)?"""
        wanted = address.strip().lower()
        for choice in self.fields.values():
            entries = (
                (choice.for_amount(amount_cents),)
                if choice.tiers and amount_cents is not None
                else choice.entries()
            )
            if any(wanted in entry.allowed for entry in entries):
                return True
        return False

    def escalation(self, approver: str) -> tuple[str, ...]:
        """The chain of the first entry (field order, lowest tier first) that allows ``approver``."""
        wanted = approver.strip().lower()
        for choice in self.fields.values():
            for entry in choice.entries():
                if wanted in entry.allowed:
                    return entry.escalation
        return ()

    def addresses(self) -> set[str]:
        return {a for choice in self.fields.values() for entry in choice.entries() for a in entry.addresses()}


class ApproverDirectory(RootModel[dict[str, dict[str, ApproverChoice]]]):
    """workflow → approver field → :class:`ApproverChoice`; covers exactly :data:`APPROVER_FIELDS`."""

    @model_validator(mode="after")
    def _covers_every_approver_field(self) -> Self:
        unknown = sorted(set(self.root) - set(APPROVER_FIELDS))
        missing = sorted(set(APPROVER_FIELDS) - set(self.root))
        problems = [f"unknown {w}.{f}" for w in unknown for f in sorted(self.root[w])]
        problems += [f"missing {w}.{f}" for w in missing for f in APPROVER_FIELDS[w]]
        for name in sorted(set(self.root) & set(APPROVER_FIELDS)):
            try:
                WorkflowApprovers(workflow=name, fields=self.root[name])
            except ValidationError as exc:
                problems.append(_messages(exc))
        if problems:
            raise ValueError("approver directory: " + "; ".join(problems).replace("approver directory: ", ""))
        return self

    def workflow(self, name: str) -> WorkflowApprovers:
        return WorkflowApprovers(workflow=name, fields=self.root.get(name, {}))

    def choice(self, workflow: str, field: str, amount_cents: int | None = None) -> Approvers:
        return self.workflow(workflow).choice(field, amount_cents)

    def allows(self, workflow: str, address: str, *, amount_cents: int | None = None) -> bool:
        """Is ``address`` allowed for *some* approver field of ``workflow`` (and the amount's tier)?"""
        return self.workflow(workflow).allows(address, amount_cents=amount_cents)

    def escalation(self, workflow: str, approver: str) -> tuple[str, ...]:
        return self.workflow(workflow).escalation(approver)

    def addresses(self) -> set[str]:
        """Every address the directory names (defaults, allowed, escalation): what must be deliverable."""
        return {a for name in self.root for a in self.workflow(name).addresses()}

    def sections(self) -> dict[str, str]:
        """workflow → its part as compact JSON: the value of that workflow's SSM parameter."""
        return {
            name: ApproverChoices.model_validate(fields).model_dump_json(exclude_defaults=True)
            for name, fields in self.root.items()
        }


class ApproverChoices(RootModel[dict[str, ApproverChoice]]):
    """One SSM parameter's value: approver field → :class:`ApproverChoice`."""


def parameter_name(path: str, workflow: str) -> str:
    """``/stepwise/dev/approvers`` + ``referral`` → ``/stepwise/dev/approvers/referral``."""
    return f"{path.rstrip('/')}/{workflow}"


def approver_directory(config: StepwiseSettings) -> ApproverDirectory:
    """The whole stage directory (every workflow's parameter in the cloud: the API's view)."""
    if config.approvers is None and config.approvers_parameter_path:
        sections = {w: _read_parameter(config.approvers_parameter_path, w) for w in APPROVER_FIELDS}
        return _parse_sections(tuple(sorted(sections.items())))
    return _parse(_inline(config), _source(config))


def workflow_approvers(config: StepwiseSettings, workflow: str) -> WorkflowApprovers:
    """One workflow's approvers: only its own SSM parameter is read (all an approval step may read)."""
    if workflow not in APPROVER_FIELDS:  # no staff approver at all (no_show_reply): nothing to read
        return WorkflowApprovers(workflow=workflow, fields={})
    if config.approvers is None and config.approvers_parameter_path:
        raw = _read_parameter(config.approvers_parameter_path, workflow)
        return _parse_sections(((workflow, raw),)).workflow(workflow)
    return approver_directory(config).workflow(workflow)


def _inline(config: StepwiseSettings) -> str:
    if config.approvers is not None:
        return config.approvers
    if config.stage == LOCAL_STAGE:
        return LOCAL_FILE.read_text(encoding="utf-8")
    raise DirectoryMissing(
        f"stage {config.stage!r} has no approver directory: neither {PARAMETER_PATH_ENV_VAR} nor {ENV_VAR}"
        f" is set; the stack writes it to SSM from the CDK context key {CONTEXT_KEY!r}"
        f" (cdk deploy -c {CONTEXT_KEY}='{{...}}' or cdk.json)"
    )


def _source(config: StepwiseSettings) -> str:
    return ENV_VAR if config.approvers is not None else str(LOCAL_FILE)


def _read_parameter(path: str, workflow: str) -> str:
    """The parameter's text, from Powertools' cache when younger than :data:`PARAMETER_MAX_AGE_S`."""
    from aws_lambda_powertools.utilities.parameters import get_parameter

    name = parameter_name(path, workflow)
    try:
        return str(get_parameter(name, max_age=PARAMETER_MAX_AGE_S))
    except Exception as exc:
        # Powertools wraps the ClientError in GetParameterError, keeping its text (never a value).
        if any(code in str(exc) for code in _PERMANENT_CODES):
            raise DirectoryMissing(f"approver directory {name}: {exc}") from exc
        raise TransientIntegrationError(f"approver directory {name}: {type(exc).__name__}") from exc


#: SSM answers that a retry cannot change: the parameter is missing or this role may not read it.
_PERMANENT_CODES: Final = ("ParameterNotFound", "AccessDenied")


@lru_cache(maxsize=8)
def _parse_sections(sections: tuple[tuple[str, str], ...]) -> ApproverDirectory:
    """Sections (one workflow each) as a directory; with one section, only that one is checked."""
    try:
        document: dict[str, Any] = {w: ApproverChoices.model_validate_json(raw).root for w, raw in sections}
        if len(sections) == 1:
            ((workflow, _),) = sections
            WorkflowApprovers(workflow=workflow, fields=document[workflow])
            return ApproverDirectory.model_construct(document)
        return ApproverDirectory.model_validate(document)
    except ValidationError as exc:
        names = ", ".join(w for w, _ in sections)
        raise DirectoryMissing(f"the approver directory of {names} is not valid: {_messages(exc)}") from exc


@lru_cache(maxsize=4)
def _parse(raw: str, source: str) -> ApproverDirectory:
    try:
        return ApproverDirectory.model_validate_json(raw)
    except ValidationError as exc:
        raise DirectoryMissing(f"{source} is not a valid approver directory: {exc}") from exc


def _messages(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
