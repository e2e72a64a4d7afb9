"""Per-workflow scenarios the reliability tests drive: an input and how people answer approvals.

The steps, their kinds, compensations and the ASL's catchers come from the registry and the ASL
files; only what a test cannot derive lives here: which input and which answers reach a path.
Every workflow of the registry must have a ``main`` scenario (a test checks it), so a new flow
cannot slip past the fault matrix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from functions.registry import ROOT, WORKFLOWS, WorkflowSpec
from functions.shared import asl
from functions.shared.adapters import get_files
from functions.shared.approvals import ApprovalRecord, Decision
from local.runtime import LocalRuntime, RunResult

Decider = Callable[[ApprovalRecord], Decision]


def approve_all(record: ApprovalRecord) -> Decision:
    """Approve everything; a client asked for interview answers writes one and approves."""
    if record.state == "RequestAnswers":
        document = get_files().get_text(record.draft.body_key)
        answered = document.replace("Answer:", "Answer: We closed the books in twelve days.", 1)
        return Decision(decision="approve", comment="answered", edited_body=answered)
    return Decision(decision="approve", comment="ok")


def reject_all(record: ApprovalRecord) -> Decision:
    return Decision(decision="reject", comment="not this time")


def answer_then_reject(record: ApprovalRecord) -> Decision:
    """The client answers the interview, then rejects the drafted case study."""
    return approve_all(record) if record.state == "RequestAnswers" else reject_all(record)


@dataclass(frozen=True)
class Scenario:
    workflow: str
    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    decide: Decider = approve_all
    #: (step, error) that fails once before it runs: reaches a failure path's own steps.
    faults: tuple[tuple[str, str], ...] = ()

    @property
    def spec(self) -> WorkflowSpec:
        return WORKFLOWS[self.workflow]

    def payload(self) -> dict[str, Any]:
        example = ROOT / "examples" / f"{self.workflow}.json"
        loaded: dict[str, Any] = json.loads(example.read_text(encoding="utf-8"))
        return {**loaded, **self.overrides}

    def __str__(self) -> str:
        return f"{self.workflow}:{self.name}"


PERMANENT = "PermanentIntegrationError"
TRANSIENT = "TransientIntegrationError"

#: The offline model answers "RF-500, low confidence" for this referral: an unsure match with a reward.
REFERRAL_UNSURE = {
    "referrer_contact_id": "RF-300",
    "referred_name": "Terry Quinn",
    "referred_email": "terry@quinn-family.example",
    "referred_company": "Granite Ridge Builders",
    "reward_cents": 5000,
}

LAW_FIRM_CONFLICT = {
    "client_name": "Tom Ortiz",
    "client_email": "tom.ortiz@ortizbakery.example",
    "client_company": "Ortiz Family Bakery",
    "matter_description": "Brightwater Studios designed our new brand and packaging; the work was late "
    "and unusable, and they refuse to return the deposit.",
}

SCENARIOS: dict[str, list[Scenario]] = {
    "sales_outreach": [
        Scenario("sales_outreach", "main"),
        Scenario("sales_outreach", "rejected", decide=reject_all),
        Scenario("sales_outreach", "poor_fit", {"lead_id": "L-300"}),
        Scenario("sales_outreach", "failed", faults=(("send_email", PERMANENT),)),
    ],
    "case_study": [
        Scenario("case_study", "main"),
        Scenario("case_study", "declined", decide=reject_all),
        Scenario("case_study", "draft_rejected", decide=answer_then_reject),
        Scenario("case_study", "failed", faults=(("log_published", PERMANENT),)),
    ],
    "no_show": [
        Scenario("no_show", "main"),
        Scenario("no_show", "rejected", decide=reject_all),
        Scenario("no_show", "failed", faults=(("settle_digest", PERMANENT),)),
    ],
    "no_show_reply": [
        # main: an inbound email, read by Claude (the example's message without a reply kind)
        Scenario("no_show_reply", "main", {"reply": None}),
        Scenario("no_show_reply", "link_reply"),
        Scenario("no_show_reply", "needs_human", {"reply": None, "message": "Who is this?"}),
        Scenario("no_show_reply", "failed", faults=(("log_reply", PERMANENT),)),
    ],
    "referral": [
        Scenario("referral", "main"),
        Scenario("referral", "rejected", decide=reject_all),
        Scenario(
            "referral",
            "duplicate",
            {"referred_name": "Morgan Lee", "referred_email": "Morgan.Lee@Bluefin-Marine.example"},
        ),
        Scenario("referral", "no_dormant_client", {"referrer_contact_id": "RF-300", "reward_cents": 5000}),
        Scenario("referral", "failed", faults=(("send_thank_you", PERMANENT),)),
        Scenario("referral", "unsure", REFERRAL_UNSURE),
        Scenario("referral", "unsure_rejected", REFERRAL_UNSURE, decide=reject_all),
        Scenario(
            "referral", "review_failed", REFERRAL_UNSURE, faults=(("reward_request_approval", PERMANENT),)
        ),
    ],
    "law_firm_ops": [
        Scenario("law_firm_ops", "main"),
        Scenario("law_firm_ops", "conflict", LAW_FIRM_CONFLICT),
        Scenario("law_firm_ops", "rejected", decide=reject_all),
        Scenario("law_firm_ops", "failed", faults=(("setup_billing", PERMANENT),)),
    ],
    # The demo CRM's dormant clients (one batch). No "rejected" scenario: a rejected sweep ends in a
    # pure step (nothing irreversible to replay); tests/workflows/test_reengagement_sweep.py has it.
    "reengagement_sweep": [
        Scenario("reengagement_sweep", "main"),
        Scenario("reengagement_sweep", "failed", faults=(("send_batch", PERMANENT),)),
    ],
}


def main(workflow: str) -> Scenario:
    return SCENARIOS[workflow][0]


def drive(runtime: LocalRuntime, scenario: Scenario, *, timeout_s: float = 60.0) -> RunResult:
    """Start the scenario's run and answer every approval the way the scenario says."""
    for step, error in scenario.faults:
        runtime.dispatcher.inject(step, error, times=1)
    arn = runtime.start(scenario.workflow, scenario.payload())
    while pending := runtime.approvals_to_decide(arn, timeout_s=timeout_s):
        for record in pending:
            runtime.decide(record, scenario.decide(record))
    return runtime.result(arn)


