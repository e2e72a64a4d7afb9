"""The synthesized assembly itself: every function's handler imports from its own code asset, the
layer stand-ins name the pinned packages, and the CLI runs a workflow as deployed."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from functions.registry import ROOT
from infra import packaging
from local import assembly as local_assembly
from local.assembly import Assembly, load, synthesize

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synthesized() -> Assembly:
    return load(synthesize())


def test_every_function_s_handler_imports_from_its_own_code_asset_alone(synthesized: Assembly) -> None:
    """As Lambda imports it: the asset first on the path, the packages the layers stand in for,
    and nothing of the repository (``python -I`` keeps the working directory off the path)."""
    handlers: dict[Path, set[str]] = defaultdict(set)
    for function in synthesized.functions.values():
        handlers[function.code_dir].add(function.handler)
    assert handlers, "no function in the assembly"
    for code_dir, names in handlers.items():
        modules = sorted(name.rsplit(".", 1)[0] for name in names)
        check = (
            "import importlib, sys; sys.path.insert(0, sys.argv[1]); failed = []\n"
            "for spec in sys.argv[2:]:\n"
            "    module, _, attribute = spec.rpartition('.')\n"
            "    try:\n"
            "        loaded = importlib.import_module(module)\n"
            "        assert loaded.__file__.startswith(sys.argv[1]), loaded.__file__\n"
            "        getattr(loaded, attribute)\n"
            "    except Exception as exc:\n"
            "        failed.append(f'{spec}: {type(exc).__name__}: {exc}')\n"
            "print('\\n'.join(failed)); sys.exit(1 if failed else 0)\n"
        )
        imported = subprocess.run(  # noqa: S603 - this interpreter, our own assets
            [sys.executable, "-I", "-c", check, str(code_dir), *sorted(names)],
            cwd=code_dir,
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert imported.returncode == 0, (
            f"{code_dir.name} ({len(modules)} handlers):\n{imported.stdout}{imported.stderr}"
        )


def test_the_layers_stand_ins_name_exactly_the_pinned_packages(synthesized: Assembly) -> None:
    assert local_assembly.LAYERS_FROM_VENV_ENV == packaging.LAYERS_FROM_VENV_ENV
    markers = sorted(synthesized.directory.glob(f"asset.*/python/{packaging.VENV_LAYER_MARKER}"))
    named = {line for marker in markers for line in marker.read_text(encoding="utf-8").split()}
    expected = set(packaging.requirement_lines(packaging.BASE_PACKAGES + packaging.LLM_PACKAGES))
    assert named == expected


def test_cli_runs_a_workflow_as_deployed_and_exits_0() -> None:
    ran = subprocess.run(  # noqa: S603 - this interpreter, our own CLI
        [
            sys.executable, "-m", "local", "run", "sales_outreach",
            "--input", str(ROOT / "examples" / "sales_outreach.json"),
            "--decision", "approve", "--as-deployed",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCEEDED" in ran.stdout
    assert "SendEmail" in ran.stdout


def test_each_state_machine_s_role_may_invoke_every_function_its_definition_names(
    synthesized: Assembly,
) -> None:
    """moto's interpreter invokes steps without consulting the machine's role; AWS does not."""
    import json
    import re

    from moto.iam.access_control import IAMPolicy, PermissionResult

    for machine in synthesized.state_machines:
        functions = set(re.findall(r"arn:aws:lambda:[^\"]+:function:[^\"]+", machine.definition))
        assert functions, machine.name
        role = synthesized.roles[machine.role_arn]
        for function in sorted(functions):
            verdicts = [
                IAMPolicy({"policy_document": json.dumps(document)}).is_action_permitted(
                    "lambda:InvokeFunction", function
                )
                for document in role.policies.values()
            ]
            assert PermissionResult.PERMITTED in verdicts, f"{machine.name} may not invoke {function}"
            assert PermissionResult.DENIED not in verdicts
