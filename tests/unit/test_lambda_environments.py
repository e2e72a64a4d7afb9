"""Execution environments of the as-deployed runtime (``local/lambdas.py``): what a function sees.

A throwaway code asset stands in for the assembly's: the checks are about the process, not Stepwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local.lambdas import Environment, FunctionError, LambdaService

HANDLERS = """
import json, os, sys, time

def environment(event, context):
    return {"env": dict(os.environ), "path": sys.path, "cwd": os.getcwd(),
            "remaining": context.get_remaining_time_in_millis(), "name": context.function_name}

def slow(event, context):
    time.sleep(event["seconds"])
    return "done"

class QuotaExceeded(Exception):
    pass

def fails(event, context):
    raise QuotaExceeded("over the limit")
"""


@pytest.fixture(scope="module")
def asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    code = tmp_path_factory.mktemp("asset")
    (code / "app").mkdir(parents=True)
    (code / "app" / "__init__.py").write_text("")
    (code / "app" / "handlers.py").write_text(HANDLERS)
    return code


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdaService]:
    """One zygote for the module (starting one imports boto3, pydantic, Powertools: ~1 s)."""
    lambdas = LambdaService(log_dir=tmp_path_factory.mktemp("logs"))
    yield lambdas
    lambdas.close()


def register(service: LambdaService, asset: Path, handler: str, timeout_s: int = 5) -> str:
    name = handler.rsplit(".", 1)[-1]
    service.register(
        Environment(
            name=name,
            arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
            handler=handler,
            code_dir=asset,
            variables={"LAMBDA_TASK_ROOT": str(asset), "ONLY_THIS": "1", "PATH": "/usr/bin:/bin"},
            timeout_seconds=timeout_s,
            memory_mb=128,
        )
    )
    return name


def test_a_function_sees_its_own_environment_and_asset_and_nothing_of_the_harness(
    service: LambdaService, asset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPWISE_HARNESS_ONLY", "leak")
    name = register(service, asset, "app.handlers.environment")

    seen = service.invoke(name, {})

    assert seen["env"]["ONLY_THIS"] == "1"
    assert "STEPWISE_HARNESS_ONLY" not in seen["env"]
    assert seen["path"][0] == str(asset)
    repository = str(Path(__file__).resolve().parents[2])
    assert not [p for p in seen["path"] if p in ("", repository)], seen["path"]
    assert seen["cwd"] == str(asset)
    assert 0 < seen["remaining"] <= 5000
    assert seen["name"] == name


def test_a_warm_environment_is_reused_one_invocation_after_another(
    service: LambdaService, asset: Path
) -> None:
    name = register(service, asset, "app.handlers.environment")
    first = service.invoke(name, {})
    started = len(service._all)
    second = service.invoke(name, {})
    assert first["env"] == second["env"]
    assert len(service._all) == started


def test_a_function_past_its_timeout_is_stopped_with_sandbox_timedout(
    service: LambdaService, asset: Path
) -> None:
    name = register(service, asset, "app.handlers.slow", timeout_s=1)
    with pytest.raises(FunctionError, match=r"Task timed out after 1\.00 seconds") as raised:
        service.invoke(name, {"seconds": 5})
    assert raised.value.name == "Sandbox.Timedout"
    assert service.invoke(name, {"seconds": 0}) == "done"  # a new environment serves the next call


def test_a_handler_error_comes_back_under_its_class_name(service: LambdaService, asset: Path) -> None:
    name = register(service, asset, "app.handlers.fails")
    with pytest.raises(FunctionError, match="over the limit") as raised:
        service.invoke(name, {})
    assert raised.value.name == "QuotaExceeded"


def test_a_handler_missing_from_the_asset_is_an_import_module_error(
    service: LambdaService, asset: Path
) -> None:
    name = register(service, asset, "app.missing.handler")
    with pytest.raises(FunctionError, match=r"Unable to import module 'app\.missing'") as raised:
        service.invoke(name, {})
    assert raised.value.name == "Runtime.ImportModuleError"
    missing_attribute = register(service, asset, "app.handlers.nope")
    with pytest.raises(FunctionError) as raised:
        service.invoke(missing_attribute, {})
    assert raised.value.name == "Runtime.HandlerNotFound"


def test_the_function_s_output_goes_to_its_log_file(service: LambdaService, asset: Path) -> None:
    (asset / "app" / "talk.py").write_text(
        "def handler(event, context):\n    print('hello log')\n    return 1\n"
    )
    name = register(service, asset, "app.talk.handler")
    service.invoke(name, {})
    assert "hello log" in service.log_path(name).read_text()
