"""No-show scenarios: the real ASL (Map + per-appointment approvals) on moto, the real handlers,
the offline Claude model; plus the scoring model's table of cases (no LLM)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from functions.no_show import score_batch, scoring
from functions.no_show.models import AppointmentSignals, NotesReading
from functions.registry import ROOT
from functions.shared.adapters import get_calendar, get_crm, get_files
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.llm.offline import BadRequest, Refusal, Reply, offline_model
from local import cli
from local.runtime import InputRejected, LocalRuntime, RunResult
from tests.workflows.conftest import activities, approve, drive, reject, row, states

EXAMPLE = ROOT / "examples" / "no_show.json"
MANAGER = "frontdesk-manager@acme-demo.com"
CAROL, EVE = "carol.nguyen@clients.example", "eve.santos@clients.example"


@pytest.fixture
def no_show_input() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return loaded


def outcomes(result: RunResult) -> dict[str, dict[str, Any]]:
    """Every appointment's outcome, from the file the summary wrote (the output holds its key)."""
    assert result.output is not None
    stored = get_files().get_json(result.output["outcomes_key"])
    return {o["event_id"]: o for o in stored}


def counts(result: RunResult) -> dict[str, Any]:
    assert result.output is not None
    return {k: v for k, v in result.output.items() if k not in {"outcomes_key", "outcomes_sha256"}}


def confirmation_requests(runtime: LocalRuntime) -> list[str]:
    return [e["to"] for e in runtime.outbox() if e["subject"].startswith("Please confirm")]


def manager_tasks(runtime: LocalRuntime) -> list[dict[str, Any]]:
    return [e for e in runtime.outbox() if e["subject"].startswith("Task:")]


def digest_requests(runtime: LocalRuntime) -> list[dict[str, Any]]:
    return [e for e in runtime.outbox() if e["subject"].startswith("Approval needed")]


def calendar_status(event_id: str) -> str:
    event = get_calendar().get_event(event_id)
    assert event is not None
    return event.status


def edit(body: str) -> Callable[[ApprovalRecord], Decision]:
    def decide(record: ApprovalRecord) -> Decision:
        return Decision(decision="approve", comment="with edits", edited_body=body)

    return decide


# --- scenarios -----------------------------------------------------------------------------


