"""no_show on a busy day under the enforced Lambda timeout (``local/limits.py``): Claude's latency is
simulated per call, nothing sleeps."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

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


def test_no_show_scoring_fifty_notes_at_3_5_s_per_claude_call_times_out_as_on_aws(tmp_path: Path) -> None:
    # Given a day with ~50 appointments with notes and Claude answering in 3.5 s (simulated)
    example = json.loads((ROOT / "examples" / "no_show.json").read_text())
    with LocalRuntime(seed_dir=_busy_day(tmp_path, 46)) as runtime:
        runtime.simulate_llm_latency(seconds=3.5)

        # When the day runs
        arn = runtime.start("no_show", example)
        result = runtime.result(arn) if runtime.wait(arn, timeout_s=120) else None

    # Then ScoreAppointments (a 60 s function) fails by its 18th call (17 x 3.5 s = 59.5 s, plus the
    # real time the step took), as on AWS: the day is not scored, nothing after it ran
    assert result is not None
    assert result.status == "FAILED"
    scoring = [r for r in result.timeline if r.state == "ScoreAppointments"]
    assert [r.error for r in scoring] == ["Sandbox.Timedout"]
    calls = [r for r in offline_model().requests if r["tool_choice"]["name"] == "no_show_read_notes"]
    assert 1 <= len(calls) <= 18
    assert result.error == "Sandbox.Timedout"

    # And the CLI names the state, the error and Lambda's message
    out = io.StringIO()
    assert cli.report(result, out, timeline=False) == cli.EXIT_FAILED
    last = out.getvalue().strip().splitlines()[-1]
    assert last.startswith("run failed (ScoreAppointments): Sandbox.Timedout: RequestId: ")
    assert last.endswith("Error: Task timed out after 60.00 seconds")
