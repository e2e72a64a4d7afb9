"""``python -m local``: run workflows on the local moto runtime from a terminal.

Exit codes: 0 the run ended as designed (SUCCEEDED: sent, disqualified, rejected, ...);
1 the run FAILED (the failing step and cause are printed); 2 invalid input or usage (one line,
no traceback), or (``redrive``) the run is not redrivable; 3 the run is waiting for an approval and
no ``--decision`` was given; 4 (``history``, ``redrive``) the API server cannot be reached.

Runs started by ``run`` live in that process only, so their history is printed by
``run --history``; ``history <execution>`` reads a run from a running ``make serve`` (or any
deployment of the API) over HTTP with ``STEPWISE_API_TOKEN`` (on loopback, without it, a read
token minted by the local issuer). ``redrive <execution>`` asks the same server to redrive a failed
run (``POST /executions/{id}/redrive``, scope ``stepwise/redrive``; on loopback the operator's
``console`` client) and prints the run when it ends or waits for a person, as ``history`` does.
``token --client <name>`` mints an access token from the local issuer that ``serve`` checks
(``local/auth.py``), as Cognito's token endpoint would for that client.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, TextIO

from functions.registry import ROOT, WORKFLOWS
from functions.shared.approvals import ApprovalRecord, Decision
from functions.shared.timeline import StepRun
from local.runtime import InputRejected, LocalRuntime, RunResult, WorkflowUnavailable

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_WAITING, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
DEFAULT_API_URL = "http://127.0.0.1:8000"
#: What ``--decision edit`` adds, when no edited text is given, to the approvals whose draft is free
#: text a person would edit (a letter, an email, a case study): a visible, deterministic edit. Other
#: drafts (tables, digests, questionnaires, summaries) are read back by code after the approval, so
#: ``--decision edit`` approves them unedited and says so.
DEFAULT_EDITS: dict[tuple[str, str], str] = {
    ("sales_outreach", "RequestApproval"): (
        "P.S. If a call is too much, I am happy to send a one-page summary instead."
    ),
    ("law_firm_ops", "RequestLetterApproval"): "Please call me if anything in this letter is unclear.",
    ("referral", "ReengagementRequestApproval"): "P.S. A short reply is all it takes to pick this up again.",
    ("case_study", "RequestClientApproval"): "(Edited in review: wording checked with the client.)",
    ("case_study", "RequestMarketingApproval"): "(Edited in review: wording checked by marketing.)",
}
#: ``--decision reject`` without ``--comment``: neutral, for every workflow.
DEFAULT_REJECT_COMMENT = "Rejected from the command line (no comment given)."


def _parse_fault(spec: str) -> tuple[str, str, int, str]:
    """``step=ErrorName[:times][@after]``."""
    try:
        target, rest = spec.split("=", 1)
        when = "before"
        if rest.endswith("@after"):
            rest, when = rest.removesuffix("@after"), "after"
        error, _, times = rest.partition(":")
        return target, error, int(times or "1"), when
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--fault {spec!r}: expected step=ErrorName[:times][@after]"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one workflow end to end in-process and print its timeline")
    run.add_argument("workflow", choices=sorted(WORKFLOWS))
    run.add_argument("--input", required=True, type=Path, help="JSON file with the execution input")
    run.add_argument(
        "--decision", choices=["approve", "reject", "edit"], help="answer approvals as the approver"
    )
    run.add_argument("--comment", help="approver's comment")
    run.add_argument("--edit-subject", help="with --decision edit: the approved subject")
    run.add_argument("--edit-body-file", type=Path, help="with --decision edit: file with the approved body")
    run.add_argument(
        "--fault", action="append", default=[], type=_parse_fault, metavar="STEP=ERROR[:N][@after]"
    )
    run.add_argument("--name", help="execution name (default: generated)")
    _add_as_deployed(run)
    run.add_argument("--verbose", action="store_true", help="print the steps' structured logs")
    run.add_argument(
        "--history",
        action="store_true",
        help="print the run's history (timeline, approvals, cost) at the end",
    )
    history = commands.add_parser(
        "history", help="print one run's timeline, approvals and cost from a running `make serve`"
    )
    history.add_argument("execution", help="execution id (name) or execution ARN")
    history.add_argument(
        "--url",
        default=os.environ.get("STEPWISE_API_URL", DEFAULT_API_URL),
        help=f"API base URL (default: $STEPWISE_API_URL or {DEFAULT_API_URL}); the token is"
        " $STEPWISE_API_TOKEN (on loopback, minted locally when unset)",
    )
    redrive = commands.add_parser(
        "redrive", help="redrive a failed run of a running `make serve` from its failed step, and follow it"
    )
    redrive.add_argument("execution", help="execution id (name) or execution ARN")
    redrive.add_argument(
        "--url",
        default=os.environ.get("STEPWISE_API_URL", DEFAULT_API_URL),
        help=f"API base URL (default: $STEPWISE_API_URL or {DEFAULT_API_URL}); the token is"
        " $STEPWISE_API_TOKEN (on loopback, minted locally when unset)",
    )
    redrive.add_argument("--timeout", type=float, default=60.0, help="seconds to follow the run (default 60)")
    token = commands.add_parser(
        "token", help="mint an access token for an API client from the local issuer `serve` checks"
    )
    token.add_argument("--client", required=True, help="API client name (examples/api_clients.json)")
    token.add_argument(
        "--scope",
        action="append",
        default=[],
        help="stepwise/start, stepwise/read or stepwise/redrive (default: all it may have)",
    )
    token.add_argument("--ttl", type=int, default=3600, help="seconds (default: 3600, as Cognito)")
    commands.add_parser("demo", help="the README demo: approved + sent, rejected, disqualified")
    serve = commands.add_parser("serve", help="the HTTP API (as on API Gateway) on top of the local runtime")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--sweep-every", type=float, default=60.0, help="seconds between SLA sweeps")
    _add_as_deployed(serve)
    preflight = commands.add_parser(
        "preflight", help="check the AWS account for what `cdk deploy` does not (exit 1 on any FAIL)"
    )
    preflight.add_argument("--region", help="default: the boto3 chain (AWS_REGION, profile)")
    preflight.add_argument("--profile", help="AWS profile (default: the boto3 chain)")
    preflight.add_argument("--stage", help='default: cdk.json context "stage"')
    preflight.add_argument(
        "-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="as `cdk deploy -c`"
    )
    preflight.add_argument(
        "--recipient", action="append", default=[], help="another address runs will mail (SES sandbox)"
    )
    return parser


def _add_as_deployed(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--as-deployed",
        action="store_true",
        help="run the synthesized assembly: each Lambda from its own code asset, environment and role",
    )
    command.add_argument(
        "--assembly",
        type=Path,
        help="with --as-deployed: a synthesized cdk.out to run (default: synthesize app.py, cached)",
    )


def _deployment(args: argparse.Namespace) -> dict[str, Any]:
    """LocalRuntime arguments for ``--as-deployed`` / ``--assembly``."""
    if args.assembly is not None and not args.as_deployed:
        raise SystemExit("error: --assembly goes with --as-deployed")
    return {"as_deployed": True, "assembly_dir": args.assembly} if args.as_deployed else {}


def format_timeline(rows: list[StepRun]) -> str:
    header = f"  {'#':>2}  {'state':<28} {'kind':<13} {'status':<10} {'tries':>5} {'ms':>8}  error"
    lines = [header]
    for index, row in enumerate(rows, 1):
        kind = row.kind or row.type.lower()
        duration = f"{row.duration_ms:.1f}" if row.duration_ms is not None else "-"
        error = _error_line(row.error, row.cause) if row.error else ""
        tries = row.attempts or "-"
        lines.append(
            f"  {index:>2}  {row.state:<28} {kind:<13} {row.status:<10} {tries:>5} {duration:>8}  {error}"
        )
    return "\n".join(lines)


def _short_cause(cause: str | None, limit: int = 90) -> str:
    if not cause:
        return ""
    try:
        parsed = json.loads(cause)
        cause = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    except ValueError:
        pass
    text = str(cause).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decision(args: argparse.Namespace, record: ApprovalRecord, out: TextIO) -> Decision:
    if args.decision == "reject":
        return Decision(decision="reject", comment=args.comment or DEFAULT_REJECT_COMMENT)
    if args.decision == "edit":
        from functions.shared.adapters import get_files

        line = DEFAULT_EDITS.get((record.workflow, record.state))
        if args.edit_body_file:
            body: str | None = args.edit_body_file.read_text(encoding="utf-8")
        elif line is not None:
            body = get_files().get_text(record.draft.body_key).rstrip() + "\n\n" + line
        else:
            body = None
            if args.edit_subject is None:
                print(f"    {record.state}: not free text, approved unedited", file=out)
        return Decision(
            decision="approve", comment=args.comment, edited_subject=args.edit_subject, edited_body=body
        )
    return Decision(decision="approve", comment=args.comment)


def _error_line(error: str | None, cause: str | None, limit: int = 90) -> str:
    """``Error: cause``, or the error alone when there is no cause (no dangling colon)."""
    short = _short_cause(cause, limit)
    return f"{error}: {short}" if short else str(error)


def waits_for_people(workflow: str) -> bool:
    """Whether the workflow's ASL parks a run on a person (any ``.waitForTaskToken`` task)."""
    return ".waitForTaskToken" in WORKFLOWS[workflow].asl_path.read_text(encoding="utf-8")