@pytest.mark.slow
def test_mixed_day_confirms_low_risk_once_and_applies_the_approved_digest(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given five open appointments tomorrow: two low risk, one already confirmed, two high risk
    # When the manager approves the day's digest
    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the day succeeded with its counts; the outcomes are in a file, not in the output
    assert result.status == "SUCCEEDED", (result.error, result.cause, states(result))
    assert counts(result) == {
        "status": "completed",
        "day": "2026-12-03",
        "owner": "dr.kim@stepwise.example",
        "appointments": 5,
        "confirmation_requested": 2,
        "already_confirmed": 1,
        "escalated": 2,
        "actions_applied": 2,
        "dropped": 0,
        "rejected": 0,
        "expired": 0,
        "failed": 0,
        "skipped": 1,  # the cancelled appointment
        "model_calls": 4,  # four bookings with notes
        "cached_scores": 0,
        "points_only": 0,
    }
    by_id = outcomes(result)
    assert list(by_id) == ["APT-NS-101", "APT-NS-301", "APT-NS-501", "APT-NS-201", "APT-NS-401"]
    assert by_id["APT-NS-101"]["status"] == "already_confirmed"
    assert by_id["APT-NS-201"]["action"] == "call"
    assert by_id["APT-NS-401"]["action"] == "reschedule"
    assert by_id["APT-NS-201"]["score"] == 0.85  # 0.7503 from the points model + 0.1 from the notes
    # and each low-risk client got exactly one confirmation request, at the CRM address
    assert sorted(confirmation_requests(runtime)) == [CAROL, EVE]
    # and the manager got ONE approval request listing both high-risk appointments, then one task list
    (digest,) = digest_requests(runtime)
    assert digest["to"] == MANAGER
    assert "[APT-NS-201] call" in digest["body"]
    assert "[APT-NS-401] reschedule" in digest["body"]
    (tasks,) = manager_tasks(runtime)
    assert tasks["to"] == MANAGER
    assert "[APT-NS-201] call" in tasks["body"]
    assert "[APT-NS-401] reschedule" in tasks["body"]
    # and only the approved reschedule changed the calendar; confirmations wait for the reply
    assert calendar_status("APT-NS-401") == "rescheduled"
    assert calendar_status("APT-NS-201") == "scheduled"
    assert calendar_status("APT-NS-301") == "scheduled"
    # and the CRM timelines show what happened
    assert [a.kind for a in activities("NS-300")] == ["confirmation_requested"]
    assert [a.kind for a in activities("NS-200")] == ["no_show_action_approved"]
    assert [a.kind for a in activities("NS-400")] == ["no_show_action_approved"]
    assert activities("NS-100") == []
    # and the parent history holds the top-level states only: the batch steps ran as Map children
    assert states(result) == [
        "CollectSignals",
        "ScoreBatches",
        "RequestConfirmations",
        "PrepareDigest",
        "AnyEscalations",
        "RequestDigestApproval",
        "SettleApprovedDigest",
        "ApplyApprovedActions",
        "SummarizeDay",
    ]


@pytest.mark.slow
def test_every_notes_reading_keeps_its_own_audit_record(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given a day where ScoreBatch asks Claude once per appointment with notes
    result = drive(runtime, "no_show", no_show_input, approve)
    calls = [r for r in offline_model().requests if r["tool_choice"]["name"] == "no_show_read_notes"]
    assert len(calls) == 4

    # When the run's audit objects for that step are listed
    name = result.execution_arn.rsplit(":", 1)[-1]
    listed = client("s3").list_objects_v2(Bucket=settings().audit_bucket, Prefix=f"audit/{name}/score_batch/")
    keys = [item["Key"] for item in listed.get("Contents", [])]

    # Then there is one record per call (none overwritten, although they ran in parallel)
    assert len(keys) == len(calls)
    assert all(key.split("/")[-1].startswith("0-APT-") for key in keys), keys


@pytest.mark.slow
def test_rerun_of_the_same_day_pays_no_model_call_and_sends_nothing_twice(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given a day that ran to the end
    first = drive(runtime, "no_show", no_show_input, approve)
    assert counts(first)["model_calls"] == 4
    sent = runtime.outbox()

    # When the same day runs again (a fresh execution) and the manager approves again
    second = drive(runtime, "no_show", no_show_input, approve)

    # Then every notes reading came from the score cache (the rescheduled appointment is no longer
    # open, so three of the four), and only the new digest request went out
    assert second.status == "SUCCEEDED"
    assert (counts(second)["appointments"], counts(second)["model_calls"]) == (4, 0)
    assert counts(second)["cached_scores"] == 3
    new = runtime.outbox()[len(sent) :]
    assert [e["subject"].split(":")[0] for e in new] == ["Approval needed"]
    assert sorted(confirmation_requests(runtime)) == [CAROL, EVE]
    assert [a.kind for a in activities("NS-400")] == ["no_show_action_approved"]


@pytest.mark.slow
def test_manager_rejects_the_digest_and_nothing_is_applied(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    result = drive(runtime, "no_show", no_show_input, reject)

    assert result.status == "SUCCEEDED"
    assert (counts(result)["rejected"], counts(result)["actions_applied"]) == (2, 0)
    by_id = outcomes(result)
    assert by_id["APT-NS-201"]["status"] == "escalation_rejected"
    assert by_id["APT-NS-201"]["decided_by"] == MANAGER
    assert "too pushy" in by_id["APT-NS-201"]["detail"]
    assert row(result, "RequestDigestApproval").status == "CAUGHT"
    assert states(result)[-2:] == ["RecordDigestNotApproved", "SummarizeDay"]
    # nothing was applied: no task, the calendar is unchanged; the confirmations still went out
    assert manager_tasks(runtime) == []
    assert calendar_status("APT-NS-401") == "scheduled"
    assert activities("NS-400") == []
    assert sorted(confirmation_requests(runtime)) == [CAROL, EVE]


@pytest.mark.slow
def test_manager_drops_one_appointment_by_deleting_its_line(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the manager approves the digest with the reschedule's line deleted
    def decide(record: ApprovalRecord) -> Decision:
        body = get_files().get_text(record.draft.body_key)
        kept = "\n".join(line for line in body.splitlines() if "[APT-NS-401]" not in line)
        return edit(kept)(record)

    result = drive(runtime, "no_show", no_show_input, decide)

    # Then only the call was applied; the reschedule is recorded as dropped, the calendar untouched
    assert result.status == "SUCCEEDED"
    assert (counts(result)["actions_applied"], counts(result)["dropped"]) == (1, 1)
    by_id = outcomes(result)
    assert (by_id["APT-NS-401"]["status"], by_id["APT-NS-401"]["decided_by"]) == ("action_dropped", MANAGER)
    assert by_id["APT-NS-201"]["status"] == "action_applied"
    assert calendar_status("APT-NS-401") == "scheduled"
    (tasks,) = manager_tasks(runtime)
    assert "APT-NS-401" not in tasks["body"]


@pytest.mark.slow
def test_a_drop_line_leaves_an_appointment_out_and_edits_never_add_actions(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the manager replaces the text with a drop line and an invented line
    decide = edit("drop APT-NS-201\n[APT-NS-301] reschedule (risk 99%): invented by the editor")

    result = drive(runtime, "no_show", no_show_input, decide)

    # Then only the reschedule was applied; the invented action did nothing
    assert result.status == "SUCCEEDED"
    by_id = outcomes(result)
    assert by_id["APT-NS-201"]["status"] == "action_dropped"
    assert by_id["APT-NS-401"]["status"] == "action_applied"
    assert by_id["APT-NS-301"]["status"] == "confirmation_requested"
    assert calendar_status("APT-NS-301") == "scheduled"
    assert counts(result)["actions_applied"] == 1


@pytest.mark.slow
def test_an_expired_digest_applies_nothing(runtime: LocalRuntime, no_show_input: dict[str, Any]) -> None:
    # Given nobody decides and the approval's deadline passes (the sweeper resumes with ApprovalExpired)
    arn = runtime.start("no_show", no_show_input)
    (record,) = runtime.approvals_to_decide(arn)
    assert runtime.approvals().expire(record)
    runtime.wait(arn)
    result = runtime.result(arn)

    # Then the day still succeeded and every high-risk appointment is recorded as expired
    assert result.status == "SUCCEEDED"
    assert (counts(result)["expired"], counts(result)["actions_applied"]) == (2, 0)
    assert outcomes(result)["APT-NS-401"]["status"] == "escalation_expired"
    assert manager_tasks(runtime) == []
    assert calendar_status("APT-NS-401") == "scheduled"


@pytest.mark.slow
def test_one_refused_and_one_failing_score_fall_back_to_points_only(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the model refuses one booking's notes and answers another with invalid output twice
    offline_model().script("no_show_read_notes", Refusal(), BadRequest())

    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the day SUCCEEDED; two appointments kept their points-only score, and the lines say why
    assert result.status == "SUCCEEDED"
    assert counts(result)["points_only"] == 2
    assert result.output is not None
    scored = [
        line
        for path in get_files().get_json(f"{prefix_of(result)}/batches.json")
        for line in get_files().get_json(path["key"].replace("/batches/", "/scored/"))["lines"]
    ]
    fallbacks = sorted(line["fallback"].split(":")[0] for line in scored if line["fallback"])
    assert fallbacks == ["LLMRefusalError", "LLMRequestError"]
    assert all(line["adjustment"] == 0.0 for line in scored if line["fallback"])


def prefix_of(result: RunResult) -> str:
    assert result.output is not None
    return str(result.output["outcomes_key"]).removesuffix("/outcomes.json")


@pytest.mark.slow
def test_a_day_without_appointments_succeeds_with_zero_counts(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    result = drive(runtime, "no_show", {**no_show_input, "day": "2026-12-04"}, None)

    assert result.status == "SUCCEEDED"
    assert counts(result)["appointments"] == 0
    assert outcomes(result) == {}
    assert runtime.outbox() == []
    assert "RequestDigestApproval" not in states(result)


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
    runtime: LocalRuntime, no_show_input: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the notes of Dan's high-risk appointment (APT-NS-401) now recommend overbooking the slot
    # (one scoring thread, so the model reads the four bookings with notes in start order: 101, 201,
    # 401, 501)
    monkeypatch.setattr(score_batch, "LLM_THREADS", 1)
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

    # When the manager approves the digest
    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the overbook is on the manager's task list, and the calendar is unchanged
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    reads = [r for r in offline_model().requests if r["tool_choice"]["name"] == "no_show_read_notes"]
    assert "APT-NS-401" in json.dumps(reads[2]["messages"])
    dan = outcomes(result)["APT-NS-401"]
    assert (dan["status"], dan["action"]) == ("action_applied", "overbook")
    assert calendar_status("APT-NS-401") == "scheduled"
    (tasks,) = manager_tasks(runtime)
    assert "[APT-NS-401] overbook: keep the appointment and book a standby client" in tasks["body"]
    assert [a.kind for a in activities("NS-400")] == ["no_show_action_approved"]
    assert activities("NS-400")[0].details["action"] == "overbook"
    assert (counts(result)["escalated"], counts(result)["actions_applied"]) == (2, 2)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "map_state"),
    [
        ("score_batch", "ScoreBatches"),
        ("send_confirmations", "RequestConfirmations"),
        ("apply_approved_actions", "ApplyApprovedActions"),
    ],
)
def test_a_batch_that_fails_after_its_retries_fails_the_day_at_its_map(
    runtime: LocalRuntime, no_show_input: dict[str, Any], step: str, map_state: str
) -> None:
    # Given one batch step fails permanently (no child failure is tolerated: the Map run fails,
    # as on AWS; moto went on without the child's result, local/map_tolerance.py)
    runtime.dispatcher.inject(step, "PermanentIntegrationError", times=1)

    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the day FAILED at that Map with the threshold error, and nothing summarized it away
    assert result.status == "FAILED"
    assert result.error == "States.ExceedToleratedFailureThreshold"
    assert "1 of 1 child executions failed" in (result.cause or "")
    assert states(result)[-2:] == [map_state, "NoShowCheckFailed"]
    assert "SummarizeDay" not in states(result)
    caught = next(r for r in result.timeline if r.state == map_state)
    assert (caught.status, caught.error) == ("CAUGHT", "States.ExceedToleratedFailureThreshold")


@pytest.mark.slow
def test_a_client_who_may_not_be_contacted_is_recorded_as_failed_and_the_day_goes_on(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given Carol (APT-NS-301, low risk) asked not to be contacted
    crm = get_crm()
    carol = crm.get_contact("NS-300")
    assert carol is not None
    crm.put_contact(carol.model_copy(update={"do_not_contact": True}))

    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the day SUCCEEDED; her outcome and CRM timeline say why, and only Eve was asked
    assert result.status == "SUCCEEDED"
    failed = outcomes(result)["APT-NS-301"]
    assert (failed["status"], failed["error"]) == ("failed", "BusinessRuleError")
    assert (counts(result)["failed"], counts(result)["confirmation_requested"]) == (1, 1)
    assert confirmation_requests(runtime) == [EVE]
    assert [a.kind for a in activities("NS-300")] == ["no_show_check_failed"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("step", "error", "when"),
    [
        ("send_confirmations", "TransientIntegrationError", "before"),
        ("send_confirmations", "Lambda.Unknown", "after"),  # sent, then the Lambda died
        ("apply_approved_actions", "Lambda.Unknown", "after"),
        ("score_batch", "LLMOverloadedError", "before"),
    ],
)
def test_a_batch_retried_after_a_fault_repeats_no_effect(
    runtime: LocalRuntime, no_show_input: dict[str, Any], step: str, error: str, when: str
) -> None:
    # Given one batch step fails once (before it ran, or after its effects landed)
    runtime.dispatcher.inject(step, error, times=1, when=when)  # type: ignore[arg-type]

    result = drive(runtime, "no_show", no_show_input, approve)

    # Then the child's Retry ran it again and the day is as if nothing happened: one request per
    # client, one task list, one CRM activity per action, the reschedule applied once
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    attempts = [i for i in runtime.dispatcher.invocations if i.step == step]
    assert [i.error for i in attempts] == [error, None]
    assert sorted(confirmation_requests(runtime)) == [CAROL, EVE]
    assert len(manager_tasks(runtime)) == 1
    assert [a.kind for a in activities("NS-400")] == ["no_show_action_approved"]
    assert calendar_status("APT-NS-401") == "rescheduled"
    assert counts(result)["failed"] == 0


@pytest.mark.slow
def test_a_rejection_that_cannot_be_recorded_fails_the_day_with_its_error(
    runtime: LocalRuntime, no_show_input: dict[str, Any]
) -> None:
    # Given the manager rejects, and recording the rejection fails permanently
    runtime.dispatcher.inject("RecordDigestNotApproved", "PermanentIntegrationError", times=1)

    result = drive(runtime, "no_show", no_show_input, reject)

    # Then the run FAILED with that error (nothing was applied either way)
    assert result.status == "FAILED"
    assert result.error == "PermanentIntegrationError"
    assert states(result)[-2:] == ["RecordDigestNotApproved", "NoShowCheckFailed"]
    assert manager_tasks(runtime) == []
    assert calendar_status("APT-NS-401") == "scheduled"
