"""The run ledger: what every LLM call of a run cost, so "what did run X cost" is one read.

The LLM client records each call (tokens in/out, cache read/write, USD, latency, model, step, attempt) as
one item and, in the same DynamoDB transaction, ADDs it to the run's ``TOTAL`` item. The total is
what the budget cap reads before a call (one ``GetItem``) and what the API shows with the per-call
rows (one ``Query``). Items expire with the table's TTL (``run_ledger_ttl_seconds``).

Failed calls are recorded too (the tokens of a re-prompted answer that never validated were paid
for), so the ledger is what the provider bills, not only what the workflow used.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from functions.shared.aws import client
from functions.shared.config import settings
from functions.shared.errors import BudgetExceeded

#: USD is stored as an exact DynamoDB number with this many decimals (ADD stays exact).
_USD_DECIMALS = Decimal("0.0000000001")
_TOTAL_SK = "TOTAL"
_TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


class LedgerEntry(BaseModel):
    """One LLM call charged to a run."""

    model_config = ConfigDict(frozen=True)

    run: str = Field(min_length=1)  # the execution name (trace id)
    workflow: str | None = None  # None outside a step handler (no budget applies)
    step: str
    attempt: int = Field(ge=0)
    model: str
    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    cache_read_tokens: int = Field(ge=0)
    cache_write_tokens: int = Field(ge=0)
    usd: float = Field(ge=0.0)
    latency_ms: float = Field(default=0.0, ge=0.0)  # the whole call, re-prompts included
    outcome: str = "ok"  # "ok" or the typed error the call ended with
    call_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    recorded_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


class _CamelModel(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)


class StepCost(_CamelModel):
    """What one attempt of one step spent (its calls summed)."""

    step: str
    attempt: int
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    usd: float = 0.0


class RunCost(_CamelModel):
    """A run's totals and its per-step rows, in the order the steps ran."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    usd: float = 0.0
    steps: list[StepCost] = Field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        """The API's ``cost`` field: ``{"inputTokens", ..., "usd", "steps": [{"step", ...}]}``."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def of(cls, entries: list[LedgerEntry]) -> RunCost:
        """Totals and per-(step, attempt, model) rows of ``entries``, oldest first."""
        rows: dict[tuple[str, int, str], dict[str, Any]] = {}
        for entry in sorted(entries, key=lambda e: e.recorded_at):
            row = rows.setdefault(
                (entry.step, entry.attempt, entry.model),
                {"step": entry.step, "attempt": entry.attempt, "model": entry.model, "usd": 0.0}
                | dict.fromkeys(_TOKEN_FIELDS, 0),
            )
            for name in _TOKEN_FIELDS:
                row[name] += getattr(entry, name)
            row["usd"] += entry.usd
        steps = [StepCost.model_validate({**row, "usd": round(row["usd"], 10)}) for row in rows.values()]
        return cls(
            **{name: sum(getattr(s, name) for s in steps) for name in _TOKEN_FIELDS},
            usd=round(sum(e.usd for e in entries), 10),
            steps=steps,
        )


class RunLedger(Protocol):
    """Where LLM calls are charged to runs."""

    def record(self, entry: LedgerEntry) -> None:
        """Store ``entry`` and add it to its run's total, atomically."""
        ...

    def total_usd(self, run: str) -> float:
        """What ``run`` has spent so far (0 for a run without calls)."""
        ...

    def run_cost(self, run: str) -> RunCost:
        """The run's totals and per-step rows."""
        ...


def check_budget(ledger: RunLedger, *, run: str, workflow: str | None, budgets: Mapping[str, float]) -> None:
    """Raise ``BudgetExceeded`` when ``run`` has already spent its workflow's cap.

    The check is ``spent >= cap`` before each call, not ``spent + estimate > cap``: an honest estimate
    needs the output length, which is only known afterwards (max_tokens would refuse most calls). A run
    can therefore overshoot its cap by at most one call; a cap of 0 allows no call at all.
    """
    if workflow is None or workflow not in budgets:
        return
    cap = budgets[workflow]
    spent = ledger.total_usd(run)
    if spent >= cap:
        raise BudgetExceeded(
            f"{workflow}: run {run} has spent ${spent:.6f} on LLM calls, its budget is ${cap:.6f} "
            f"(STEPWISE_BUDGETS); no further call is made"
        )


