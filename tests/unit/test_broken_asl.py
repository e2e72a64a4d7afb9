"""A typo'd placeholder in one ASL file takes down that workflow only, and says so in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import functions.registry
from functions.registry import ROOT, STATEMACHINES_DIR
from local.cli import EXIT_INVALID, main
from local.runtime import LocalRuntime, WorkflowUnavailable

BROKEN, HEALTHY = "case_study", "sales_outreach"


@pytest.fixture
def typo_in_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the statemachines folder where one Task names ``${DraftCaseStudyFunctionArm}``."""
    copy = tmp_path / "statemachines"
    shutil.copytree(STATEMACHINES_DIR, copy)
    path = copy / f"{BROKEN}.asl.json"
    text = path.read_text(encoding="utf-8")
    assert "${DraftCaseStudyFunctionArn}" in text
    typo = text.replace("${DraftCaseStudyFunctionArn}", "${DraftCaseStudyFunctionArm}")
    path.write_text(typo, encoding="utf-8")
    monkeypatch.setattr(functions.registry, "STATEMACHINES_DIR", copy)
    return str(path)


def test_a_typo_in_one_asl_file_leaves_the_other_workflows_running(
    typo_in_one_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one ASL file with a typo'd function placeholder
    with LocalRuntime() as runtime:
        # Then start-up warns once, in one line naming the file and the placeholder
        warning = capsys.readouterr().err.strip().splitlines()
        assert warning == [f"warning: {runtime.unavailable[BROKEN]}"]
        assert typo_in_one_file in warning[0]
        assert "${DraftCaseStudyFunctionArm} (did you mean ${DraftCaseStudyFunctionArn}?)" in warning[0]
        assert set(runtime.unavailable) == {BROKEN}
        # and the other workflows are deployed and run
        assert BROKEN not in runtime.state_machines
        payload = json.loads((ROOT / "examples" / f"{HEALTHY}.json").read_text(encoding="utf-8"))
        arn = runtime.start(HEALTHY, payload)
        assert runtime.wait(arn, until="approval", timeout_s=60)["status"] == "RUNNING"
        # while starting the broken one says why instead of a KeyError deep in the runtime
        with pytest.raises(WorkflowUnavailable, match=r"case_study is not deployed: .*FunctionArm"):
            runtime.start(BROKEN, {})


def test_the_cli_refuses_the_broken_workflow_with_one_line(
    typo_in_one_file: str, capsys: pytest.CaptureFixture[str]
) -> None:
    example = ROOT / "examples" / f"{BROKEN}.json"

    code = main(["run", BROKEN, "--input", str(example)])

    errors = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_INVALID
    assert errors[-1].startswith(f"error: {BROKEN} is not deployed: ")
    assert typo_in_one_file in errors[-1]
    assert "Traceback" not in "\n".join(errors)
