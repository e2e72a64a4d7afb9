"""Every workflow's happy path on the local runtime, answered like a person would answer it.

The transition count and the LLM cost are both read from these runs: the execution history
(``...StateEntered`` events) and the usage the offline model reported for each answered request
(the audit objects are keyed per step attempt, so a step that calls the model once per item keeps
only its last call there). Each workflow runs twice, each time on a fresh runtime (same
seed, so both are the happy path) but against the same process-wide offline model, whose prompt
cache the first run writes and the second reads, as repeated runs within five minutes do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from functions.registry import ROOT, WORKFLOWS
from functions.shared.adapters import get_files
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.llm.offline import BilledCall, offline_model
from local.runtime import LocalRuntime

Decider = Callable[[ApprovalRecord], Decision]
EXAMPLES = ROOT / "examples"
RUNS_PER_WORKFLOW = 2
#: Measured against the offline model even where a key is configured.
OFFLINE = {"STEPWISE_LLM_FORCE_OFFLINE": "1"}


def approve(record: ApprovalRecord) -> Decision:
    return Decision(decision="approve", comment="looks good")


def answer_interview(record: ApprovalRecord) -> Decision:
    """case_study: the client answers in the questions document, then approves it."""
    if record.state != "RequestAnswers":
        return approve(record)
    document = get_files().get_text(record.draft.body_key)
    answered = document.replace("Answer:", "Answer: we closed the books in four days instead of twelve.", 1)
    return Decision(decision="approve", edited_body=answered)


DECIDERS: dict[str, Decider] = {"case_study": answer_interview}


#: A flow whose plain example calls no model is measured on the example that does (an email read by Claude).
EXAMPLE_FILES: dict[str, str] = {"no_show_reply": "no_show_reply_email.json"}


def example_input(workflow: str) -> dict[str, Any]:
    path = EXAMPLES / EXAMPLE_FILES.get(workflow, f"{workflow}.json")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def drive(runtime: LocalRuntime, workflow: str, payload: dict[str, Any], decide: Decider) -> str:
    """Start a run, answer each approval, wait for the end; the execution ARN."""
    arn = runtime.start(workflow, payload)
    while pending := runtime.approvals_to_decide(arn, timeout_s=120):
        for record in pending:
            runtime.decide(record, decide(record))
    return arn


@dataclass(frozen=True)
class Run:
    workflow: str
    index: int  # 0: cold prompt cache, 1+: warm
    status: str
    output: dict[str, Any] | None
    history: list[dict[str, Any]]
    llm_calls: list[BilledCall]  # every answered LLM request of this run, as the offline model billed it


def run_all(runs_per_workflow: int = RUNS_PER_WORKFLOW) -> list[Run]:
    """Each workflow's example input, ``runs_per_workflow`` times, starting from a cold prompt cache."""
    runs = []
    for workflow in WORKFLOWS:
        decide = DECIDERS.get(workflow, approve)
        offline_model().reset()
        for index in range(runs_per_workflow):
            with LocalRuntime(env=OFFLINE) as runtime:
                billed_before = len(offline_model().billed)
                arn = drive(runtime, workflow, example_input(workflow), decide)
                result = runtime.result(arn)
                runs.append(
                    Run(
                        workflow=workflow,
                        index=index,
                        status=result.status,
                        output=result.output,
                        history=runtime.history(arn),
                        llm_calls=offline_model().billed[billed_before:],
                    )
                )
    return runs
