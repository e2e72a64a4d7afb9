"""The local runtime: moto with the Step Functions interpreter, running the real ASL and handlers.

One :class:`LocalRuntime` is one isolated "AWS account": entering it sets a fake environment,
starts ``mock_aws`` with ASL execution on, patches moto (``local/patches.py``), creates the
tables/buckets/key/identity CDK would deploy, registers every workflow's state machine from its
ASL file, and optionally seeds demo data. Leaving it stops running executions and restores
everything, so tests can open one per scenario.

``as_deployed=True`` builds the account from the synthesized assembly instead (``cdk.out``,
``local/assembly.py`` and ``local/deployed.py``): each Lambda runs in its own process from its
own code asset, with its own environment and its own role's credentials under IAM enforcement
(``local/iam_enforcement.py``), calling moto over loopback; executions start on the ``live``
alias. The repository mode stays the fast default for the scenario matrix.
"""

from __future__ import annotations

import difflib
import json
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from moto import mock_aws
from pydantic import SecretStr

from functions.registry import ROOT, WORKFLOWS, WorkflowSpec
from functions.shared import asl
from functions.shared.approvals import ApprovalRecord, ApprovalService, Decision, sign
from functions.shared.config import settings
from functions.shared.timeline import StepRun, build_timeline
from functions.shared.workflow_input import InputRejected, validate_input
from local import limits
from local.deployed import DeployedAccount
from local.dispatch import ACCOUNT, Dispatcher, function_arn, load_handler
from local.heap import freeze_long_lived_objects
from local.moto_asl import for_moto
from local.patches import MotoPatches
from local.resources import create_resources, seed
from local.signals import ExecutionSignals

SEED_DIR = ROOT / "examples" / "seed"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
#: ``wait`` reads the status at least this often even if no change was announced.
_RECHECK_S = 0.25

_BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "TZ": "UTC",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "stepwise",
}


#: Called with (workflow name, execution history) for every execution of a runtime, when it closes.
ExecutionObserver = Callable[[str, list[dict[str, Any]]], None]
_observers: list[ExecutionObserver] = []


def observe_executions(observer: ExecutionObserver) -> Callable[[], None]:
    """Let a test harness see every run's history (the ASL path-coverage gate); returns the undo."""
    _observers.append(observer)
    return lambda: _observers.remove(observer)


def reset_caches() -> None:
    """Drop every cached setting, adapter and LLM client (they depend on the environment).

    boto3 clients are kept (``functions.shared.aws`` keys them by region): moto intercepts every
    client while a mock is active, whenever it was built, and building them again for each
    runtime was ~10 ms per service, in every test's setup and in the first call of its steps.
    """
    settings.cache_clear()
    try:
        from functions.shared.adapters import reset_adapters

        reset_adapters()
    except ImportError:  # pragma: no cover - adapters are part of the package
        pass
    llm_factory = __import__("sys").modules.get("functions.shared.llm.factory")
    if llm_factory is not None:
        llm_factory.reset_llm_client()


@dataclass
class RunResult:
    execution_arn: str
    status: str
    output: dict[str, Any] | None
    error: str | None
    cause: str | None
    timeline: list[StepRun]


class WorkflowUnavailable(RuntimeError):
    """The workflow was not deployed (its ASL file is broken); the message says why, in one line."""


def _unknown_placeholder_line(
    workflow: WorkflowSpec, exc: asl.UnknownPlaceholder, substitutions: dict[str, str]
) -> str:
    path = workflow.asl_path
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    parts = []
    for name in exc.missing:
        close = difflib.get_close_matches(name, substitutions, n=1)
        parts.append(f"${{{name}}}" + (f" (did you mean ${{{close[0]}}}?)" if close else ""))
    return f"{shown}: unknown placeholder {', '.join(parts)}; known: {', '.join(sorted(substitutions))}"