def _usd(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(_USD_DECIMALS)


class DynamoDbRunLedger:
    """The ledger in the ``run_ledger_table`` (see ``functions/shared/tables.py``)."""

    def __init__(self, table: str | None = None, ttl_seconds: int | None = None) -> None:
        # Resolved on use when not given, so moto and settings changes apply.
        self._table = table
        self._ttl_seconds = ttl_seconds

    @property
    def table(self) -> str:
        return self._table or settings().run_ledger_table

    def record(self, entry: LedgerEntry) -> None:
        ttl = self._ttl_seconds or settings().run_ledger_ttl_seconds
        expires_at = str(int(time.time()) + ttl)
        pk = {"S": f"RUN#{entry.run}"}
        item: dict[str, Any] = {
            "pk": pk,
            "sk": {"S": f"CALL#{entry.recorded_at}#{entry.call_id}"},
            "run": {"S": entry.run},
            "step": {"S": entry.step},
            "attempt": {"N": str(entry.attempt)},
            "model": {"S": entry.model},
            "usd": {"N": str(_usd(entry.usd))},
            "latency_ms": {"N": str(entry.latency_ms)},
            "outcome": {"S": entry.outcome},
            "call_id": {"S": entry.call_id},
            "recorded_at": {"S": entry.recorded_at},
            "expires_at": {"N": expires_at},
            **{name: {"N": str(getattr(entry, name))} for name in _TOKEN_FIELDS},
        }
        if entry.workflow is not None:
            item["workflow"] = {"S": entry.workflow}
        totals = {f":{name}": {"N": str(getattr(entry, name))} for name in _TOKEN_FIELDS}
        client("dynamodb").transact_write_items(
            # The call id makes an SDK-level retry of this transaction idempotent (10 minutes).
            ClientRequestToken=entry.call_id,
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(sk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": {"pk": pk, "sk": {"S": _TOTAL_SK}},
                        "UpdateExpression": (
                            "ADD "
                            + ", ".join(f"{name} :{name}" for name in _TOKEN_FIELDS)
                            + ", usd :usd, calls :one SET expires_at = :expires_at, updated_at = :now"
                        ),
                        "ExpressionAttributeValues": {
                            **totals,
                            ":usd": {"N": str(_usd(entry.usd))},
                            ":one": {"N": "1"},
                            ":expires_at": {"N": expires_at},
                            ":now": {"S": entry.recorded_at},
                        },
                    }
                },
            ],
        )

    def total_usd(self, run: str) -> float:
        found = client("dynamodb").get_item(
            TableName=self.table,
            Key={"pk": {"S": f"RUN#{run}"}, "sk": {"S": _TOTAL_SK}},
            ConsistentRead=True,
            ProjectionExpression="usd",
        )
        usd = found.get("Item", {}).get("usd")
        return float(usd["N"]) if usd else 0.0

    def run_cost(self, run: str) -> RunCost:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :calls)",
            "ExpressionAttributeValues": {":pk": {"S": f"RUN#{run}"}, ":calls": {"S": "CALL#"}},
            "ConsistentRead": True,
        }
        while True:
            page = client("dynamodb").query(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return RunCost.of([_entry_of(item) for item in items])


def _entry_of(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        run=item["run"]["S"],
        workflow=item["workflow"]["S"] if "workflow" in item else None,
        step=item["step"]["S"],
        attempt=int(item["attempt"]["N"]),
        model=item["model"]["S"],
        usd=float(item["usd"]["N"]),
        latency_ms=float(item["latency_ms"]["N"]),
        outcome=item["outcome"]["S"],
        call_id=item["call_id"]["S"],
        recorded_at=item["recorded_at"]["S"],
        **{name: int(item[name]["N"]) for name in _TOKEN_FIELDS},
    )


class InMemoryRunLedger:
    """The ledger in a list, for unit tests. Thread-safe."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._lock = threading.Lock()

    def record(self, entry: LedgerEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, run: str | None = None) -> list[LedgerEntry]:
        with self._lock:
            return [e for e in self._entries if run is None or e.run == run]

    def total_usd(self, run: str) -> float:
        return sum(e.usd for e in self.entries(run))

    def run_cost(self, run: str) -> RunCost:
        return RunCost.of(self.entries(run))


def get_run_ledger() -> RunLedger:
    """The ledger steps and the API use (stateless: the table name is read from settings on use)."""
    return DynamoDbRunLedger()