def drive(
    runtime: LocalRuntime, workflow: str, payload: Any, args: argparse.Namespace, out: TextIO
) -> RunResult:
    """Start a run and answer its approvals as ``args.decision`` says, until it ends or waits."""
    arn = runtime.start(workflow, payload, name=getattr(args, "name", None))
    while pending := runtime.approvals_to_decide(arn):
        for record in pending:
            link = runtime.approvals().link(record)
            print(f"  approval requested from {record.approver}: {record.action}\n    link: {link}", file=out)
            if args.decision is None:
                return runtime.result(arn)
            decided = runtime.decide(record, _decision(args, record, out))
            edited = " (with edits)" if decided.edit_diff else ""
            print(f"  {decided.decided_by} decided: {decided.status.lower()}{edited}", file=out)
    return runtime.result(arn)


def report(result: RunResult, out: TextIO, *, timeline: bool = True) -> int:
    name = result.execution_arn.rsplit(":", 1)[-1]
    print(f"\n{name}: {result.status}", file=out)
    if timeline:  # ``run --history`` prints the timeline with the history instead
        print(format_timeline(result.timeline), file=out)
    if result.status == "SUCCEEDED":
        print("output: " + json.dumps(result.output, indent=2, sort_keys=True), file=out)
        return EXIT_OK
    if result.status == "RUNNING":
        print("waiting for an approval: rerun with --decision approve|reject|edit", file=out)
        return EXIT_WAITING
    print(f"run failed ({failed_state(result)}): {_error_line(result.error, result.cause, 300)}", file=out)
    return EXIT_FAILED