def callback_states(workflow: WorkflowSpec) -> dict[str, dict[str, Any]]:
    """ASL name → definition of every approval (``.waitForTaskToken``) state of a flow."""
    return {
        name: state
        for name, state in asl.iter_states(asl.definition(workflow)["States"])
        if state["Type"] == "Task" and str(state.get("Resource", "")).endswith(".waitForTaskToken")
    }


def catch_target(state: dict[str, Any], error: str) -> str | None:
    for catcher in state.get("Catch", []):
        if error in catcher["ErrorEquals"] or "States.ALL" in catcher["ErrorEquals"]:
            return str(catcher["Next"])
    return None


def drive_to_timeout(runtime: LocalRuntime, scenario: Scenario, state: str) -> RunResult:
    """Like :func:`drive`, but nobody answers approval ``state``: wait for the run to end instead.

    Only approvals recorded under another approval state of the flow are answered (no_show keys
    its records by appointment and has a single approval state, so nothing is answered there):
    reading the timeline first and the approvals second would race with the next request.
    """
    others = set(callback_states(scenario.spec)) - {state}
    arn = runtime.start(scenario.workflow, scenario.payload())
    name = arn.rsplit(":", 1)[-1]
    while runtime.wait(arn, until="approval", timeout_s=60)["status"] == "RUNNING":
        answerable = [record for record in runtime.pending_approvals(name) if record.state in others]
        if not answerable:
            runtime.wait(arn, timeout_s=60)
            break
        for record in answerable:
            runtime.decide(record, scenario.decide(record))
    return runtime.result(arn)