@dataclass
class LocalRuntime:
    workflows: list[WorkflowSpec] = field(default_factory=lambda: list(WORKFLOWS.values()))
    seed_dir: Path | None = SEED_DIR
    region: str = "us-east-1"
    log_level: str = "WARNING"
    env: dict[str, str] = field(default_factory=dict)
    #: Multiplies the ``TimeoutSeconds`` of callback (approval) tasks as each one starts: moto
    #: waits in real time, so e.g. ``4e-6`` turns three days into about one second.
    callback_timeout_scale: float = 1.0
    #: Callback states (ASL names) that time out after the given seconds instead (see ``time_out``).
    callback_timeouts: dict[str, float] = field(default_factory=dict)
    #: Build the account from the synthesized assembly and run each Lambda as deployed.
    as_deployed: bool = False
    #: The assembly to run (``cdk.out``); by default ``app.py`` is synthesized into a cache.
    assembly_dir: Path | None = None
    dispatcher: Dispatcher = field(init=False)
    signals: ExecutionSignals = field(default_factory=ExecutionSignals, init=False)
    state_machines: dict[str, str] = field(default_factory=dict, init=False)
    _saved_env: dict[str, str | None] = field(default_factory=dict, init=False)
    _mock: Any = field(default=None, init=False)
    _patches: MotoPatches | None = field(default=None, init=False)
    _started: list[str] = field(default_factory=list, init=False)
    #: state machine name → workflow (the names CDK generates do not say it)
    _machine_workflows: dict[str, str] = field(default_factory=dict, init=False)
    _deployed: DeployedAccount | None = field(default=None, init=False)
    #: workflow → why it was not deployed (one line naming its ASL file and what is wrong in it)
    unavailable: dict[str, str] = field(default_factory=dict, init=False)

    # --- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> LocalRuntime:
        env = {
            **_BASE_ENV,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "POWERTOOLS_LOG_LEVEL": self.log_level,
            "STEPWISE_APPROVAL_SIGNING_SECRET": os.environ.get("STEPWISE_APPROVAL_SIGNING_SECRET")
            or secrets.token_urlsafe(32),
            **self.env,
        }
        for key, value in env.items():
            self._set_env(key, value)
        reset_caches()
        self._set_log_level()
        self.dispatcher = Dispatcher.for_workflows(self.region, self.workflows)
        self._mock = mock_aws(
            config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
        )
        self._mock.start()
        try:
            self._patches = MotoPatches(
                invoke=self.dispatcher.invoke, callback_timeout=self._callback_timeout, signals=self.signals
            )
            self._patches.apply()
            if self.as_deployed:
                self._deployed = DeployedAccount.open(self.region, self.assembly_dir)
                self._deployed.attach(self.dispatcher)
                for key, value in self._deployed.harness_env.items():
                    self._set_env(key, value)
                reset_caches()
                self.state_machines.update(self._deployed.deployment.start_arns)
                self._machine_workflows.update(self._deployed.deployment.machine_workflows)
            else:
                create_resources(settings())
                self._deploy()
            if self.seed_dir is not None:
                seed(settings(), self.seed_dir)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        freeze_long_lived_objects()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._report_executions()
            self._stop_running()
        finally:
            if self._deployed is not None:
                self._deployed.close()
            if self._patches is not None:
                self._patches.undo()
            if self._mock is not None:
                self._mock.stop()
            for key, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            reset_caches()

    def time_out(self, state: str, after_s: float = 1.0) -> None:
        """Make callback state ``state`` fail with ``States.Timeout`` ``after_s`` seconds after it starts."""
        self.callback_timeouts[state] = after_s

    def simulate_latency(self, *, step: str, seconds: float) -> None:
        """Every invocation of ``step`` (a registry step or an ASL state name) takes ``seconds`` more.

        Simulated, not slept: it counts against the function's timeout (``Sandbox.Timedout`` past
        it, see ``local/limits.py``) and ``get_remaining_time_in_millis``. Charged after the
        handler ran, so its side effects happened even when the invocation times out.
        """
        self.dispatcher.simulate_latency(step, seconds)

    def simulate_llm_latency(self, *, seconds: float) -> None:
        """Every Claude call (the offline model) takes ``seconds``, simulated, inside the invocation
        that makes it: the call that crosses the function's timeout ends the invocation there."""
        from functions.shared.llm.offline import offline_model

        offline_model().simulate_latency(seconds, limits.simulate_latency)

    def _callback_timeout(self, state: str, declared_s: float) -> float:
        return self.callback_timeouts.get(state, declared_s * self.callback_timeout_scale)

    def _set_log_level(self) -> None:
        from functions.shared.observability import logger

        logger.setLevel(self.log_level)

    def _deploy(self) -> None:
        sfn = self.sfn
        for workflow in self.workflows:
            substitutions = {
                step.placeholder: function_arn(self.region, workflow, step) for step in workflow.steps
            } | {"FilesBucketName": settings().files_bucket}
            try:
                definition = asl.render(workflow.asl_path.read_text(encoding="utf-8"), substitutions)
            except asl.UnknownPlaceholder as exc:
                # One bad file must not take the other workflows down with it: skip it, say why once.
                self.unavailable[workflow.name] = _unknown_placeholder_line(workflow, exc, substitutions)
                print(f"warning: {self.unavailable[workflow.name]}", file=sys.stderr)
                continue
            arn = sfn.create_state_machine(
                name=f"stepwise-{workflow.name}",
                definition=for_moto(definition),
                roleArn=f"arn:aws:iam::{ACCOUNT}:role/stepwise-{workflow.name}",
                type="STANDARD",
            )["stateMachineArn"]
            self.state_machines[workflow.name] = arn
            self._machine_workflows[f"stepwise-{workflow.name}"] = workflow.name
        # What CDK gives the API function: workflow → state machine (alias, in the cloud) ARN.
        self._set_env("STEPWISE_STATE_MACHINES", json.dumps(self.state_machines))
        settings.cache_clear()

    def _set_env(self, key: str, value: str) -> None:
        self._saved_env.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def _report_executions(self) -> None:
        """Hand every execution's history (started here or through the API) to the observers."""
        if self._mock is None or not _observers:
            return
        for workflow, start_arn in self.state_machines.items():
            machine_arn = start_arn.rsplit(":", 1)[0] if self.as_deployed else start_arn
            pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn)
            for page in pages:
                for execution in page["executions"]:
                    events = self.history(execution["executionArn"])
                    for observer in list(_observers):
                        observer(workflow, events)

    def _stop_running(self) -> None:
        if self._mock is None:
            return
        for arn in self._started:
            try:
                if self.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                    self.sfn.stop_execution(executionArn=arn, error="LocalRuntimeClosed")
            except Exception:  # noqa: S112 - best effort during teardown
                continue

    # --- clients -------------------------------------------------------------------------
    @property
    def sfn(self) -> Any:
        from functions.shared.aws import client

        return client("stepfunctions")

    def approvals(self) -> ApprovalService:
        return ApprovalService(settings())

    # --- executions ----------------------------------------------------------------------
    def start(self, workflow: str, payload: Any, *, name: str | None = None) -> str:
        spec = self._workflow(workflow)
        if workflow in self.unavailable:
            raise WorkflowUnavailable(f"{workflow} is not deployed: {self.unavailable[workflow]}")
        document = validate_input(spec, payload)
        execution_name = name or f"{workflow.replace('_', '-')}-{uuid.uuid4().hex[:12]}"
        arn: str = self.sfn.start_execution(
            stateMachineArn=self.state_machines[workflow], name=execution_name, input=json.dumps(document)
        )["executionArn"]
        self._started.append(arn)
        return arn

    def wait(
        self, execution_arn: str, *, until: Literal["end", "approval"] = "end", timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Wait until the run ends (or, with ``until="approval"``, waits for a person). Never hangs.

        Sleeps until the interpreter announces a change (``local/signals.py``) rather than polling:
        each poll is a moto call holding the GIL the execution thread needs. The status is still
        read again at least every ``_RECHECK_S``, so a missed announcement costs time, not a hang.
        """
        return self._wait(execution_arn, until, timeout_s, describe_first=True)[0]

    def approvals_to_decide(self, execution_arn: str, *, timeout_s: float = 30.0) -> list[ApprovalRecord]:
        """Wait for approvals of this run a person can decide now; [] once the run has ended.

        ``wait(until="approval")`` then ``pending_approvals`` read the table twice for one answer,
        and read the run's status first although nothing here returns it: the status is read
        when the interpreter announces the end (or every ``_RECHECK_S``, should it not).
        """
        return self._wait(execution_arn, "approval", timeout_s, describe_first=False)[1]

    def _wait(
        self, execution_arn: str, until: Literal["end", "approval"], timeout_s: float, *, describe_first: bool
    ) -> tuple[dict[str, Any], list[ApprovalRecord]]:
        deadline = time.monotonic() + timeout_s
        name = execution_arn.rsplit(":", 1)[-1]
        described: dict[str, Any] = {"status": "RUNNING"}
        described_at = 0.0 if describe_first else time.monotonic()
        while True:
            seen = self.signals.version
            # The status is read at the start (for ``wait``), when the interpreter announced this
            # run's end, and at least every _RECHECK_S: a callback state starting or stopping is
            # no reason to.
            if self.signals.has_ended(name) or time.monotonic() - described_at >= _RECHECK_S:
                described = self.sfn.describe_execution(executionArn=execution_arn)
                described_at = time.monotonic()
                if described["status"] in TERMINAL:
                    return described, []
            if until == "approval" and (decidable := self._decidable(name)):
                return described, decidable
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timeline = "\n".join(f"  {r.state}: {r.status}" for r in self.timeline(execution_arn))
                raise TimeoutError(f"{name} still {described['status']} after {timeout_s}s:\n{timeline}")
            self.signals.wait_for_change(seen, min(remaining, _RECHECK_S))

    def _decidable(self, execution_name: str) -> list[ApprovalRecord]:
        """The pending approvals of this run whose callback state is waiting for its token now.

        moto drops a ``SendTaskSuccess`` that arrives while the ``.waitForTaskToken`` Lambda is
        still running (AWS does not); a person is never that fast, a script is.
        """
        if not self.signals.awaiting_callback(execution_name):
            return []  # no table read while nothing waits
        # A Map iteration's approval is recorded as "<state>/<item>"; the interpreter knows the state.
        return [
            record
            for record in self.pending_approvals(execution_name)
            if self.signals.awaiting_callback(execution_name, record.state.split("/", 1)[0])
        ]

    def result(self, execution_arn: str) -> RunResult:
        described = self.sfn.describe_execution(executionArn=execution_arn)
        output = json.loads(described["output"]) if described.get("output") else None
        return RunResult(
            execution_arn=execution_arn,
            status=described["status"],
            output=output,
            error=described.get("error"),
            cause=described.get("cause"),
            timeline=self.timeline(execution_arn),
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.sfn.get_execution_history(
            executionArn=execution_arn, maxResults=1000
        )["events"]
        return events

    def timeline(self, execution_arn: str) -> list[StepRun]:
        workflow = self._workflow_of(execution_arn)
        steps = {state: (s.name, s.kind.value) for state, s in asl.state_steps(workflow).items()}
        status = self.sfn.describe_execution(executionArn=execution_arn)["status"]
        return build_timeline(self.history(execution_arn), steps, status)

    # --- approvals -----------------------------------------------------------------------
    def pending_approvals(self, execution_name: str | None = None) -> list[ApprovalRecord]:
        pending = self.approvals().store.pending()
        return [r for r in pending if execution_name is None or r.execution == execution_name]

    def signed_link_signature(self, record: ApprovalRecord) -> str:
        """What the emailed link carries; the CLI decides as the approver who got the link."""
        secret = settings().approval_signing_secret or SecretStr("")
        return sign(record.approval_id, record.approver, record.expires_at, secret)

    def decide(self, record: ApprovalRecord, decision: Decision) -> ApprovalRecord:
        from functions.shared.adapters import get_files

        return self.approvals().decide(
            record.approval_id, self.signed_link_signature(record), decision, get_files()
        )

    def outbox(self) -> list[dict[str, Any]]:
        from functions.shared.adapters.ses_outbox import local_outbox

        return local_outbox(region=self.region, account_id=ACCOUNT)

    # --- helpers -------------------------------------------------------------------------
    def _workflow(self, name: str) -> WorkflowSpec:
        for workflow in self.workflows:
            if workflow.name == name:
                return workflow
        raise KeyError(f"unknown workflow {name!r}; known: {', '.join(w.name for w in self.workflows)}")

    def _workflow_of(self, execution_arn: str) -> WorkflowSpec:
        machine = execution_arn.rsplit(":execution:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        return self._workflow(self._machine_workflows.get(machine, machine.removeprefix("stepwise-")))

    # --- as deployed -----------------------------------------------------------------------
    def function_handler(self, handler: str) -> Callable[[dict[str, Any], Any], Any]:
        """The function behind ``handler`` (e.g. the API's): in-process from the repository, or
        as deployed (its own process, asset, environment and role)."""
        if self._deployed is None:
            return load_handler(handler)
        return self._deployed.handler(handler)

    def reset_data(self) -> None:
        """As deployed: a fresh business state (tables, buckets, outbox emptied, the seed loaded
        again) on the same resources and warm functions."""
        from local.deployed import clear_data

        clear_data(self.deployment.assembly)
        self.dispatcher.faults.clear()
        if self.seed_dir is not None:
            seed(settings(), self.seed_dir)

    @property
    def deployment(self) -> DeployedAccount:
        if self._deployed is None:
            raise RuntimeError("not an as-deployed runtime (LocalRuntime(as_deployed=True))")
        return self._deployed


__all__ = [
    "ExecutionObserver",
    "InputRejected",
    "LocalRuntime",
    "RunResult",
    "observe_executions",
    "validate_input",
]
