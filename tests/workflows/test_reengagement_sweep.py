"""Re-engagement sweep scenarios: the real ASL on moto, the real handlers, the offline Claude model.

Each test seeds its own CRM (no demo seed): dormant clients of "Sweep Co" written straight into
the CRM table, a batch write per 25, so a 5,000-client sweep seeds in seconds.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.reengagement_sweep.draft_batch import PARALLEL_CALLS
from functions.reengagement_sweep.finalize_digest import left_out_by_edit
from functions.reengagement_sweep.models import BATCH_SIZE, SweepRequest
from functions.reengagement_sweep.send_batch import SENT_KIND
from functions.registry import WORKFLOWS
from functions.shared.adapters import get_crm, get_files
from functions.shared.adapters.dynamodb_crm import DynamoDbCrm
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import InvalidInputError
from functions.shared.llm.offline import Refusal, offline_model
from functions.shared.ports.crm import Contact
from local.runtime import LocalRuntime
from tests.workflows.conftest import approve, drive, reject, row, states

WORKFLOW = "reengagement_sweep"
PERIOD = "2026-W49"
APPROVER = "client-success@acme-demo.com"
HAPPY_PATH = [
    "FindDormantClients",
    "HasDormantClients",
    "DraftBatches",
    "RequestDigestApproval",
    "FinalizeDigest",
    "SendBatches",
    "SummarizeSweep",
]
LONG_AGO = (datetime.now(UTC) - timedelta(days=400)).isoformat()
RECENTLY = (datetime.now(UTC) - timedelta(days=3)).isoformat()


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    """A fresh moto account with every workflow deployed and an empty CRM."""
    with LocalRuntime(seed_dir=None) as local_runtime:
        yield local_runtime


def client_id(n: int) -> str:
    return f"SW-{n:05d}"


def address(n: int) -> str:
    return f"client{n:05d}@sweep-co.example"


def seed_clients(count: int, *, status: str = "dormant", updated_at: str = LONG_AGO, start: int = 0) -> None:
    """``count`` clients of Sweep Co, profiles only (the sweep reads profiles and activities)."""
    table = settings().crm_table
    dynamodb = client("dynamodb")
    items = [
        DynamoDbCrm._profile_item(
            Contact(
                contact_id=client_id(n),
                email=address(n),
                name=f"Client {n:05d} Person",
                company="Sweep Co",
                status=status,
                updated_at=updated_at,
            )
        )
        for n in range(start, start + count)
    ]
    for at in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[at : at + 25]]
        dynamodb.batch_write_item(RequestItems={table: batch})


def sweep(**changes: Any) -> dict[str, Any]:
    return {"period": PERIOD, "dormant_after_days": 90, **changes}


def client_emails(runtime: LocalRuntime) -> Counter[str]:
    """Re-engagement emails per recipient (approval requests to staff left out)."""
    return Counter(e["to"] for e in runtime.outbox() if e["to"].endswith("@sweep-co.example"))


def full_history(runtime: LocalRuntime, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = runtime.sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def largest_payload(events: list[dict[str, Any]]) -> int:
    """The largest state input/output or Lambda result in the history, in bytes."""
    sizes = [0]
    for event in events:
        for key, details in event.items():
            if key.endswith("EventDetails") and isinstance(details, dict):
                for field in ("input", "output"):
                    if isinstance(details.get(field), str):
                        sizes.append(len(details[field].encode()))
    return max(sizes)


def digest_of(runtime: LocalRuntime, record: ApprovalRecord) -> str:
    return get_files().get_text(record.draft.body_key)


# --- the 5,000-client sweep --------------------------------------------------------------------


@pytest.mark.slow
def test_a_5000_client_sweep_succeeds_with_small_state_and_a_short_parent_history(
    runtime: LocalRuntime,
) -> None:
    # Given 5,000 dormant clients and 100 active ones
    seed_clients(5_000)
    seed_clients(100, status="client", updated_at=RECENTLY, start=5_000)

    # When the sweep runs and the approver approves the digest
    arn = runtime.start(WORKFLOW, sweep())
    (record,) = runtime.approvals_to_decide(arn, timeout_s=900)
    runtime.decide(record, Decision(decision="approve", comment="go"))
    runtime.wait(arn, timeout_s=900)
    result = runtime.result(arn)

    # Then it succeeded and every dormant client got exactly one email, the active ones none
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert (result.output["dormant"], result.output["sent"], result.output["draft_failed"]) == (
        5_000,
        5_000,
        0,
    )
    sent = client_emails(runtime)
    assert len(sent) == 5_000
    assert set(sent.values()) == {1}
    assert address(5_000) not in sent
    # and the state never carried the clients: the largest input/output stays under 64 KiB
    events = full_history(runtime, arn)
    assert largest_payload(events) < 64 * 1024
    # and the history grows with batches (200), not clients, far from 25,000 events
    batches = 5_000 // BATCH_SIZE
    assert len(events) < 40 + 2 * 9 * batches < 25_000, len(events)
    # and one approval was asked, on a digest listing every client
    assert "[SW-04999]" in digest_of(runtime, record)


# --- reruns, edits, rejections --------------------------------------------------------------------


def test_a_rerun_of_the_same_period_sends_nothing_twice(runtime: LocalRuntime) -> None:
    # Given 30 clients marked dormant (two batches) and one sweep of the period, approved
    seed_clients(30)
    first = drive(runtime, WORKFLOW, sweep(), approve)
    assert first.status == "SUCCEEDED", first.cause
    assert first.output is not None
    assert first.output["sent"] == 30

    # When the same period is swept again (a second schedule delivery, or a person re-running it)
    again = drive(runtime, WORKFLOW, sweep(), approve)

    # Then the rerun finds them (still status dormant) but sends nothing: each client got one email
    assert again.status == "SUCCEEDED", again.cause
    assert again.output is not None
    assert (again.output["sent"], again.output["already_sent"]) == (0, 30)
    assert set(client_emails(runtime).values()) == {1}
    assert len(client_emails(runtime)) == 30
    # and each client's timeline shows one re-engagement for the period
    timeline = get_crm().list_activities(client_id(7))
    assert [a.kind for a in timeline] == [SENT_KIND]
    assert timeline[0].details["period"] == PERIOD

    # and a new period is a new action: the same clients are written to again
    later = drive(runtime, WORKFLOW, sweep(period="2026-W50"), approve)
    assert later.output is not None
    assert later.output["sent"] == 30


def test_a_scheduled_start_with_a_timestamp_is_the_week_it_falls_in() -> None:
    # Given the schedule's input: EventBridge Scheduler's <aws.scheduler.scheduled-time>
    request = SweepRequest(period="2026-12-07T08:00:00Z")

    # Then the sweep's period (the business key of every send) is that ISO week
    assert request.period == "2026-W50"
    assert SweepRequest(period="2026-W49").period == "2026-W49"
    with pytest.raises(ValueError, match="ISO week"):
        SweepRequest(period="next tuesday")
    with pytest.raises(ValueError, match="ISO week"):
        SweepRequest(period="2026-W60")


def test_a_run_started_by_the_schedule_sweeps_the_week_and_asks_the_directory_default(
    runtime: LocalRuntime,
) -> None:
    # Given the schedule's input as EventBridge Scheduler sends it (no API in between: no
    # validation, no approver filled in), for a run due on Monday 7 December 2026 at 07:00 UTC
    seed_clients(2)
    spec = WORKFLOWS[WORKFLOW].schedule
    assert spec is not None
    scheduled = spec.input_json.replace("<aws.scheduler.scheduled-time>", "2026-12-07T07:00:00Z")

    # When Scheduler starts the state machine with it (no name: Step Functions makes one, a UUID;
    # moto leaves $$.Execution.Name empty then, so the test gives one of that shape)
    arn = runtime.sfn.start_execution(
        stateMachineArn=runtime.state_machines[WORKFLOW], name=str(uuid.uuid4()), input=scheduled
    )["executionArn"]
    (record,) = runtime.approvals_to_decide(arn, timeout_s=120)
    runtime.decide(record, Decision(decision="approve", comment="ok"))
    runtime.wait(arn, timeout_s=120)
    result = runtime.result(arn)

    # Then the directory's default approved the week 2026-W50's sweep, and both clients were written to
    assert record.approver == APPROVER
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert (result.output["period"], result.output["sent"]) == ("2026-W50", 2)


def test_the_approver_drops_clients_by_deleting_their_lines(runtime: LocalRuntime) -> None:
    # Given five dormant clients
    seed_clients(5)

    # When the approver deletes two client lines from the digest and approves
    def drop_two(record: ApprovalRecord) -> Decision:
        kept = [
            line
            for line in digest_of(runtime, record).splitlines()
            if not line.startswith(("[SW-00001]", "[SW-00003]"))
        ]
        return Decision(decision="approve", comment="not those two", edited_body="\n".join(kept))

    result = drive(runtime, WORKFLOW, sweep(), drop_two)

    # Then only the other three were written to
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert (result.output["approved"], result.output["dropped"], result.output["sent"]) == (3, 2, 3)
    assert set(client_emails(runtime)) == {address(0), address(2), address(4)}


def test_a_long_digest_is_edited_with_drop_lines(runtime: LocalRuntime) -> None:
    # Given sixty dormant clients (a digest longer than an edit may be)
    seed_clients(60)

    # When the approver replaces the digest with two drop lines
    edit = Decision(decision="approve", comment="skip", edited_body="drop SW-00010\nDROP SW-00042\n")
    result = drive(runtime, WORKFLOW, sweep(), lambda record: edit)

    # Then all but those two got their email
    assert result.status == "SUCCEEDED", result.cause
    assert result.output is not None
    assert (result.output["dropped"], result.output["sent"]) == (2, 58)
    assert address(10) not in client_emails(runtime)
    assert address(42) not in client_emails(runtime)


def test_an_edit_dropping_an_unknown_client_fails_the_sweep_before_anything_is_sent(
    runtime: LocalRuntime,
) -> None:
    # Given three dormant clients
    seed_clients(3)

    # When the approver's edit drops a client the digest never listed (a typo)
    edit = Decision(decision="approve", comment="skip", edited_body="drop SW-99999\n")
    result = drive(runtime, WORKFLOW, sweep(), lambda record: edit)

    # Then FinalizeDigest refuses it and the sweep fails with that error; nobody was written to
    assert result.status == "FAILED"
    assert result.error == "InvalidInputError"
    assert row(result, "FinalizeDigest").status == "CAUGHT"
    assert states(result)[-1] == "SweepFailed"
    assert not client_emails(runtime)


def test_the_edit_rules_on_their_own() -> None:
    drafted = {"A-1", "A-2", "A-3"}
    assert left_out_by_edit("drop A-2\nanything else", drafted) == {"A-2"}
    assert left_out_by_edit("[A-1] x\n[A-3] y\n", drafted) == {"A-2"}
    with pytest.raises(InvalidInputError, match="not asked about"):
        left_out_by_edit("[A-1] x\n[B-9] y\n", drafted)


def test_a_rejected_digest_sends_nothing(runtime: LocalRuntime) -> None:
    # Given four dormant clients
    seed_clients(4)

    # When the approver rejects the digest
    result = drive(runtime, WORKFLOW, sweep(), reject)

    # Then the run ends rejected, as designed, and nobody was written to
    assert result.status == "SUCCEEDED", result.cause
    assert states(result)[-2:] == ["RequestDigestApproval", "CloseRejected"]
    assert result.output is not None
    assert result.output["status"] == "rejected"
    assert "too pushy" in result.output["detail"]
    assert not client_emails(runtime)
    assert get_crm().list_activities(client_id(0)) == []


def test_a_digest_nobody_decides_expires_and_sends_nothing(runtime: LocalRuntime) -> None:
    # Given four dormant clients and an approval whose deadline passes (the task times out)
    seed_clients(4)
    runtime.time_out("RequestDigestApproval", after_s=1.0)

    # When nobody decides
    arn = runtime.start(WORKFLOW, sweep())
    runtime.wait(arn, timeout_s=120)
    result = runtime.result(arn)

    # Then the link is expired and the run ends expired with nothing sent
    assert result.status == "SUCCEEDED", result.cause
    assert states(result)[-3:] == ["RequestDigestApproval", "ExpireDigestApproval", "CloseRejected"]
    assert result.output is not None
    assert result.output["status"] == "expired"
    assert not client_emails(runtime)
    assert {r.status for r in runtime.approvals().store.for_execution(arn.rsplit(":", 1)[-1])} == {"EXPIRED"}


def test_the_sla_sweeper_expiring_the_digest_ends_the_sweep_expired(runtime: LocalRuntime) -> None:
    # Given a digest waiting for the approver
    seed_clients(2)
    arn = runtime.start(WORKFLOW, sweep())
    assert runtime.wait(arn, until="approval", timeout_s=120)["status"] == "RUNNING"
    (record,) = runtime.pending_approvals(arn.rsplit(":", 1)[-1])

    # When the approval's expiry passes (the sweeper resumes the run with ApprovalExpired)
    assert runtime.approvals().expire(record)
    runtime.wait(arn, timeout_s=120)
    result = runtime.result(arn)

    # Then nothing was sent
    assert result.output is not None
    assert result.output["status"] == "expired"
    assert states(result)[-2:] == ["RequestDigestApproval", "CloseRejected"]
    assert not client_emails(runtime)


# --- failures -------------------------------------------------------------------------------------


def test_one_failing_draft_is_recorded_and_the_sweep_sends_the_others(runtime: LocalRuntime) -> None:
    # Given six dormant clients, and a model that refuses one of them
    seed_clients(6)
    offline_model().script("referral_reengagement_email", Refusal())
    seen: list[str] = []

    def read_and_approve(record: ApprovalRecord) -> Decision:
        seen.append(digest_of(runtime, record))
        return approve(record)

    # When the sweep runs and the digest is approved
    result = drive(runtime, WORKFLOW, sweep(), read_and_approve)

    # Then the refusal was recorded for that client, the batch went on, the sweep succeeded
    assert result.status == "SUCCEEDED", result.cause
    assert row(result, "DraftBatch").status == "SUCCEEDED"
    assert result.output is not None
    assert (result.output["drafted"], result.output["draft_failed"], result.output["sent"]) == (5, 1, 5)
    assert "NOT DRAFTED (LLMRefusalError)" in seen[0]
    assert len(client_emails(runtime)) == 5


def test_no_dormant_client_ends_without_asking_anyone(runtime: LocalRuntime) -> None:
    # Given only active clients
    seed_clients(3, status="client", updated_at=RECENTLY)

    result = drive(runtime, WORKFLOW, sweep(), None)

    assert result.status == "SUCCEEDED", result.cause
    assert states(result) == ["FindDormantClients", "HasDormantClients", "NoDormantClients"]
    assert result.output == {
        "status": "no_dormant_clients",
        "period": PERIOD,
        "detail": "no dormant client found",
        "dormant": 0,
    }
    assert runtime.outbox() == []


def test_drafting_that_fails_for_a_whole_batch_fails_the_sweep_before_any_approval(
    runtime: LocalRuntime,
) -> None:
    # Given a batch whose drafting fails with an error no retry helps (the files bucket refuses)
    seed_clients(3)
    runtime.dispatcher.inject("draft_batch", "PermanentIntegrationError", times=1)

    result = drive(runtime, WORKFLOW, sweep(), None)

    # Then the sweep fails with that error; nobody was asked, nothing sent
    assert result.status == "FAILED"
    assert result.error == "PermanentIntegrationError"
    assert states(result)[-1] == "SweepFailed"
    assert "RequestDigestApproval" not in states(result)
    assert runtime.outbox() == []


def test_an_approval_request_that_fails_is_cancelled_and_fails_the_sweep(runtime: LocalRuntime) -> None:
    seed_clients(3)
    runtime.dispatcher.inject("request_digest_approval", "PermanentIntegrationError", times=1)

    result = drive(runtime, WORKFLOW, sweep(), None)

    assert result.status == "FAILED"
    assert states(result)[-3:] == ["RequestDigestApproval", "CancelDigestApprovalAfterFailure", "SweepFailed"]
    assert not client_emails(runtime)


def test_a_batch_that_cannot_send_is_counted_and_a_rerun_sends_the_rest_once(runtime: LocalRuntime) -> None:
    # Given two batches of dormant clients, and a send that fails for good on the first batch run
    seed_clients(BATCH_SIZE + 5)
    runtime.dispatcher.inject("send_batch", "PermanentIntegrationError", times=1)

    # When the sweep is approved
    result = drive(runtime, WORKFLOW, sweep(), approve)

    # Then the other batch was sent, the failed one is counted, and the sweep succeeded
    assert result.status == "SUCCEEDED", result.cause
    assert "BatchNotSent" in states(result)
    assert result.output is not None
    assert result.output["batches_not_sent"] == 1
    first_sent = result.output["sent"]
    assert first_sent in {5, BATCH_SIZE}
    assert "rerun the period" in result.output["detail"]

    # When the period is run again
    again = drive(runtime, WORKFLOW, sweep(), approve)

    # Then the rest is sent and nobody got two emails
    assert again.output is not None
    assert again.output["sent"] == BATCH_SIZE + 5 - first_sent
    assert set(client_emails(runtime).values()) == {1}
    assert len(client_emails(runtime)) == BATCH_SIZE + 5


def test_a_batch_drafts_well_inside_its_lambda_timeout_at_a_slow_10_s_a_call() -> None:
    # The arithmetic of draft_batch.py's docstring, against what CDK deploys
    draft = WORKFLOWS[WORKFLOW].step("draft_batch")
    rounds = 1 + -(-(BATCH_SIZE - 1) // PARALLEL_CALLS)  # the first call alone, then 5 at a time
    assert rounds * 10 * 2 <= draft.timeout_seconds, (rounds, draft.timeout_seconds)


def test_the_state_never_holds_the_clients(runtime: LocalRuntime) -> None:
    # Given 80 dormant clients (four batches)
    seed_clients(80)

    result = drive(runtime, WORKFLOW, sweep(), approve)

    # Then no client id or address appears in any state input or output of the run
    history = json.dumps(full_history(runtime, result.execution_arn), default=str)
    assert "SW-00" not in history
    assert "sweep-co.example" not in history


def test_batches_drafted_at_10_s_a_call_finish_inside_the_enforced_timeout(runtime: LocalRuntime) -> None:
    # Given two full batches and Claude answering in 10 s a call (simulated: nothing sleeps)
    seed_clients(BATCH_SIZE * 2)
    runtime.simulate_llm_latency(seconds=10)

    # When the sweep runs
    result = drive(runtime, WORKFLOW, sweep(), approve)

    # Then no draft batch timed out (6 rounds x 10 s of the 120 s) and everyone was written to once
    drafts = [i for i in runtime.dispatcher.invocations if i.step == "draft_batch"]
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [i.error for i in drafts] == [None, None]
    assert len(client_emails(runtime)) == BATCH_SIZE * 2


def test_a_draft_batch_past_its_timeout_fails_the_sweep_before_any_approval(runtime: LocalRuntime) -> None:
    # Given Claude answering in 30 s a call: one batch needs 6 rounds x 30 s of its 120 s
    seed_clients(BATCH_SIZE)
    runtime.simulate_llm_latency(seconds=30)

    # When the sweep runs
    result = drive(runtime, WORKFLOW, sweep(), approve)

    # Then the batch timed out as on AWS, the sweep failed at DraftBatches, and nobody was asked or written to
    drafts = [i for i in runtime.dispatcher.invocations if i.step == "draft_batch"]
    assert "Sandbox.Timedout" in [i.error for i in drafts]
    assert result.status == "FAILED"
    assert "RequestDigestApproval" not in states(result)
    assert runtime.outbox() == []