def failed_state(result: RunResult) -> str:
    """The state the run failed in: the last one with a Task error, else the last one left open.

    A Map (or any non-Task state) that fails records no Task error of its own, only the run's
    error, so the state still open when the run ended names it (it was "?" before).
    """
    for row in reversed(result.timeline):
        if row.error:
            return row.state
    for row in reversed(result.timeline):
        if row.status == "FAILED":
            return row.state
    return "unknown state"


def command_run(args: argparse.Namespace, out: TextIO) -> int:
    if args.decision is not None and not waits_for_people(args.workflow):
        print(f"error: {args.workflow} has no approval step: --decision does not apply", file=sys.stderr)
        return EXIT_INVALID
    try:
        payload = json.loads(args.input.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.input}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.history:
        # The API (and so the history view) finds a run's workflow from its name's prefix.
        args.name = args.name or f"{args.workflow}-{uuid.uuid4().hex[:12]}"
        if not args.name.startswith(f"{args.workflow}-"):
            print(f"error: with --history, --name must start with '{args.workflow}-'", file=sys.stderr)
            return EXIT_INVALID
    # --verbose shows every step of the run: sampling (default 10% of runs) applies only if asked for.
    verbose_env = {"STEPWISE_LOG_SAMPLE_RATE": os.environ.get("STEPWISE_LOG_SAMPLE_RATE", "1")}
    with LocalRuntime(
        log_level="INFO" if args.verbose else "WARNING",
        env=verbose_env if args.verbose else {},
        **_deployment(args),
    ) as runtime:
        for target, error, times, when in args.fault:
            runtime.dispatcher.inject(target, error, times=times, when=when)
        try:
            result = drive(runtime, args.workflow, payload, args, out)
        except (InputRejected, WorkflowUnavailable) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_INVALID
        code = report(result, out, timeline=not args.history)
        if args.verbose and args.as_deployed:
            deployed = runtime.deployment
            for function, log in deployed.function_logs().items():
                handler = deployed.assembly.functions[function].handler
                print(f"--- log of {function} ({handler}) ---\n{log.rstrip()}", file=out)
        emails = runtime.outbox()
        print(
            f"outbox: {len(emails)} email(s): " + ", ".join(f"{e['to']} «{e['subject']}»" for e in emails),
            file=out,
        )
        if args.history:
            print(f"\nhistory of {args.name}:\n" + _in_process_history(args.name), file=out)
        return code


