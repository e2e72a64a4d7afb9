"""no_show on a busy day under the enforced Lambda timeout (``local/limits.py``): Claude's latency is
simulated per call, nothing sleeps."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from bench.happy_paths import approve
from functions.registry import ROOT
from functions.shared.llm.offline import offline_model
from local import cli
from local.runtime import LocalRuntime


def _busy_day(tmp_path: Path, appointments: int) -> Path:
    """The demo seed with ``appointments`` more bookings with notes on the example's day."""
    seed = tmp_path / "seed"
    shutil.copytree(ROOT / "examples" / "seed", seed)
    calendar_path, crm_path = seed / "no_show" / "calendar.json", seed / "no_show" / "crm.json"
    calendar, crm = json.loads(calendar_path.read_text()), json.loads(crm_path.read_text())
    template = next(e for e in calendar["events"] if e["event_id"] == "APT-NS-201")
    contact = next(c for c in crm["contacts"] if c["contact_id"] == template["contact_id"])
    for n in range(appointments):
        contact_id = f"NS-9{n:03d}"
        calendar["events"].append(
            {
                **template,
                "event_id": f"APT-NS-9{n:03d}",
                "contact_id": contact_id,
                "starts_at": f"2026-12-03T{8 + n % 10:02d}:{n // 10 * 10 % 60:02d}:00Z",
                "ends_at": f"2026-12-03T{8 + n % 10:02d}:{n // 10 * 10 % 60 + 5:02d}:00Z",
            }
        )
        crm["contacts"].append({**contact, "contact_id": contact_id, "email": f"client{n}@clients.example"})
    calendar_path.write_text(json.dumps(calendar))
    crm_path.write_text(json.dumps(crm))
    return seed


def test_fifty_notes_at_3_5_s_per_claude_call_are_scored_within_the_lambda_timeout(tmp_path: Path) -> None:
    # Given a day with ~50 appointments with notes and Claude answering in 3.5 s (simulated); the
    # serial scoring step of old needed 175 s of its 60 s and timed out here as on AWS
    example = json.loads((ROOT / "examples" / "no_show.json").read_text())
    with LocalRuntime(seed_dir=_busy_day(tmp_path, 46)) as runtime:
        runtime.simulate_llm_latency(seconds=3.5)

        # When the day runs and the manager approves the digest
        arn = runtime.start("no_show", example)
        for record in runtime.approvals_to_decide(arn, timeout_s=120):
            runtime.decide(record, approve(record))
        runtime.wait(arn, timeout_s=120)
        result = runtime.result(arn)
        scoring = [i for i in runtime.dispatcher.invocations if i.step == "score_batch"]

    # Then ScoreBatch read the notes 8 at a time (7 rounds x 3.5 s = 24.5 s of its 60 s) and no
    # invocation timed out
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert result.output is not None
    assert result.output["model_calls"] == 50
    assert result.output["points_only"] == 0
    assert [i.error for i in scoring] == [None, None]


def test_a_scoring_batch_past_its_timeout_fails_the_day_at_the_map_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    # Given Claude answering in 25 s per call: a batch's 8 threads need 7 x 25 s of ScoreBatch's 60 s
    example = json.loads((ROOT / "examples" / "no_show.json").read_text())
    with LocalRuntime(seed_dir=_busy_day(tmp_path, 46)) as runtime:
        runtime.simulate_llm_latency(seconds=25)

        # When the day runs
        arn = runtime.start("no_show", example)
        runtime.wait(arn, timeout_s=120)
        result = runtime.result(arn)
        scoring = [i for i in runtime.dispatcher.invocations if i.step == "score_batch"]
        sent = runtime.outbox()

    # Then the big batch timed out as on AWS (Sandbox.Timedout), its Distributed Map failed with the
    # threshold error (no child failure is tolerated), and nothing after it ran: no request was sent
    assert "Sandbox.Timedout" in [i.error for i in scoring]
    assert result.status == "FAILED"
    assert result.error == "States.ExceedToleratedFailureThreshold"
    caught = next(r for r in result.timeline if r.state == "ScoreBatches")
    assert caught.status == "CAUGHT"
    assert "RequestConfirmations" not in [r.state for r in result.timeline]
    assert sent == []
    calls = [r for r in offline_model().requests if r["tool_choice"]["name"] == "no_show_read_notes"]
    assert len(calls) < 50

    # And the CLI names the Map and the error
    out = io.StringIO()
    assert cli.report(result, out, timeline=False) == cli.EXIT_FAILED
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("run failed (ScoreBatches): States.ExceedToleratedFailureThreshold: ")
