"""The approver directory: who may approve what, decided by the server, per stage (issue #19).

A start request may leave an approver field out (the directory's ``default`` fills it) or name one
of the directory's ``allowed`` addresses for that workflow and field; anything else is refused.
The directory comes from ``STEPWISE_APPROVERS`` (JSON, set by the stack from the CDK context key
``approvers``); only the ``local`` stage falls back to the repository's ``examples/approvers.json``.
A cloud stage without it fails closed: nobody may approve rather than anybody.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Final, Self

from pydantic import BaseModel, ConfigDict, RootModel, ValidationError, model_validator

from functions.shared.config import LOCAL_STAGE, StepwiseSettings, env_var
from functions.shared.errors import BusinessRuleError
from functions.shared.models import EmailAddress

#: The start-request fields that name an approver, per workflow (each input model's optional fields).
APPROVER_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "sales_outreach": ("approver_email",),
    "case_study": ("marketing_approver",),
    "referral": ("rewards_approver",),
    "law_firm_ops": ("attorney_email", "partner_email"),
    "no_show": ("manager_email",),
}
#: The CDK context key the stack turns into ``STEPWISE_APPROVERS`` (``infra/stage_context.py``).
CONTEXT_KEY: Final = "approvers"
ENV_VAR: Final = env_var("approvers")
#: The local stage's directory, and the content of the as-deployed synthesis's context.
LOCAL_FILE: Final = Path(__file__).resolve().parents[2] / "examples" / "approvers.json"


class DirectoryMissing(RuntimeError):
    """A cloud stage has no approver directory: refuse to pick anyone."""


class ApproverNotAllowed(BusinessRuleError):
    """An approval was about to go to an address the directory does not allow for its workflow."""


class ApproverChoice(BaseModel):
    """Who approves one field of one workflow: ``default`` when the request names nobody."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: EmailAddress
    allowed: tuple[EmailAddress, ...]

    @model_validator(mode="after")
    def _default_is_allowed(self) -> Self:
        if self.default not in self.allowed:
            raise ValueError(f"default {self.default!r} must be one of allowed")
        return self


class ApproverDirectory(RootModel[dict[str, dict[str, ApproverChoice]]]):
    """workflow → approver field → :class:`ApproverChoice`; covers exactly :data:`APPROVER_FIELDS`."""

    @model_validator(mode="after")
    def _covers_every_approver_field(self) -> Self:
        expected = {(w, f) for w, fields in APPROVER_FIELDS.items() for f in fields}
        given = {(w, f) for w, fields in self.root.items() for f in fields}
        problems = [f"missing {w}.{f}" for w, f in sorted(expected - given)]
        problems += [f"unknown {w}.{f}" for w, f in sorted(given - expected)]
        if problems:
            raise ValueError("approver directory: " + "; ".join(problems))
        return self

    def choice(self, workflow: str, field: str) -> ApproverChoice:
        return self.root[workflow][field]

    def allows(self, workflow: str, address: str) -> bool:
        """Is ``address`` allowed for *some* approver field of ``workflow``?"""
        wanted = address.strip().lower()
        return any(wanted in choice.allowed for choice in self.root.get(workflow, {}).values())


def approver_directory(config: StepwiseSettings) -> ApproverDirectory:
    """The stage's directory: ``STEPWISE_APPROVERS``, else (stage ``local`` only) the example file."""
    if config.approvers is not None:
        return _parse(config.approvers, ENV_VAR)
    if config.stage == LOCAL_STAGE:
        return _parse(LOCAL_FILE.read_text(encoding="utf-8"), str(LOCAL_FILE))
    raise DirectoryMissing(
        f"stage {config.stage!r} has no approver directory: {ENV_VAR} is not set; set it with the CDK"
        f" context key {CONTEXT_KEY!r} (cdk deploy -c {CONTEXT_KEY}='{{...}}' or cdk.json)"
    )


@lru_cache(maxsize=4)
def _parse(raw: str, source: str) -> ApproverDirectory:
    try:
        return ApproverDirectory.model_validate_json(raw)
    except ValidationError as exc:
        raise DirectoryMissing(f"{source} is not a valid approver directory: {exc}") from exc