def format_history(
    view: dict[str, Any], cost: dict[str, Any] | None, links: dict[str, list[str]] | None = None
) -> str:
    """One run as ``GET /executions/{id}`` describes it: the same timeline table ``run`` prints,
    then the run's error, its approvals and its LLM cost (from the run ledger, else the audit objects).
    """
    started, stopped = view.get("startDate") or "-", view.get("stopDate") or "-"
    lines = [
        f"{view['executionId']}: {view['status']}  ({view['workflow']}, started {started}, ended {stopped})",
        format_timeline([StepRun.model_validate(row) for row in view["timeline"]]),
    ]
    compensations = [row["state"] for row in view["timeline"] if row.get("kind") == "compensation"]
    if compensations:
        lines.append("compensation (undid earlier steps): " + ", ".join(compensations))
    if view.get("error"):
        lines.append(f"error: {_error_line(view['error'], view.get('cause'), 300)}")
    for approval in view.get("approvals") or []:
        decided = f" by {approval['decided_by']}" if approval.get("decided_by") else ""
        edited = " (with edits)" if approval.get("edited") else ""
        comment = f": {approval['comment']}" if approval.get("comment") else ""
        who = f"{approval['approver']} {approval['status']}"
        lines.append(f"approval {approval['state']}: {who}{decided}{edited}{comment}")
        lines.extend(f"  open: {link}" for link in (links or {}).get(approval["approval_id"], []))
    lines.append(_format_cost(cost))
    return "\n".join(lines)


def _format_cost(cost: dict[str, Any] | None) -> str:
    if cost is None:
        return "cost: unknown (neither the run ledger nor the audit objects answered)"
    source = "run ledger" if cost.get("source") != "audit" else "LLM audit objects"
    lines = [
        f"cost: ${float(cost['usd']):.6f} ({cost['inputTokens']} in, {cost['outputTokens']} out, "
        f"{cost['cacheReadTokens']} cache-read, {cost['cacheWriteTokens']} cache-write tokens; "
        f"source: {source})"
    ]
    lines.extend(
        f"  {step['step']:<28} #{step['attempt']:<3} {step.get('model') or '-':<24} ${float(step['usd']):.6f}"
        for step in cost.get("steps") or []
    )
    return "\n".join(lines)


def _in_process_history(name: str) -> str:
    """What ``history`` would print for ``name`` if this process were serving the API."""
    from functions.api.executions import ExecutionService
    from functions.shared.approvals import ApprovalStore
    from functions.shared.aws import client
    from functions.shared.config import settings
    from local.console.views import audit_cost

    config = settings()
    service = ExecutionService(
        client("stepfunctions"), config.state_machines, ApprovalStore(config.approvals_table)
    )
    view = service.get(name)
    return format_history(view, view.get("cost") or audit_cost(name))


