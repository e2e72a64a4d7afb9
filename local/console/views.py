"""Local-only data for the console and ``python -m local history``, read straight from local AWS.

The cloud API never returns approval links (they authorize a decision) nor model prompts (they
hold customer data); on a developer's machine both are what a person needs to follow a run, so
the local server offers them under ``/local/`` behind the API key. Until the run ledger exists,
a run's LLM cost is the sum of its audit objects' ``cost_usd``: every call writes one, even a
failed one, so the sum is the run's real spend.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from functions.registry import ROOT, WORKFLOWS
from functions.shared import asl
from functions.shared.approvals import ApprovalRecord, ApprovalService, ApprovalStore
from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.llm.audit import S3AuditStore

#: Execution names and step names as they appear in audit keys (``audit_key`` keeps only these).
_SAFE_PART = re.compile(r"^[A-Za-z0-9._=-]{1,128}$")


class ConsoleNotFound(LookupError):
    """An unknown execution, step or audit record (HTTP 404)."""


def _safe(part: str, what: str) -> str:
    if not _SAFE_PART.fullmatch(part) or part in {".", ".."}:
        raise ConsoleNotFound(f"no {what} {part!r}")
    return part


def workflow_catalog() -> list[dict[str, Any]]:
    """Every workflow with its example input (prefills the start form) and its Task states."""
    catalog = []
    for spec in WORKFLOWS.values():
        example_path = ROOT / "examples" / f"{spec.name}.json"
        example = json.loads(example_path.read_text(encoding="utf-8")) if example_path.is_file() else {}
        catalog.append(
            {
                "name": spec.name,
                "description": spec.description,
                "businessKey": spec.business_key,
                "example": example,
                "steps": [
                    {"state": state, "step": step.name, "kind": step.kind.value}
                    for state, step in asl.state_steps(spec).items()
                ],
            }
        )
    return catalog


def _relative(link: str) -> str:
    """``/approvals/<id>?sig=...``: the page opens on this server whatever base URL emails use."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def pending_approvals(execution: str | None = None) -> list[dict[str, Any]]:
    """Pending approvals with one signed link per person who may decide (approver, escalation)."""
    service = ApprovalService(settings())
    store = ApprovalStore(settings().approvals_table)
    records: list[ApprovalRecord] = (
        [r for r in store.for_execution(_safe(execution, "execution")) if r.status == "PENDING"]
        if execution is not None
        else store.pending()
    )
    return [
        {
            "approvalId": record.approval_id,
            "execution": record.execution,
            "workflow": record.workflow,
            "state": record.state,
            "action": record.action,
            "subject": record.draft.subject,
            "createdAt": record.created_at,
            "expiresAt": record.expires_at,
            "links": [
                {"approver": approver, "url": _relative(service.link(record, approver))}
                for approver in record.approvers()
            ],
        }
        for record in sorted(records, key=lambda r: r.created_at)
    ]


def _audit_keys(execution: str, step: str | None = None) -> list[str]:
    prefix = f"audit/{_safe(execution, 'execution')}/"
    if step is not None:
        prefix += f"{_safe(step, 'step')}/"
    keys: list[str] = []
    paginator = client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings().audit_bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _attempt_of(key: str) -> int:
    """The attempt of ``audit/<trace>/<step>/<attempt>[-<item>].json`` (-1 if the key is not one)."""
    name = key.rsplit("/", 1)[-1].removesuffix(".json").split("-", 1)[0]
    return int(name) if name.isdigit() else -1


def audit_records(execution: str, step: str) -> list[dict[str, Any]]:
    """Every LLM call a step of a run made (one per attempt), oldest attempt first."""
    keys = sorted(_audit_keys(execution, step), key=lambda key: (_attempt_of(key), key))
    if not keys:
        raise ConsoleNotFound(f"no LLM call recorded for {execution}/{step}")
    store = S3AuditStore(settings().audit_bucket)
    return [{"key": key, **store.get(key)} for key in keys]


def audit_cost(execution: str) -> dict[str, Any]:
    """The run's LLM cost from its audit objects, in the shape of the run ledger's ``cost`` field."""
    store = S3AuditStore(settings().audit_bucket)
    steps: list[dict[str, Any]] = []
    for key in _audit_keys(execution):
        record = store.get(key)
        usage = record.get("usage") or {}
        steps.append(
            {
                "step": str(record.get("step", key.split("/")[2])),
                "attempt": int(record.get("attempt", _attempt_of(key))),
                "model": record.get("model"),
                "inputTokens": int(usage.get("input_tokens", 0)),
                "outputTokens": int(usage.get("output_tokens", 0)),
                "cacheReadTokens": int(usage.get("cache_read_input_tokens", 0)),
                "cacheWriteTokens": int(usage.get("cache_creation_input_tokens", 0)),
                "usd": float(record.get("cost_usd") or 0.0),
                "startedAt": record.get("started_at"),
            }
        )
    steps.sort(key=lambda s: (str(s["startedAt"] or ""), s["step"], s["attempt"]))
    total = {
        field: sum(int(s[field]) for s in steps)
        for field in ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens")
    }
    return {
        **total,
        "usd": round(sum(float(s["usd"]) for s in steps), 8),
        "steps": steps,
        "source": "audit",
    }
