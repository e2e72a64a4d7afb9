"""No-show scenarios: the real ASL (Map + per-appointment approvals) on moto, the real handlers,
the offline Claude model; plus the scoring model's table of cases (no LLM)."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from functions.no_show import scoring
from functions.no_show.models import AppointmentSignals, NotesReading
from functions.registry import ROOT
from functions.shared.adapters import get_calendar, get_files
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.llm.offline import Malformed, Overloaded, Reply, offline_model
from local import cli
from local.runtime import InputRejected, LocalRuntime, RunResult
from tests.workflows.conftest import activities, approve, drive, reject, states

EXAMPLE = ROOT / "examples" / "no_show.json"
MANAGER = "frontdesk-manager@acme-demo.com"
CAROL, EVE = "carol.nguyen@clients.example", "eve.santos@clients.example"


@pytest.fixture
def no_show_input() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return loaded


def outcomes(result: RunResult) -> dict[str, dict[str, Any]]:
    assert result.output is not None
    return {o["event_id"]: o for o in result.output["outcomes"]}


def confirmation_requests(runtime: LocalRuntime) -> list[str]:
    return [e["to"] for e in runtime.outbox() if e["subject"].startswith("Please confirm")]


def manager_tasks(runtime: LocalRuntime) -> list[dict[str, Any]]:
    return [e for e in runtime.outbox() if e["subject"].startswith("Task:")]


def rows(result: RunResult, state: str) -> list[Any]:
    return [r for r in result.timeline if r.state == state]


def calendar_status(event_id: str) -> str:
    event = get_calendar().get_event(event_id)
    assert event is not None
    return event.status


# --- scenarios -----------------------------------------------------------------------------


@pytest.mark.slow
def test_mixed_batch_confirms_low_risk_once_and_applies_the_approved_actions(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given five open appointments tomorrow: two low risk, one already confirmed, two high risk
    # When the manager approves both recommended actions
    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the batch succeeded with a summary
    assert result.status == "SUCCEEDED"
    assert result.output is not None
    summary = {k: v for k, v in result.output.items() if k != "outcomes"}
    assert summary == {
        "status": "completed",
        "day": "2026-12-03",
        "owner": "dr.kim@stepwise.example",
        "appointments": 5,
        "confirmation_requested": 2,
        "already_confirmed": 1,
        "escalated": 2,
        "actions_applied": 2,
        "rejected": 0,
        "expired": 0,
        "failed": 0,
        "skipped": 1,  # the cancelled appointment
    }
    # and automatic actions ran first, so no confirmation waited for the manager
    by_id = outcomes(result)
    assert list(by_id) == ["APT-NS-301", "APT-NS-501", "APT-NS-101", "APT-NS-201", "APT-NS-401"]
    assert by_id["APT-NS-201"]["action"] == "call"
    assert by_id["APT-NS-401"]["action"] == "reschedule"
    assert by_id["APT-NS-201"]["score"] == 0.85  # 0.7503 from the points model + 0.1 from the notes
    # and each low-risk client got exactly one confirmation request, at the CRM address
    assert sorted(confirmation_requests(runtime)) == [CAROL, EVE]
    # and the manager got one approval request and one task per high-risk appointment
    approvals = [e for e in runtime.outbox() if e["subject"].startswith("Approval needed")]
    assert [e["to"] for e in approvals] == [MANAGER, MANAGER]
    tasks = manager_tasks(runtime)
    assert [t["to"] for t in tasks] == [MANAGER, MANAGER]
    assert "Call Bob Lindqvist" in tasks[0]["body"]
    assert "school pickup" in tasks[1]["body"]
    # and only the approved reschedule changed the calendar; confirmations wait for the reply
    assert calendar_status("APT-NS-401") == "rescheduled"
    assert calendar_status("APT-NS-201") == "scheduled"
    assert calendar_status("APT-NS-301") == "scheduled"
    # and the CRM timelines show what happened
    assert [a.kind for a in activities("NS-300")] == ["confirmation_requested"]
    assert [a.kind for a in activities("NS-200")] == ["no_show_action_approved"]
    assert [a.kind for a in activities("NS-400")] == ["no_show_action_approved"]
    assert activities("NS-100") == []
    # and each routed list had its own Map: one iteration per appointment that needs work, each
    # step once, and the already-confirmed appointment entered no Map at all
    assert states(result) == [
        "CollectSignals",
        "ScoreAppointments",
        "RequestConfirmations",
        *["SendConfirmationRequest", "LogConfirmationRequested"] * 2,
        "HandleEscalations",
        *["RequestManagerApproval", "ApplyApprovedAction", "LogActionTaken"] * 2,
        "SummarizeBatch",
    ]
    assert all(r.attempts <= 1 for r in result.timeline)


@pytest.mark.slow
def test_happy_path_bills_its_steps_plus_the_two_maps_and_no_routing_state(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the example batch (two to confirm, one already confirmed, a call and a reschedule)
    result = drive(runtime, "no_show", no_show_input, approve)

    # When the execution history's entered states are counted (Standard workflows bill each one)
    entered = Counter(
        event["type"].removesuffix("StateEntered")
        for event in runtime.history(result.execution_arn)
        if event["type"].endswith("StateEntered")
    )

    # Then the only states beyond the Lambda steps are the two Maps: no Choice or Pass per item
    assert result.status == "SUCCEEDED"
    assert entered == Counter({"Task": 13, "Map": 2})


@pytest.mark.slow
def test_every_notes_reading_keeps_its_own_audit_record(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given a batch where ScoreAppointments asks Claude once per appointment with notes
    result = drive(runtime, "no_show", no_show_input, approve)
    calls = [r for r in offline_model().requests if r["tool_choice"]["name"] == "no_show_read_notes"]
    assert len(calls) > 1

    # When the run's audit objects for that step are listed
    name = result.execution_arn.rsplit(":", 1)[-1]
    listed = client("s3").list_objects_v2(
        Bucket=settings().audit_bucket, Prefix=f"audit/{name}/score_appointments/"
    )
    keys = [item["Key"] for item in listed.get("Contents", [])]

    # Then there is one record per call (none overwritten), each keyed by its appointment
    assert len(keys) == len(calls)
    assert all(key.split("/")[-1].startswith("0-APT-") for key in keys), keys


def test_manager_rejects_and_only_the_decision_is_logged(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    result = drive(runtime, "no_show", no_show_input, reject)

    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert (result.output["rejected"], result.output["actions_applied"]) == (2, 0)
    by_id = outcomes(result)
    assert by_id["APT-NS-201"]["status"] == "escalation_rejected"
    assert by_id["APT-NS-201"]["decided_by"] == MANAGER
    assert "too pushy" in by_id["APT-NS-201"]["detail"]
    assert [r.status for r in rows(result, "RequestManagerApproval")] == ["CAUGHT", "CAUGHT"]
    # nothing was applied: no task, the calendar is unchanged; the confirmations still went out
    assert manager_tasks(runtime) == []
    assert calendar_status("APT-NS-401") == "scheduled"
    assert sorted(confirmation_requests(runtime)) == [CAROL, EVE]
    assert [a.kind for a in activities("NS-400")] == ["no_show_escalation_rejected"]


@pytest.mark.slow
def test_one_appointment_failing_permanently_does_not_fail_the_batch(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the mail provider refuses the first confirmation request (Carol's, the first item)
    runtime.dispatcher.inject("send_confirmation_request", "PermanentIntegrationError", times=1)

    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the run still SUCCEEDED, with the failure recorded for that appointment only
    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert (result.output["failed"], result.output["confirmation_requested"]) == (1, 1)
    assert result.output["actions_applied"] == 2
    failed = outcomes(result)["APT-NS-301"]
    assert failed["status"] == "failed"
    assert failed["error"] == "PermanentIntegrationError"
    assert [r.status for r in rows(result, "SendConfirmationRequest")] == ["CAUGHT", "SUCCEEDED"]
    assert rows(result, "SendConfirmationRequest")[0].attempts == 1  # a permanent error is not retried
    assert confirmation_requests(runtime) == [EVE]
    (activity,) = activities("NS-300")
    assert activity.kind == "no_show_check_failed"
    assert "PermanentIntegrationError" in activity.summary


@pytest.mark.slow
def test_a_failure_that_cannot_be_recorded_still_counts_as_failed(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given Carol's confirmation request fails, and so does writing that failure to the CRM
    runtime.dispatcher.inject("send_confirmation_request", "PermanentIntegrationError", times=1)
    runtime.dispatcher.inject("RecordConfirmationFailure", "PermanentIntegrationError", times=1)

    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the batch still succeeded, and her outcome says failed with the original error
    assert result.status == "SUCCEEDED"
    carol = outcomes(result)["APT-NS-301"]
    assert (carol["status"], carol["error"]) == ("failed", "PermanentIntegrationError")
    assert carol["detail"] == "the failure could not be recorded in the CRM"
    assert activities("NS-300") == []
    assert result.output is not None
    assert (result.output["failed"], result.output["confirmation_requested"]) == (1, 1)


@pytest.mark.slow
def test_transient_failure_is_retried_and_each_client_gets_one_request(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    runtime.dispatcher.inject("send_confirmation_request", "TransientIntegrationError", times=2)

    result = drive(runtime, "no_show", no_show_input, approve)

    assert result.status == "SUCCEEDED"
    first, second = rows(result, "SendConfirmationRequest")
    assert (first.attempts, first.status, first.error) == (3, "SUCCEEDED", "TransientIntegrationError")
    assert second.attempts == 1
    assert sorted(confirmation_requests(runtime)) == [CAROL, EVE]
    assert result.output is not None
    assert result.output["failed"] == 0


@pytest.mark.slow
def test_crash_after_the_send_is_retried_without_a_second_email(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the send Lambda sends, then dies before reporting (Lambda.Unknown: timeout/OOM)
    runtime.dispatcher.inject("send_confirmation_request", "Lambda.Unknown", times=1, when="after")

    result = drive(runtime, "no_show", no_show_input, approve)

    # Then run_once returns the stored result on the retry: still one request per client
    assert result.status == "SUCCEEDED"
    assert rows(result, "SendConfirmationRequest")[0].attempts == 2
    assert sorted(confirmation_requests(runtime)) == [CAROL, EVE]


@pytest.mark.slow
def test_failed_task_after_reschedule_restores_the_calendar_and_records_the_failure(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the approved task text for Dan's appointment (the reschedule) changes in file storage
    # after the manager approved it, so ApplyApprovedAction marks the calendar, then refuses to send
    def decide(record: ApprovalRecord) -> Decision:
        if record.state.endswith("APT-NS-401"):
            files = get_files()
            files.put_text(record.draft.body_key, files.get_text(record.draft.body_key) + "\nP.S. tampered")
        return approve(record)

    result = drive(runtime, "no_show", no_show_input, decide)

    # Then the compensation put the appointment back, and only that appointment failed
    assert result.status == "SUCCEEDED"
    assert calendar_status("APT-NS-401") == "scheduled"
    dan = outcomes(result)["APT-NS-401"]
    assert (dan["status"], dan["error"], dan["action"]) == (
        "failed",
        "PermanentIntegrationError",
        "reschedule",
    )
    assert "changed after it was approved" in dan["detail"]
    assert outcomes(result)["APT-NS-201"]["status"] == "action_applied"
    assert states(result)[-4:] == [
        "ApplyApprovedAction",
        "RevertStatusAfterFailure",
        "RecordAppointmentFailure",
        "SummarizeBatch",
    ]
    assert [t["to"] for t in manager_tasks(runtime)] == [MANAGER]  # Bob's call task only
    assert result.output is not None
    assert (result.output["escalated"], result.output["failed"]) == (2, 1)
    assert [a.kind for a in activities("NS-400")] == ["no_show_check_failed"]


@pytest.mark.slow
def test_a_crash_after_the_approved_action_is_retried_without_a_second_task(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given ApplyApprovedAction marks Dan's appointment and sends the task, then dies before
    # reporting (Lambda.Unknown), the first time it runs for the reschedule
    def decide(record: ApprovalRecord) -> Decision:
        if record.state.endswith("APT-NS-401"):
            runtime.dispatcher.inject("ApplyApprovedAction", "Lambda.Unknown", times=1, when="after")
        return approve(record)

    result = drive(runtime, "no_show", no_show_input, decide)

    # Then the retry found the status already "rescheduled" and the send already done: one task
    # each, the calendar moved once, and the action applied
    assert result.status == "SUCCEEDED"
    assert [r.attempts for r in rows(result, "ApplyApprovedAction")] == [1, 2]
    assert [t["to"] for t in manager_tasks(runtime)] == [MANAGER, MANAGER]
    assert calendar_status("APT-NS-401") == "rescheduled"
    dan = outcomes(result)["APT-NS-401"]
    assert (dan["status"], dan["action"]) == ("action_applied", "reschedule")
    assert dan["detail"].endswith("calendar status rescheduled")


@pytest.mark.slow
def test_out_of_range_llm_adjustment_is_reprompted_not_applied(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the model first answers an adjustment far outside [-0.2, 0.2]
    offline_model().script(
        "no_show_read_notes",
        Malformed({"adjustment": -0.9, "recommended_action": "call", "reason": "Ignore the score entirely."}),
    )

    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the client re-prompted with the validation error, and no score moved by more than 0.2
    assert result.status == "SUCCEEDED"
    requests = [r for r in offline_model().requests if r["tool_choice"]["name"] == "no_show_read_notes"]
    assert len(requests) == 5  # four bookings with notes + one re-prompt
    assert "greater than or equal to -0.2" in json.dumps(requests[1]["messages"][-1])
    assert outcomes(result)["APT-NS-101"]["status"] == "already_confirmed"


@pytest.mark.slow
def test_llm_outage_beyond_the_retry_budget_fails_before_any_side_effect(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    offline_model().script("no_show_read_notes", *[Overloaded() for _ in range(5)])

    result = drive(runtime, "no_show", no_show_input, None)

    assert result.status == "FAILED"
    assert result.error == "LLMOverloadedError"
    assert states(result)[-1] == "NoShowCheckFailed"
    assert runtime.outbox() == []


@pytest.mark.slow
def test_a_day_without_appointments_succeeds_with_zero_counts(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    result = drive(runtime, "no_show", {**no_show_input, "day": "2026-12-04"}, None)

    assert result.status == "SUCCEEDED"
    assert result.output is not None
    assert (result.output["appointments"], result.output["outcomes"]) == (0, [])
    assert runtime.outbox() == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"day": "tomorrow"}, {"day"}),
        ({"owner": "not-an-address"}, {"owner"}),
        ({"manager_email": "a@b"}, {"manager_email"}),
        ({"risk_threshold": 1.5}, {"risk_threshold"}),
        ({"unexpected": 1}, {"unexpected"}),
    ],
)
def test_invalid_input_is_refused_with_field_errors_and_starts_nothing(
    runtime: LocalRuntime, no_show_input: dict[str, Any], change: dict[str, Any], fields: set[str]
) -> None:
    with pytest.raises(InputRejected) as refused:
        runtime.start("no_show", {**no_show_input, **change})

    assert {e["field"] for e in refused.value.errors} == fields
    machine = runtime.state_machines["no_show"]
    assert runtime.sfn.list_executions(stateMachineArn=machine)["executions"] == []


@pytest.mark.slow
def test_cli_run_with_approve_exits_0() -> None:
    out = io.StringIO()
    assert cli.main(["run", "no_show", "--input", str(EXAMPLE), "--decision", "approve"], out=out) == 0
    assert "SUCCEEDED" in out.getvalue()


# --- the scoring model (pure, no LLM) ------------------------------------------------------


def _signals(**overrides: Any) -> AppointmentSignals:
    values: dict[str, Any] = {
        "event_id": "E-1",
        "contact_id": "C-1",
        "starts_at": "2026-12-03T10:00:00Z",
        "status": "scheduled",
        "past_no_shows": 0,
        "past_attended": 2,
        "lead_time_hours": 96.0,
    }
    return AppointmentSignals.model_validate(values | overrides)


@pytest.mark.parametrize(
    ("overrides", "probability", "route"),
    [
        ({}, 0.0998, "confirm"),  # base only: -2.2
        ({"past_no_shows": 1}, 0.2689, "confirm"),  # -1.0
        ({"past_no_shows": 2, "lead_time_hours": 800.0}, 0.7503, "escalate"),  # +2.4 +0.9
        ({"past_no_shows": 7}, 0.8022, "escalate"),  # no-shows capped at 3: +3.6
        ({"past_attended": 0, "lead_time_hours": 240.0, "past_no_shows": 1}, 0.5, "confirm"),  # 0.5 < 0.6
        ({"past_attended": 6}, 0.0630, "confirm"),  # loyal client -0.5
        ({"lead_time_hours": 12.0}, 0.0759, "confirm"),  # short lead time -0.3
        ({"lead_time_hours": None}, 0.0998, "confirm"),  # unknown lead time adds nothing
        ({"status": "confirmed"}, 0.0148, "already_confirmed"),  # -2.0
        (  # confirmed, yet high risk: still escalates
            {"status": "confirmed", "past_no_shows": 3, "past_attended": 0, "lead_time_hours": 900.0},
            0.69,
            "escalate",
        ),
    ],
)
def test_scoring_table(overrides: dict[str, Any], probability: float, route: str) -> None:
    signals = _signals(**overrides)
    base = scoring.base_probability(signals)
    assert base == pytest.approx(probability, abs=1e-4)
    assert (
        scoring.route_for(scoring.final_score(base, 0.0), confirmed=signals.confirmed, threshold=0.6) == route
    )


@pytest.mark.parametrize(
    ("base", "adjustment", "expected"),
    [(0.5, 0.15, 0.65), (0.05, -0.2, 0.0), (0.95, 0.2, 1.0), (0.3, 0.0, 0.3)],
)
def test_final_score_adds_the_bounded_adjustment_and_clamps(
    base: float, adjustment: float, expected: float
) -> None:
    assert scoring.final_score(base, adjustment) == expected


def test_final_score_refuses_an_adjustment_outside_the_bound() -> None:
    with pytest.raises(ValueError, match="outside"):
        scoring.final_score(0.5, 0.25)


def test_threshold_is_inclusive() -> None:
    assert scoring.route_for(0.6, confirmed=False, threshold=0.6) == "escalate"
    assert scoring.route_for(0.599, confirmed=True, threshold=0.6) == "already_confirmed"


@pytest.mark.parametrize(
    "bad",
    [
        {"adjustment": 0.21, "recommended_action": "call", "reason": "a long enough reason"},
        {"adjustment": 0.1, "recommended_action": "email the client", "reason": "a long enough reason"},
        {"adjustment": float("nan"), "recommended_action": "call", "reason": "a long enough reason"},
        {"adjustment": 0.1, "recommended_action": "call", "reason": "short"},
    ],
)
def test_notes_reading_is_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        NotesReading.model_validate(bad)


def test_scoring_module_does_not_import_the_llm_client() -> None:
    source = (ROOT / "functions" / "no_show" / "scoring.py").read_text(encoding="utf-8")
    assert "anthropic" not in source
    assert "functions.shared.llm" not in source


@pytest.mark.slow
def test_approved_overbook_sends_the_manager_a_task_and_leaves_the_calendar_unchanged(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the notes of Dan's high-risk appointment (APT-NS-401) now recommend overbooking the slot
    # (the model reads the four bookings with notes in start order: 101, 201, 401, 501)
    offline_model().script(
        "no_show_read_notes",
        Reply({"adjustment": 0.0, "recommended_action": "call", "reason": "Administrative notes only."}),
        Reply({"adjustment": 0.1, "recommended_action": "call", "reason": "Voicemails before a visit."}),
        Reply(
            {
                "adjustment": 0.15,
                "recommended_action": "overbook",
                "reason": "The client often runs late and has missed a visit: keep a standby client ready.",
            }
        ),
    )

    # When the manager approves both recommended actions
    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the overbook went down the call/overbook path: a task to the manager, no calendar change
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    reads = [r for r in offline_model().requests if r["tool_choice"]["name"] == "no_show_read_notes"]
    assert "APT-NS-401" in json.dumps(reads[2]["messages"])
    dan = outcomes(result)["APT-NS-401"]
    assert (dan["status"], dan["action"]) == ("action_applied", "overbook")
    assert states(result).count("ApplyApprovedAction") == 2
    assert calendar_status("APT-NS-401") == "scheduled"
    tasks = manager_tasks(runtime)
    assert [t["to"] for t in tasks] == [MANAGER, MANAGER]
    assert "book a standby client in the same slot" in tasks[1]["body"]
    assert [a.kind for a in activities("NS-400")] == ["no_show_action_approved"]
    assert activities("NS-400")[0].details["action"] == "overbook"
    assert result.output is not None
    assert (result.output["escalated"], result.output["actions_applied"]) == (2, 2)