class _ApiError(Exception):
    def __init__(self, code: int, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status  # the HTTP status, when the server answered


def _get_json(base_url: str, path: str, token: str, *, method: str = "GET") -> Any:
    url = base_url.rstrip("/") + path
    if not url.startswith(("http://", "https://")):
        raise _ApiError(EXIT_INVALID, f"--url must be http(s)://..., got {base_url!r}")
    headers = {"Authorization": f"Bearer {token}", "accept": "application/json"}
    request = urllib.request.Request(url, headers=headers, method=method)  # noqa: S310 - scheme checked above
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - scheme checked above
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")
        if exc.code in (401, 403):
            raise _ApiError(
                EXIT_INVALID, f"{base_url} refused the token: set STEPWISE_API_TOKEN", exc.code
            ) from exc
        if exc.code == 404:
            raise _ApiError(EXIT_INVALID, f"not found: {path} ({detail})", exc.code) from exc
        raise _ApiError(EXIT_UNREACHABLE, f"{base_url} answered {exc.code}: {detail}", exc.code) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise _ApiError(
            EXIT_UNREACHABLE, f"cannot reach {base_url} ({reason}): is `make serve` running there?"
        ) from exc


def _pending_links(base_url: str, name: str, token: str) -> dict[str, list[str]]:
    """approval id → the signed links of a pending approval (a local server only; else none)."""
    try:
        pending = _get_json(base_url, f"/local/approvals?execution={name}", token)["approvals"]
    except _ApiError:
        return {}
    base = base_url.rstrip("/")
    return {a["approvalId"]: [base + link["url"] for link in a["links"]] for a in pending}


#: The client ``history`` reads as when it mints its own token (read scope only).
HISTORY_CLIENT = "reporting"


#: The client ``redrive`` acts as when it mints its own token: the operator's (examples/api_clients.json).
REDRIVE_CLIENT = "console"


def _history_token(
    url: str, client: str = HISTORY_CLIENT, scopes: tuple[str, ...] = ("stepwise/read",)
) -> str | None:
    """``STEPWISE_API_TOKEN``, else (a server on this machine) a token of ``client`` from the local issuer."""
    from urllib.parse import urlsplit

    from local.console.assets import is_loopback

    token = os.environ.get("STEPWISE_API_TOKEN")
    if token:
        return token
    if not is_loopback(urlsplit(url).hostname or ""):
        return None
    from local.auth import LocalIssuer

    issuer = LocalIssuer.persisted()
    return issuer.mint(client, list(scopes)) if client in issuer.clients else None


def command_token(args: argparse.Namespace, out: TextIO) -> int:
    from local.auth import LocalIssuer

    try:
        print(LocalIssuer.persisted().mint(args.client, args.scope or None, ttl_seconds=args.ttl), file=out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


def command_history(args: argparse.Namespace, out: TextIO) -> int:
    token = _history_token(args.url)
    if not token:
        print("error: set STEPWISE_API_TOKEN to an access token with stepwise/read", file=sys.stderr)
        return EXIT_INVALID
    # An execution ARN ends in ":<execution name>"; the API is keyed on the name.
    name = args.execution.rsplit(":", 1)[-1]
    if not name or "/" in name:
        print(f"error: {args.execution!r} is not an execution id or ARN", file=sys.stderr)
        return EXIT_INVALID
    try:
        view = _get_json(args.url, f"/executions/{name}", token)
        cost = view.get("cost")
        if cost is None:
            try:
                cost = _get_json(args.url, f"/local/executions/{name}/cost", token)
            except _ApiError:
                cost = None  # not a local server (API Gateway has no /local routes)
        links = _pending_links(args.url, name, token)
    except _ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    print(format_history(view, cost, links), file=out)
    return EXIT_OK


def _execution_name(execution: str) -> str | None:
    """An execution ARN ends in ``:<execution name>``; the API is keyed on the name."""
    name = execution.rsplit(":", 1)[-1]
    return name if name and "/" not in name else None


def command_redrive(args: argparse.Namespace, out: TextIO) -> int:
    token = _history_token(args.url, REDRIVE_CLIENT, ("stepwise/redrive", "stepwise/read"))
    if not token:
        print("error: set STEPWISE_API_TOKEN to an access token with stepwise/redrive", file=sys.stderr)
        return EXIT_INVALID
    name = _execution_name(args.execution)
    if name is None:
        print(f"error: {args.execution!r} is not an execution id or ARN", file=sys.stderr)
        return EXIT_INVALID
    try:
        redriven = _get_json(args.url, f"/executions/{name}/redrive", token, method="POST")
        print(f"{name}: redriven at {redriven['redriveDate']}", file=out)
        view = _follow(args.url, name, token, args.timeout)
        links = _pending_links(args.url, name, token)
    except _ApiError as exc:
        if exc.status == 409:
            print(f"error: {name} cannot be redriven: {_api_message(exc)}", file=sys.stderr)
            return EXIT_INVALID
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    print(format_history(view, view.get("cost"), links), file=out)
    if view["status"] == "RUNNING":
        print("waiting for an approval: open the link above (or the console) to decide", file=out)
    return {"SUCCEEDED": EXIT_OK, "RUNNING": EXIT_WAITING}.get(view["status"], EXIT_FAILED)


def _api_message(exc: _ApiError) -> str:
    """The API's ``{"message": ...}`` out of an error's text, else the text."""
    text = str(exc)
    start = text.find("{")
    try:
        return str(json.loads(text[start:])["message"]) if start >= 0 else text
    except (ValueError, KeyError, TypeError):
        return text


def _follow(base_url: str, name: str, token: str, timeout_s: float) -> dict[str, Any]:
    """The run once it ended or waits for a person (or as it is after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        view: dict[str, Any] = _get_json(base_url, f"/executions/{name}", token)
        waiting = any(row["status"] == "WAITING" for row in view["timeline"]) and any(
            a["status"] == "PENDING" for a in view.get("approvals") or []
        )
        if view["status"] != "RUNNING" or waiting or time.monotonic() >= deadline:
            return view
        time.sleep(0.1)


def command_demo(out: TextIO) -> int:
    base = json.loads((ROOT / "examples" / "sales_outreach.json").read_text(encoding="utf-8"))
    runs = [
        ("1. approved and sent (Dana, Northwind Freight)", {**base}, "approve"),
        ("2. rejected by the approver (Priya, Brightline Clinics)", {**base, "lead_id": "L-200"}, "reject"),
        (
            "3. poor fit, disqualified before any draft (Tom, Becker Hobby Models)",
            {**base, "lead_id": "L-300"},
            None,
        ),
    ]
    codes = []
    with LocalRuntime() as runtime:
        for title, payload, decision in runs:
            print(f"\n=== sales_outreach {title}", file=out)
            args = argparse.Namespace(
                decision=decision, comment=None, edit_subject=None, edit_body_file=None, name=None
            )
            already = len(runtime.outbox())
            codes.append(report(drive(runtime, "sales_outreach", payload, args, out), out))
            if decision == "approve":
                _print_drafted(runtime.outbox()[already:], payload["approver_email"], out)
        print("\n=== outbox (what SES 'sent')", file=out)
        for email in runtime.outbox():
            print(f"  to {email['to']}: {email['subject']}", file=out)
    return EXIT_OK if all(code == EXIT_OK for code in codes) else EXIT_FAILED


def _print_drafted(emails: list[dict[str, Any]], approver: str, out: TextIO) -> None:
    """The email Claude drafted, as the lead received it (not the approval request to ``approver``)."""
    for email in emails:
        if email["to"] != approver:
            body = "\n".join(("    " + line).rstrip() for line in str(email["body"]).rstrip().splitlines())
            print(f"\n  the email Claude drafted, as sent to {email['to']}:", file=out)
            print(f"    Subject: {email['subject']}\n{body}", file=out)


def command_serve(args: argparse.Namespace, out: TextIO) -> int:
    from local.auth import STATE_DIR
    from local.server import LocalApiServer

    base_url = f"http://{args.host}:{args.port}"
    # As deployed, links name API Gateway's URL (the template's); the server answers it too.
    env = {} if args.as_deployed else {"STEPWISE_APPROVAL_LINK_BASE_URL": base_url}
    with LocalRuntime(env=env, **_deployment(args)) as runtime:
        server = LocalApiServer(
            runtime, issuer_dir=STATE_DIR, host=args.host, port=args.port, sweep_every_s=args.sweep_every
        ).start()
        clients = ", ".join(f"{c.name} ({' '.join(c.scopes)})" for c in server.issuer.clients.values())
        print(
            f"Stepwise local API on {server.url}\ntokens: issuer {server.issuer.iss}; clients: {clients}",
            file=out,
        )
        print(f"console: open {server.url}/ in a browser", file=out)
        if args.as_deployed:
            where = runtime.deployment.assembly.directory
            print(
                f"as deployed: each Lambda runs from its code asset in {where}; approval links name "
                f"API Gateway's URL, answered here (GET /local/outbox shows them on {server.url})",
                file=out,
            )
        print(
            "try: TOKEN=$(.venv/bin/python -m local token --client crm-sync)\n"
            f"     curl -s -X POST {server.url}/workflows/sales_outreach/executions "
            "-H \"Authorization: Bearer $TOKEN\" -H 'content-type: application/json' "
            "-d @examples/sales_outreach.json\n"
            f'     curl -s {server.url}/local/outbox -H "Authorization: Bearer $TOKEN"',
            file=out,
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", file=out)
        finally:
            server.stop()
    return EXIT_OK


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return command_run(args, out)
    if args.command == "serve":
        return command_serve(args, out)
    if args.command == "history":
        return command_history(args, out)
    if args.command in ("token", "redrive"):
        return {"token": command_token, "redrive": command_redrive}[args.command](args, out)
    if args.command == "preflight":
        from local.preflight import command_preflight  # imports the CDK constants: only when asked

        return command_preflight(args, out)
    return command_demo(out)
