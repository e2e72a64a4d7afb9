"""Every patch of moto internals, in one place (moto is pinned; see ``../shared/moto-notes.md``).

``tests/unit/test_moto_internals.py`` imports each target below and fails loudly, naming the path,
when a moto upgrade moves one. Each patch is applied by :class:`MotoPatches` and undone on exit.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import copy
import functools
import importlib
import inspect
import io
import json
import logging
import os
import pickle
import pkgutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from types import ModuleType, SimpleNamespace
from typing import Any

from local import limits
from local.signals import ExecutionSignals

#: (module path, attribute) of every moto internal we touch.
LAMBDA_INVOKE = ("moto.awslambda_simple.models", "LambdaSimpleBackend")
RETRY_TIME = ("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl", "time")
WAIT_INTERVAL = (
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
    "WaitFunction",
)
BOTO_CLIENT_FOR = ("moto.stepfunctions.parser.asl.utils.boto_client", "boto_client_for")
CALLBACK_TASK = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback",
    "StateTaskServiceCallback",
)
TIMEOUT = ("moto.stepfunctions.parser.asl.component.common.timeouts.timeout", "Timeout")
RESOURCE_CONDITION = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource",
    "ResourceCondition",
)
VALIDATE_DEFINITION = ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend")
ASL_PARSER = ("moto.stepfunctions.parser.asl.parse.asl_parser", "AmazonStateLanguageParser")
PREPROCESSOR = ("moto.stepfunctions.parser.asl.parse.preprocessor", "Preprocessor")
EXECUTION_COMMUNICATION = ("moto.stepfunctions.parser.backend.execution", "BaseExecutionWorkerCommunication")
EXECUTION_WORKER = ("moto.stepfunctions.parser.backend.execution_worker", "ExecutionWorker")
BOTOCORE_LOADER = ("botocore.session", "create_loader")
REQUEST_SIGNER = ("botocore.signers", "RequestSigner")
JSON_PATH_PARSE = ("moto.stepfunctions.parser.asl.utils.json_path", "parse")
RESULT_PATH_PARSE = ("moto.stepfunctions.parser.asl.component.common.path.result_path", "parse")
RESPONSE_METHOD_NAMES = ("moto.core.responses", "method_names_from_class")
LAMBDA_TASK_INVOKE = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "_invoke_lambda_function",
)
BACKEND_URLS = ("moto.core.base_backend", "BaseBackend")
UPDATE_EXPRESSION_PARSER = ("moto.dynamodb.parsing.expressions", "UpdateExpressionParser")
DYNAMODB_BACKEND = ("moto.dynamodb.models", "DynamoDBBackend")
DYNAMODB_TABLE = ("moto.dynamodb.models.table", "Table")
DYNAMODB_TYPE = ("moto.dynamodb.models.dynamo_type", "DynamoType")
DYNAMODB_NOT_FOUND = ("moto.dynamodb.exceptions", "ResourceNotFoundException")
UPDATE_VALIDATOR_COPY = ("moto.dynamodb.parsing.validators", "deepcopy")
EXPRESSION_TRAVERSER = ("moto.dynamodb.parsing.ast_nodes", "DepthFirstTraverser")
EXPRESSION_NODE = ("moto.dynamodb.parsing.ast_nodes", "Node")
DYNAMODB_MODELS_COPY = ("moto.dynamodb.models", "copy")
LAMBDA_FROM_PAYLOAD = (LAMBDA_TASK_INVOKE[0], "_from_payload")
JSON_RESPONSE_SERIALIZER = ("moto.core.serialize", "BaseJSONSerializer")
CONDITION_PARSER = ("moto.dynamodb.comparisons", "ConditionExpressionParser")
ACTION_COUNT_VALIDATOR = ("moto.dynamodb.parsing.validators", "ActionCountValidator")
OVERLAPPING_PATHS_VALIDATOR = ("moto.dynamodb.parsing.validators", "OverlappingPathsValidator")
UPDATE_EXPRESSION_NODE = ("moto.dynamodb.parsing.ast_nodes", "UpdateExpression")
JSON_REST_ERROR = ("moto.core.exceptions", "JsonRESTError")
REST_ERROR = ("moto.core.exceptions", "_RESTError")
PARSER_PACKAGE = "moto.stepfunctions.parser"
_ASL = "moto.stepfunctions.parser.asl."
_MAP_ITERATION = _ASL + "component.state.exec.state_map.iteration."
#: What ``_enforce_limits`` touches (the limits themselves live in ``local/limits.py``).
ERROR_EQUALS = (_ASL + "component.common.error_name.error_equals_decl", "ErrorEqualsDecl")
STATES_ERROR_NAME = (_ASL + "component.common.error_name.states_error_name", "StatesErrorName")
SIZE_QUOTA_STATE = (_ASL + "component.state.state", "is_within_size_quota")
SIZE_QUOTA_SERVICE = (
    _ASL + "component.state.exec.state_task.service.state_task_service",
    "is_within_size_quota",
)
SIZE_QUOTA_LAMBDA = (_ASL + "component.state.exec.state_task.state_task_lambda", "is_within_size_quota")
MAP_ITERATION_ERROR = (_MAP_ITERATION + "iteration_worker", "CustomErrorName")
PARALLEL_BRANCH_ERROR = (_ASL + "component.state.exec.state_parallel.branches_decl", "CustomErrorName")
#: A ``Fail`` state whose ``ErrorPath`` re-raises a caught ``States.`` error (moto refused the prefix).
FAIL_STATE_ERROR = (_ASL + "component.state.fail.state_fail", "CustomErrorName")
ITERATION_WORKER = (_MAP_ITERATION + "iteration_worker", "IterationWorker")
DISTRIBUTED_WORKER = (
    _MAP_ITERATION + "itemprocessor.distributed_item_processor_worker",
    "DistributedItemProcessorWorker",
)
EVENT_MANAGER = (_ASL + "eval.event.event_manager", "EventManager")
PROGRAM = (_ASL + "component.program.program", "Program")
LIMIT_INTERNALS = (
    ERROR_EQUALS,
    STATES_ERROR_NAME,
    SIZE_QUOTA_STATE,
    SIZE_QUOTA_SERVICE,
    SIZE_QUOTA_LAMBDA,
    MAP_ITERATION_ERROR,
    PARALLEL_BRANCH_ERROR,
    FAIL_STATE_ERROR,
    ITERATION_WORKER,
    DISTRIBUTED_WORKER,
    EVENT_MANAGER,
    PROGRAM,
)
#: Interpreter modules whose ``copy.deepcopy`` copies a state's JSON values (input, result, stack).
INTERPRETER_VALUE_COPIES = tuple(
    (_ASL + module, "copy")
    for module in (
        "component.common.string.string_expression",
        "component.common.path.result_path",
        "component.state.exec.execute_state",
        "component.state.exec.state_task.service.state_task_service",
        "component.state.exec.state_parallel.state_parallel",
        "component.state.exec.state_map.state_map",
        "eval.states",
        "eval.event.event_manager",
    )
)
INTERNALS = (
    VALIDATE_DEFINITION,
    ASL_PARSER,
    PREPROCESSOR,
    EXECUTION_COMMUNICATION,
    EXECUTION_WORKER,
    BOTOCORE_LOADER,
    REQUEST_SIGNER,
    JSON_PATH_PARSE,
    RESULT_PATH_PARSE,
    RESPONSE_METHOD_NAMES,
    LAMBDA_INVOKE,
    LAMBDA_TASK_INVOKE,
    BACKEND_URLS,
    UPDATE_EXPRESSION_PARSER,
    DYNAMODB_BACKEND,
    DYNAMODB_TABLE,
    DYNAMODB_TYPE,
    DYNAMODB_NOT_FOUND,
    UPDATE_VALIDATOR_COPY,
    EXPRESSION_TRAVERSER,
    EXPRESSION_NODE,
    DYNAMODB_MODELS_COPY,
    LAMBDA_FROM_PAYLOAD,
    JSON_RESPONSE_SERIALIZER,
    CONDITION_PARSER,
    ACTION_COUNT_VALIDATOR,
    OVERLAPPING_PATHS_VALIDATOR,
    UPDATE_EXPRESSION_NODE,
    JSON_REST_ERROR,
    REST_ERROR,
    *INTERPRETER_VALUE_COPIES,
    RETRY_TIME,
    WAIT_INTERVAL,
    BOTO_CLIENT_FOR,
    CALLBACK_TASK,
    TIMEOUT,
    RESOURCE_CONDITION,
    *LIMIT_INTERNALS,
)

InvokeFn = Callable[[str, bytes | str | None, dict[str, Any]], bytes]

#: Definitions moto's parser accepted in this process (the parse is deterministic in the text).
_VALID_DEFINITIONS: set[str] = set()
#: Definition → its ANTLR parse tree, shared by the executions of this process (read-only to them).
_PARSE_TREES: dict[str, Any] = {}
#: Definition → evaluation programs built from it that no execution is running now.
_IDLE_PROGRAMS: dict[str, list[Any]] = {}
#: More distinct definitions than this are parsed every time (tests of invalid ASL make many).
_MAX_PARSE_TREES = 64
_MAX_IDLE_PROGRAMS = 4
#: The callback timeout of the runtime whose patches are applied (programs outlive a runtime).
_callback_timeout: list[Callable[[str, float], float]] = []
#: botocore data path → the one Loader every botocore session of this process shares.
_LOADERS: dict[str | None, Any] = {}
#: (region, service) → the client moto's interpreter calls integrations with, kept across runtimes.
_INTERPRETER_CLIENTS: dict[tuple[str, str], Any] = {}
# Re-entrant: creating an interpreter client (cached_client_for, under the lock) builds a botocore
# session, whose loader comes from shared_loader (under the lock too). A plain Lock deadlocked the
# first Distributed Map's ItemReader S3 client once an earlier runtime had run in the process.
_LOCK = threading.RLock()


def resolve(target: tuple[str, str]) -> Any:
    module_name, attribute = target
    module = importlib.import_module(module_name)
    if not hasattr(module, attribute):
        raise AttributeError(
            f"moto internal moved: {module_name}.{attribute} (is moto still the pinned version?)"
        )
    return getattr(module, attribute)


def _parser_modules_using_boto_client() -> list[ModuleType]:
    package = importlib.import_module(PARSER_PACKAGE)
    found = []
    for info in pkgutil.walk_packages(package.__path__, prefix=PARSER_PACKAGE + "."):
        if ".resource_providers" in info.name:
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # optional integrations moto itself cannot import here
            continue
        if getattr(module, "boto_client_for", None) is not None:
            found.append(module)
    return found


@dataclass(frozen=True)
class _ItemBackup:
    """One item a transaction may change, as it was before (``saved`` None: it did not exist)."""

    table: Any
    hash_value: Any
    range_value: Any
    saved: Any
    had_bucket: bool  # a range-key table keeps a dict per hash key; was this one there?

    def restore(self) -> None:
        try:
            self._put_back()
        finally:
            _count_write(self.table)  # the item may move between index groups

    def _put_back(self) -> None:
        items = self.table.items
        if self.range_value is None:
            if self.saved is None:
                items.pop(self.hash_value, None)
            else:
                items[self.hash_value] = self.saved
            return
        bucket = items.get(self.hash_value)
        if self.saved is not None:
            items[self.hash_value][self.range_value] = self.saved
        elif bucket is not None:
            bucket.pop(self.range_value, None)
            if not bucket and not self.had_bucket:
                del items[self.hash_value]


@dataclass
class _TransactionUndo:
    """``items``: the backups to restore; None: moto's whole-table copies (``tables``) are the undo."""

    items: list[_ItemBackup] | None
    tables: dict[int, tuple[Any, Any]] = field(default_factory=dict)


def _item_backups(
    backend: Any, transact_items: Any, deepcopy: Callable[[Any], Any]
) -> list[_ItemBackup] | None:
    """A copy of every item the transaction names, or None when only a table copy is safe.

    A write can only change the item its key names, so these copies undo a cancelled transaction.
    None (moto's whole-table copy) when a table has a stream (a table copy also takes back the
    stream records) or a key cannot be read the way moto reads it (moto will refuse the call).
    """
    dynamo_type, not_found = resolve(DYNAMODB_TYPE), resolve(DYNAMODB_NOT_FOUND)
    backups: list[_ItemBackup] = []
    try:
        for operation in transact_items:
            if len(operation) != 1:
                return None
            ((kind, op),) = operation.items()
            try:
                table = backend.get_table(op.get("TableName"))  # a name or an ARN, as moto reads it
            except not_found:
                continue  # moto cancels the transaction; that operation writes nothing
            if table.stream_shard is not None:
                return None
            key = op["Item"] if kind == "Put" else op["Key"]
            hash_value = dynamo_type(key[table.hash_key_attr])
            range_value = None
            if table.range_key_attr is not None:
                range_value = dynamo_type(key[table.range_key_attr])
            current = table.items.get(hash_value)
            had_bucket = current is not None
            if range_value is not None:
                current = current.get(range_value) if current is not None else None
            saved = deepcopy(current) if current is not None else None
            backups.append(_ItemBackup(table, hash_value, range_value, saved, had_bucket))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return backups


#: moto's cap on a synchronous invocation's response (``sys.getsizeof`` of the payload), kept so a
#: Lambda task and a direct ``lambda.invoke`` fail at the same size (AWS: 6,291,556 bytes).
_MAX_RESPONSE_SIZE = 6_000_000
#: (backend class, the settings its URLs depend on) → moto's URL table for it.
_URL_TABLES: dict[tuple[type, str | None, str | None], Any] = {}
#: Services whose ``AttributeValue`` shape is DynamoDB's (a union of ten differently named members).
_ATTRIBUTE_VALUE_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})
#: moto's S3 treats a request without an Authorization header as anonymous (403 on a private bucket).
_SIGNED_SERVICES = frozenset({"s3", "s3-outposts", "s3express"})
#: Within one ``TransactWriteItems``: how to undo it if an item fails (``_TransactionUndo``).
_TRANSACTION_UNDO: contextvars.ContextVar[_TransactionUndo | None] = contextvars.ContextVar(
    "stepwise_transaction_undo", default=None
)
#: Within one query of a table's own key: (the table, the partition's hash key, the range key
#: condition or None) ``all_items`` serves.
_QUERIED_PARTITION: contextvars.ContextVar[tuple[Any, Any, Any] | None] = contextvars.ContextVar(
    "stepwise_queried_partition", default=None
)
#: Within one index query: (the table, the index's hash key attribute, its queried value).
_QUERIED_INDEX_GROUP: contextvars.ContextVar[tuple[Any, str, Any] | None] = contextvars.ContextVar(
    "stepwise_queried_index_group", default=None
)
#: A moto table's index groups (``_index_group``) live on the table itself, with its write count:
#: a table moto copies (a transaction's whole-table undo) takes along groups of its copied items.
_WRITES_ATTRIBUTE, _GROUPS_ATTRIBUTE = "_stepwise_writes", "_stepwise_index_groups"
#: Guards the write counts and the building of groups (Lambdas of a Distributed Map run on threads).
_INDEX_GROUPS_LOCK = threading.RLock()
#: Bumped when the index patch is applied or undone: writes made while it was not applied went
#: uncounted, so groups built before then are never used again.
_INDEX_GROUPS_EPOCH = [0]
_NOT_BUILT = object()
#: id(parsed update expression) → (the tree, its pickle): the validator's copies come from there.
_TREE_PICKLES: dict[int, tuple[Any, bytes]] = {}
_MAX_TREE_PICKLES = 2048
_MEMOIZED: dict[Callable[..., Any], Callable[..., Any]] = {}
#: (condition expression, its names, its values, as JSON) → (the parsed tree, the names and values
#: it used). The tree was parsed from a copy of the values only this cache holds.
_CONDITIONS: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}
_MAX_CONDITIONS = 2048


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_deepcopy(value: Any, memo: Any = None) -> Any:
    """``copy.deepcopy`` of a JSON value (dicts, lists, scalars), about 3x faster; anything else: deepcopy.

    The one difference: a dict or list that appears twice in ``value`` is copied twice (deepcopy
    keeps the sharing). JSON has no sharing: what Step Functions passes between states is text.
    """
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is dict:
        return {key: json_deepcopy(item) for key, item in value.items()}
    if kind is list:
        return [json_deepcopy(item) for item in value]
    return copy.deepcopy(value, memo)


def _key_condition_range(items: list[Any], comparison: str, values: list[Any]) -> list[Any]:
    """The items a range key condition selects, with their neighbours in key order, sorted.

    moto's table query sorts the whole partition with ``DynamoType`` comparisons and sizes every
    item before it applies the key condition: a contact's partition that gains an activity a run
    made its ``begins_with(sk, "DEAL#")`` query slower each run (the harness's long-lived runtime
    measured 1.4-1.9x after 200 runs). DynamoDB reads only what the key condition selects: a
    contiguous run of the sorted keys, found here by bisection. The item on each side of it stays,
    because moto decides whether a page ends with a ``LastEvaluatedKey`` when it meets the item
    after a full page, so its pages stay exactly moto's (moto applies the condition again).
    Where moto's answer is its own quirk the answer differs, as DynamoDB's would: its 1 MB page
    limit no longer counts items the condition rejects, legacy ``KeyConditions`` + ``QueryFilter``
    (which moto ORs) see only the selected run, and a malformed ``ExclusiveStartKey`` on a query
    that selects nothing returns an empty page where moto raised a TypeError (DynamoDB: a
    ValidationException). The project uses none of these.
    """
    keyed = sorted(((_sort_key(item.range_key), item) for item in items), key=lambda pair: pair[0])
    keys = [key for key, _ in keyed]
    ordered = [item for _, item in keyed]
    bounds = _bisect_bounds(keys, comparison.upper(), [value.cast_value for value in values])
    if bounds is None:  # a comparison or key type not bisected here: moto's own test, item by item
        selected = [n for n, item in enumerate(ordered) if item.range_key.compare(comparison, values)]
        bounds = (selected[0], selected[-1] + 1) if selected else (0, 0)
    low, high = bounds
    if low >= high:
        return []
    return ordered[max(low - 1, 0) : high + 1]


def _count_write(table: Any) -> None:
    """``table``'s items may have changed: its index groups are out of date."""
    with _INDEX_GROUPS_LOCK:
        state = vars(table)
        state[_WRITES_ATTRIBUTE] = state.get(_WRITES_ATTRIBUTE, 0) + 1


def _index_group(
    table: Any, attribute: str, value: Any, all_items: Callable[[Any], list[Any]]
) -> list[Any] | None:
    """The items of ``table`` whose ``attribute`` is ``value``, in ``all_items`` order; None: unknown.

    The table's items are grouped by ``attribute`` once (one pass over ``all_items``, moto's
    sorted list) and the groups kept until the next write to the table. A group holds every item
    moto's index query could select by that hash key (equal ``DynamoType``: same hash), so moto's
    own key test, sorting and paging still decide; an item without the attribute (a sparse index)
    is in no group. None when a value cannot be hashed (a list or map under that name): moto
    reads them all, as before. A query that runs while another thread writes sees the table as
    it was before that write, as a (eventually consistent) GSI may: the write counts itself once
    its change is made, and groups are built under the lock and tagged with the count they saw.
    """
    try:
        hash(value)
    except TypeError:
        return None
    with _INDEX_GROUPS_LOCK:
        state = vars(table)
        version = (_INDEX_GROUPS_EPOCH[0], state.get(_WRITES_ATTRIBUTE, 0))
        built = state.get(_GROUPS_ATTRIBUTE)
        if built is None or built[0] != version:
            built = (version, {})
            state[_GROUPS_ATTRIBUTE] = built
        groups = built[1].get(attribute, _NOT_BUILT)
        if groups is _NOT_BUILT:
            token = _QUERIED_INDEX_GROUP.set(None)  # the whole table, through any other patch
            try:
                items = all_items(table)
            finally:
                _QUERIED_INDEX_GROUP.reset(token)
            groups = built[1][attribute] = _grouped(items, attribute)
    return None if groups is None else list(groups.get(value, ()))


def _grouped(items: list[Any], attribute: str) -> dict[Any, list[Any]] | None:
    groups: dict[Any, list[Any]] = {}
    try:
        for item in items:
            value = getattr(item, "attrs", {}).get(attribute)
            if value is not None:
                groups.setdefault(value, []).append(item)
    except TypeError:  # an unhashable value (a list, a map, a set)
        return None
    return groups


def _sort_key(key: Any) -> Any:
    """``key.cast_value`` (what moto sorts on), without its property's type tests for a string."""
    return key.value if key.type == "S" else key.cast_value


def _bisect_bounds(  # noqa: PLR0911 - one return per comparison
    keys: list[Any], comparison: str, values: list[Any]
) -> tuple[int, int] | None:
    """[low, high) of the sorted string or number ``keys`` that ``comparison`` selects, else None."""
    if not values or not all(isinstance(v, str | Decimal) for v in values):
        return None
    if keys and type(keys[0]) is not type(values[0]):
        return None
    first = values[0]
    if comparison in ("=", "EQ"):
        return bisect.bisect_left(keys, first), bisect.bisect_right(keys, first)
    if comparison in ("<", "LT"):
        return 0, bisect.bisect_left(keys, first)
    if comparison in ("<=", "LE"):
        return 0, bisect.bisect_right(keys, first)
    if comparison in (">", "GT"):
        return bisect.bisect_right(keys, first), len(keys)
    if comparison in (">=", "GE"):
        return bisect.bisect_left(keys, first), len(keys)
    if comparison == "BETWEEN" and len(values) == 2:
        return bisect.bisect_left(keys, first), bisect.bisect_right(keys, values[1])
    if comparison == "BEGINS_WITH" and isinstance(first, str):
        low = high = bisect.bisect_left(keys, first)
        while high < len(keys) and keys[high].startswith(first):
            high += 1
        return low, high
    return None


def _lambda_within_limit(value: Any) -> bool:
    return limits.lambda_result_within_limit(value)


def _iterative_eval_pool(*, delete: bool) -> Callable[[Any, Any, Any], None]:
    """moto's ``IterationWorker._eval_pool`` (``delete``: the Distributed Map worker's), as a loop.

    Same steps as moto's, which called itself once per item: the frame of the job is opened,
    evaluated and closed, the worker stops at a failed job or a stop signal, else takes the next.
    A worker that raises (moto's own bug, a RecursionError) fails its job instead of leaving the
    Map waiting for a job nobody will close.
    """

    def eval_pool(self_: Any, job: Any, worker_frame: Any) -> None:
        owner = self_._env
        release = owner.delete_frame if delete else owner.close_frame
        while job is not None:
            try:
                job_frame = worker_frame.open_inner_frame()
                self_._eval_job(env=job_frame, job=job)
                (worker_frame.delete_frame if delete else worker_frame.close_frame)(job_frame)
            except Exception as exc:
                job.job_output = exc
            if isinstance(job.job_output, Exception) or self_.stopped():
                release(worker_frame)
                self_._job_pool.close_job(job)
                return
            next_job = self_._job_pool.next_job()
            if next_job is None:
                if not delete:  # non-faulty terminal iteration events source the following states
                    worker_frame.event_history_context.source_event_id = (
                        job_frame.event_history_context.last_published_event_id
                    )
                release(worker_frame)
                self_._job_pool.close_job(job)
                return
            self_._job_pool.close_job(job)
            job = next_job
        release(worker_frame)

    return eval_pool


def _memoized(function: Callable[..., Any]) -> Callable[..., Any]:
    """One cache per original function for the process, so runtimes share what was computed."""
    with _LOCK:
        if function not in _MEMOIZED:
            _MEMOIZED[function] = functools.lru_cache(maxsize=1024)(function)
        return _MEMOIZED[function]


@dataclass
class MotoPatches:
    """Apply and undo the local runtime's patches.

    - Lambda invocations go to ``invoke`` (the in-process dispatcher) instead of moto's echo; a
      Lambda task of the interpreter calls it directly rather than through a boto3 client and
      moto's Lambda API (same response: status 200, ``FunctionError`` when the handler raised,
      the JSON payload; moto's 6 MB response cap kept), 8% of an execution.
    - Retry backoff sleeps are skipped (``instant_retries``); the number of attempts is unchanged.
    - Wait states are skipped (``instant_waits``).
    - The interpreter's per-call boto clients are cached for the process (2.3x throughput, see
      moto-notes); moto intercepts them under whichever runtime's mock is active.
    - The ``TimeoutSeconds`` of ``.waitForTaskToken`` tasks becomes ``callback_timeout(state name,
      declared seconds)``, asked each time such a state starts: moto runs timeouts in real time, and
      an approval's is three days.
    - A definition moto has validated once (a full ANTLR parse, about half of a runtime's start-up)
      is not parsed again by ``CreateStateMachine``: every test's runtime registers the same ASL
      files. Only successes are remembered, so an invalid definition is still refused every time;
      executions still parse their definition themselves.
    - A definition is parsed with ANTLR once per process (110-180 ms each time, pure Python), and
      the evaluation program moto builds from the tree (its ``Preprocessor``, another 15-30 ms) is
      reused by the next execution once the previous one has ended. The program holds no per-run
      state: every value lives in the execution's ``Environment`` (moto itself runs one program
      for all the iterations of a Map), and the one patched piece, the callback timeout, asks the
      runtime whose patches are applied now.
    - Every botocore session shares one data loader: moto replaces boto3's default session at each
      ``mock_aws`` start, and each new session parsed the service models' JSON again (DynamoDB,
      S3, Step Functions…: 20-50 ms each, for every runtime and again in every step's first call).
    - Requests carry a stand-in ``Authorization`` header instead of a SigV4 signature (signing
      was 30% of a DynamoDB call's cost here): moto never checks a signature, and the header still
      names the access key (moto's account for it, e.g. after ``AssumeRole``) and the region (which
      moto reads from it for services whose URL does not name one, e.g. SQS). S3 requests and
      presigned URLs are still really signed: an unsigned S3 call got moto's anonymous answer (403
      on a private bucket), and S3's signer also sets the payload-hash header moto reads.
    - A JSONPath is parsed once per process (moto built a new jsonpath-ng parser, with its yacc
      tables, for every path it evaluated: 6% of an execution), and moto's per-request list of a
      response class's methods (``inspect.getmembers``, 7% of a call) is computed once per class.
      A backend's URL table is built once per class (moto rebuilt it for every request, and for S3
      reloaded ``moto.s3.urls`` each time: 4.5% of an execution); it still follows the two
      settings it depends on, ``MOTO_S3_CUSTOM_ENDPOINTS`` and ``MOTO_ENABLE_ISO_REGIONS``.
    - DynamoDB: an update expression is parsed once per process (moto parsed it twice per call;
      its validator works on a copy of the tree, so the cached tree is never changed; that copy
      is unpickled from the tree's pickle, 4.5x faster than ``deepcopy`` and the same objects).
      Its validator walks the tree ten times, and at every node rebuilt the processor's map of
      node types and ran abstract-class ``isinstance`` checks: the walk now looks each node type
      up once per processor class, and calls a processor's hook before each child only if it has
      one (same order, same functions; the ledger's 9-action update is 20% cheaper). Its clause
      count and overlapping-path checks run once on the whole expression when it passes them, and
      a condition expression is parsed once per text, names and values (see each method). A
      cancelled ``TransactWriteItems`` is undone item by item: the items its
      operations name are copied before it runs and put back if it fails. moto deep-copied every
      table the transaction touches, once per operation, so a call's cost grew with the table
      (60 ms at 1,000 items: a local server got slower all day as its ledger grew). A table with a stream,
      or a key moto will refuse, still gets moto's whole-table copy, once per table. A query of a
      table's own key reads that key's partition: moto sorted every item of the table and kept
      those with the key; an index query reads the items with its hash key value, grouped once
      per table and attribute until the table's next write. And an attribute
      value (``{"S": "x"}``) is serialized through its one member: moto's generic serializer
      tried all ten members of ``AttributeValue`` with six alias lookups each, for every
      attribute of every returned item (over half of a ``GetItem`` of a 14-attribute item). The
      other nine cannot match a one-key dict: no alias of theirs is a member name.
    - ``signals`` (when given) hears when an execution ends and when a callback state starts and
      stops waiting for its token, so ``LocalRuntime.wait`` sleeps instead of polling.
    - AWS's limits (``local/limits.py``) hold in the interpreter: see ``_enforce_limits``.
    - ``RedriveExecution`` (which moto lacks) is emulated by ``local/redrive.py``, and
      ``DescribeExecution`` reports the redrive fields.
    - A Distributed Map whose failed children pass its tolerated threshold fails with
      ``States.ExceedToleratedFailureThreshold`` (``local/map_tolerance.py``); moto went on.
    - moto's chatty Step Functions logger is quieted.
    """

    invoke: InvokeFn
    instant_retries: bool = True
    instant_waits: bool = True
    callback_timeout: Callable[[str, float], float] = lambda _state, seconds: seconds
    signals: ExecutionSignals | None = None
    _undo: list[Callable[[], None]] = field(default_factory=list)

    def apply(self) -> None:
        backend = resolve(LAMBDA_INVOKE)
        original_invoke = backend.invoke
        dispatch = self.invoke

        def invoke(
            self_: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: Any,
        ) -> bytes:
            return dispatch(function_name, body, response_headers)

        backend.invoke = invoke
        self._undo.append(lambda: setattr(backend, "invoke", original_invoke))
        self._invoke_lambda_tasks_directly(dispatch)

        if self.instant_retries:
            retrier: Any = importlib.import_module(RETRY_TIME[0])
            original_time = resolve(RETRY_TIME)
            retrier.time = SimpleNamespace(
                sleep=lambda _seconds: None, time=time.time, monotonic=time.monotonic
            )
            # Bound now: a later loop of this method reuses names (it once undid the wrong module).
            self._undo.append(lambda m=retrier, t=original_time: setattr(m, "time", t))  # type: ignore[misc]

        if self.instant_waits:
            wait_cls = resolve(WAIT_INTERVAL)
            original_wait = wait_cls._wait_interval
            wait_cls._wait_interval = lambda _self, _env, _seconds: None
            self._undo.append(lambda: setattr(wait_cls, "_wait_interval", original_wait))

        self._scale_callback_timeouts()
        self._enforce_limits()
        self._remember_valid_definitions()
        self._reuse_programs()
        self._share_botocore_loader()
        self._skip_request_signing()
        self._build_url_tables_once()
        self._parse_update_expressions_once()
        self._traverse_expression_trees_by_type()
        self._check_whole_update_expressions_once()
        self._parse_conditions_once()
        self._build_json_errors_without_xml()
        self._undo_transactions_item_by_item()
        self._query_one_partition()
        self._serialize_attribute_values_directly()
        self._memoize_lookups()
        self._copy_interpreter_values_as_json()
        self._emulate_what_moto_lacks()
        if self.signals is not None:
            self._announce(self.signals)

        original_client_for = resolve(BOTO_CLIENT_FOR)

        def cached_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            # The interpreter always passes the state's credentials and moto's ``boto_client_for``
            # ignores them (fixed fake keys), so the client depends on (region, service) only.
            with _LOCK:
                key = (region, service)
                if key not in _INTERPRETER_CLIENTS:
                    _INTERPRETER_CLIENTS[key] = original_client_for(region, service)
                return _INTERPRETER_CLIENTS[key]

        for module in _parser_modules_using_boto_client():
            previous = module.boto_client_for
            setattr(module, "boto_client_for", cached_client_for)  # noqa: B010 - a module attribute
            self._undo.append(lambda m=module, p=previous: setattr(m, "boto_client_for", p))  # type: ignore[misc]

        for name in ("moto.stepfunctions.parser", "moto.stepfunctions"):
            log = logging.getLogger(name)
            level = log.level
            # The interpreter logs every caught error as an exception; the timeline reports them.
            log.setLevel(logging.CRITICAL if not os.environ.get("STEPWISE_MOTO_DEBUG") else logging.DEBUG)
            self._undo.append(lambda lg=log, lv=level: lg.setLevel(lv))  # type: ignore[misc]

    def _set(self, owner: Any, attribute: str, value: Any) -> None:
        """``owner.attribute = value`` until ``undo`` (a class's own attribute, or a module's)."""
        had_own = attribute in vars(owner)
        original = vars(owner).get(attribute)
        setattr(owner, attribute, value)
        self._undo.append(
            (lambda: setattr(owner, attribute, original)) if had_own else (lambda: delattr(owner, attribute))
        )

    def _enforce_limits(self) -> None:
        """Thin hooks into moto's interpreter for the limits of ``local/limits.py``.

        - Payload size: moto's three checks use ``limits`` (262,144 bytes of compact UTF-8 JSON; a
          Lambda task's *result*, not moto's response wrapper around it).
        - ``States.ALL`` no longer matches ``States.DataLimitExceeded`` or ``States.Runtime``.
        - An error leaving a Map iteration or a Parallel branch keeps its name: moto rebuilt it as
          a custom name, which refuses a ``States.`` prefix, so ``States.DataLimitExceeded`` (or
          ``States.Timeout``) inside a Map became ``States.Runtime`` "Custom Error Names MUST NOT…";
          so did a ``Fail`` state re-raising a caught ``States.`` error through its ``ErrorPath``.
        - Map iterations run in a loop, not by recursion: a worker that ran ~985 items in a row
          (``MaxConcurrency`` 1) died of ``RecursionError`` and left the execution RUNNING forever.
          A worker that dies of anything else now fails its item (and so the Map) instead of hanging.
        - History: the 25,000th event of an execution is its ``ExecutionFailed`` (``HistoryBudget``).
        """
        for target in (SIZE_QUOTA_STATE, SIZE_QUOTA_SERVICE):
            self._set(importlib.import_module(target[0]), target[1], limits.within_payload_limit)
        self._set(importlib.import_module(SIZE_QUOTA_LAMBDA[0]), SIZE_QUOTA_LAMBDA[1], _lambda_within_limit)

        error_equals_cls, states_error_name = resolve(ERROR_EQUALS), resolve(STATES_ERROR_NAME)
        original_error_equals = error_equals_cls._eval_body

        def eval_error_equals(self_: Any, env: Any) -> None:
            if error_equals_cls._STATE_ALL_ERROR not in self_.error_names:
                original_error_equals(self_, env)
                return
            error_name = env.stack.pop()
            env.stack.append(limits.states_all_matches(getattr(error_name, "error_name", None)))

        self._set(error_equals_cls, "_eval_body", eval_error_equals)

        custom_error_name = resolve(MAP_ITERATION_ERROR)

        def propagated_error_name(error_name: str | None) -> Any:
            if error_name is not None and error_name.startswith("States."):
                with contextlib.suppress(ValueError):
                    return states_error_name.from_name(error_name)
            return custom_error_name(error_name=error_name)

        for target in (MAP_ITERATION_ERROR, PARALLEL_BRANCH_ERROR, FAIL_STATE_ERROR):
            self._set(importlib.import_module(target[0]), target[1], propagated_error_name)

        self._set(resolve(ITERATION_WORKER), "_eval_pool", _iterative_eval_pool(delete=False))
        self._set(resolve(DISTRIBUTED_WORKER), "_eval_pool", _iterative_eval_pool(delete=True))
        self._limit_history()

    def _limit_history(self) -> None:
        manager_cls, program_cls = resolve(EVENT_MANAGER), resolve(PROGRAM)
        original_add, original_program = manager_cls.add_event, program_cls._eval_body

        def program_eval_body(self_: Any, env: Any) -> None:
            if not env.is_frame():  # an execution's own environment (a child execution has its own)
                env.event_manager.stepwise_root = env
            original_program(self_, env)

        def add_event(self_: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
            budget = self_.__dict__.get("stepwise_budget")
            if budget is None:
                budget = self_.__dict__.setdefault("stepwise_budget", limits.HistoryBudget())
            with budget.lock:
                published = len(self_._history_event_list)
                admitted = budget.admit(published, str(getattr(event_type, "value", event_type)))
                if admitted and budget.exhausted:  # the ExecutionFailed: always the limit's error
                    args, kwargs = (
                        (),
                        {"event_details": {"executionFailedEventDetails": limits.history_limit_details()}},
                    )
                if admitted:
                    return int(original_add(self_, context, event_type, *args, **kwargs))
            root = getattr(self_, "stepwise_root", None)
            if root is not None and not getattr(root, "stepwise_history_exhausted", False):
                root.stepwise_history_exhausted = True
                root.set_error(limits.history_limit_details())
                fixed_error = root.set_error
                root.set_error = lambda *_args, **_kwargs: fixed_error(limits.history_limit_details())
            return published

        self._set(manager_cls, "add_event", add_event)
        self._set(program_cls, "_eval_body", program_eval_body)

    def _remember_valid_definitions(self) -> None:
        backend_cls = resolve(VALIDATE_DEFINITION)
        original = backend_cls.__dict__["_validate_definition"]  # a staticmethod
        validate = original.__func__

        def remembering(definition: str) -> None:
            if definition not in _VALID_DEFINITIONS:
                validate(definition=definition)  # raises InvalidDefinition: not remembered
                _VALID_DEFINITIONS.add(definition)

        backend_cls._validate_definition = staticmethod(remembering)
        self._undo.append(lambda: setattr(backend_cls, "_validate_definition", original))

    def _reuse_programs(self) -> None:
        parser_cls, preprocessor_cls = resolve(ASL_PARSER), resolve(PREPROCESSOR)
        worker_cls = resolve(EXECUTION_WORKER)
        original_parse = parser_cls.__dict__["parse"]  # a staticmethod
        parse = original_parse.__func__
        original_entrypoint = worker_cls._get_evaluation_entrypoint
        original_logic = worker_cls._execution_logic

        def parse_once(definition: str) -> tuple[Any, Any]:
            with _LOCK:
                tree = _PARSE_TREES.get(definition)
                idle = _IDLE_PROGRAMS.get(definition)
                if tree is not None and idle:
                    return idle.pop(), tree
            if tree is not None:
                return preprocessor_cls().visit(tree), tree
            program, tree = parse(definition)  # raises ASLParserException: not remembered
            with _LOCK:
                if len(_PARSE_TREES) < _MAX_PARSE_TREES:
                    _PARSE_TREES[definition] = tree
            return program, tree

        def entrypoint(self_: Any) -> Any:
            program = original_entrypoint(self_)
            self_.stepwise_program = program
            return program

        def execution_logic(self_: Any) -> None:
            try:
                original_logic(self_)
            finally:
                program = getattr(self_, "stepwise_program", None)
                definition = self_._evaluation_details.state_machine_details.definition
                with _LOCK:
                    idle = _IDLE_PROGRAMS.setdefault(definition, [])
                    if program is not None and definition in _PARSE_TREES and len(idle) < _MAX_IDLE_PROGRAMS:
                        idle.append(program)

        parser_cls.parse = staticmethod(parse_once)
        worker_cls._get_evaluation_entrypoint = entrypoint
        worker_cls._execution_logic = execution_logic
        self._undo.append(lambda: setattr(parser_cls, "parse", original_parse))
        self._undo.append(lambda: setattr(worker_cls, "_get_evaluation_entrypoint", original_entrypoint))
        self._undo.append(lambda: setattr(worker_cls, "_execution_logic", original_logic))

    def _share_botocore_loader(self) -> None:
        module: Any = importlib.import_module(BOTOCORE_LOADER[0])
        original = resolve(BOTOCORE_LOADER)

        def shared_loader(search_path_string: str | None = None) -> Any:
            with _LOCK:
                if search_path_string not in _LOADERS:
                    _LOADERS[search_path_string] = original(search_path_string)
                return _LOADERS[search_path_string]

        module.create_loader = shared_loader
        self._undo.append(lambda: setattr(module, "create_loader", original))

    def _invoke_lambda_tasks_directly(self, dispatch: InvokeFn) -> None:
        module: Any = importlib.import_module(LAMBDA_TASK_INVOKE[0])
        original = resolve(LAMBDA_TASK_INVOKE)

        def invoke_lambda_function(parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
            headers: dict[str, Any] = {}
            payload = dispatch(str(parameters["FunctionName"]), parameters.get("Payload"), headers)
            if sys.getsizeof(payload) > _MAX_RESPONSE_SIZE:  # moto's own check in LambdaResponse.invoke
                headers["x-amz-function-error"] = "Unhandled"
                payload = json.dumps(
                    {
                        "errorMessage": "Response payload size exceeded maximum allowed payload size "
                        "(6291556 bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }
                ).encode()
            response: dict[str, Any] = {"StatusCode": 200}
            response["Payload"] = module._from_payload(io.BytesIO(payload))
            if "x-amz-function-error" in headers:
                response["FunctionError"] = headers["x-amz-function-error"]
            return response

        module._invoke_lambda_function = invoke_lambda_function
        self._undo.append(lambda: setattr(module, "_invoke_lambda_function", original))

    def _build_url_tables_once(self) -> None:
        backend_cls = resolve(BACKEND_URLS)
        original = backend_cls.__dict__["urls"]  # a property

        def urls(self_: Any) -> Any:
            key = (
                type(self_),
                os.environ.get("MOTO_S3_CUSTOM_ENDPOINTS"),
                os.environ.get("MOTO_ENABLE_ISO_REGIONS"),
            )
            table = _URL_TABLES.get(key)
            if table is None:
                table = _URL_TABLES[key] = original.fget(self_)
            return table

        backend_cls.urls = property(urls)
        self._undo.append(lambda: setattr(backend_cls, "urls", original))

    def _skip_request_signing(self) -> None:
        signer_cls = resolve(REQUEST_SIGNER)
        original = signer_cls.sign

        def sign(self_: Any, operation_name: str, request: Any, *args: Any, **kwargs: Any) -> Any:
            signing_type = args[1] if len(args) > 1 else kwargs.get("signing_type", "standard")
            if signing_type != "standard" or self_.signing_name in _SIGNED_SERVICES:
                return original(self_, operation_name, request, *args, **kwargs)  # URLs are the product
            credentials = self_._credentials
            if credentials is None:
                return None  # an UNSIGNED client sends no Authorization header either way
            region = (args[0] if args else kwargs.get("region_name")) or self_.region_name
            service = kwargs.get("signing_name") or self_.signing_name
            access_key = credentials.get_frozen_credentials().access_key
            # What moto reads from a signature: the access key (its account) and the scope's region
            # (the region of services whose URL does not name it, e.g. SQS). Not a valid signature.
            if "Authorization" in request.headers:
                del request.headers["Authorization"]
            request.headers["Authorization"] = (
                f"AWS4-HMAC-SHA256 Credential={access_key}/20000101/{region}/{service}/aws4_request, "
                "SignedHeaders=host, Signature=0"
            )
            return None

        signer_cls.sign = sign
        self._undo.append(lambda: setattr(signer_cls, "sign", original))

    def _memoize_lookups(self) -> None:
        for target in (JSON_PATH_PARSE, RESULT_PATH_PARSE, RESPONSE_METHOD_NAMES):
            module: Any = importlib.import_module(target[0])
            original = resolve(target)
            # Parsed JSONPaths are read-only trees (``find``/``update_or_create`` do not change
            # them), and a class's methods do not change while the runtime is up.
            module_attr = target[1]
            setattr(module, module_attr, _memoized(original))
            self._undo.append(lambda m=module, a=module_attr, o=original: setattr(m, a, o))  # type: ignore[misc]

    def _parse_update_expressions_once(self) -> None:
        parser_cls = resolve(UPDATE_EXPRESSION_PARSER)
        original_make = parser_cls.__dict__["make"]  # a classmethod
        make = _memoized(original_make.__func__)

        def make_once(cls: Any, expression_str: str) -> Any:
            tree = make(cls, expression_str)
            with _LOCK:
                if id(tree) not in _TREE_PICKLES:
                    if len(_TREE_PICKLES) >= _MAX_TREE_PICKLES:
                        _TREE_PICKLES.clear()  # a miss only costs moto's own deepcopy
                    # A very long expression cannot be pickled: the validator uses moto's deepcopy.
                    with contextlib.suppress(RecursionError):
                        _TREE_PICKLES[id(tree)] = (tree, pickle.dumps(tree))
            return tree

        validators: Any = importlib.import_module(UPDATE_VALIDATOR_COPY[0])
        original_deepcopy = resolve(UPDATE_VALIDATOR_COPY)

        def copy_tree(value: Any, memo: Any = None) -> Any:
            pickled = _TREE_PICKLES.get(id(value))
            if memo is None and pickled is not None and pickled[0] is value:
                return pickle.loads(pickled[1])  # noqa: S301 - our own pickle of moto's parse tree
            return original_deepcopy(value, memo)

        parser_cls.make = classmethod(make_once)
        validators.deepcopy = copy_tree
        self._undo.append(lambda: setattr(parser_cls, "make", original_make))
        self._undo.append(lambda: setattr(validators, "deepcopy", original_deepcopy))

    def _traverse_expression_trees_by_type(self) -> None:
        traverser_cls, node_cls = resolve(EXPRESSION_TRAVERSER), resolve(EXPRESSION_NODE)
        original = traverser_cls.traverse_node_recursively
        is_node: dict[type, bool] = {}
        #: (traverser class, node class) → the processing map's key for that node, or None.
        handled_as: dict[tuple[type, type], Any] = {}
        #: traverser class → whether it has a ``pre_processing_of_child`` (the base one does nothing).
        prepares: dict[type, bool] = {}
        no_preparation = traverser_cls.pre_processing_of_child

        def traverse(self_: Any, node: Any, child_id: int = -1) -> Any:
            node_type = type(node)
            if node_type not in is_node:
                is_node[node_type] = issubclass(node_type, node_cls)
            if not is_node[node_type]:
                return node
            parent_node = node.parent
            if node.children is not None:
                traverser_type = type(self_)
                if traverser_type not in prepares:
                    prepares[traverser_type] = traverser_type.pre_processing_of_child is not no_preparation
                if prepares[traverser_type]:
                    for index, child in enumerate(node.children):
                        self_.pre_processing_of_child(node, index)
                        traverse(self_, child, index)
                else:
                    for index, child in enumerate(node.children):
                        traverse(self_, child, index)
            key = (type(self_), node_type)
            if key not in handled_as:
                handled_as[key] = next((k for k in self_._processing_map() if issubclass(node_type, k)), None)
            if handled_as[key] is not None:
                processing = self_.__dict__.get("_stepwise_processing")
                if processing is None:
                    processing = self_.__dict__["_stepwise_processing"] = self_._processing_map()
                node = processing[handled_as[key]](node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
            return node

        traverser_cls.traverse_node_recursively = traverse
        self._undo.append(lambda: setattr(traverser_cls, "traverse_node_recursively", original))

    def _copy_interpreter_values_as_json(self) -> None:
        """The interpreter copies a state's values (``copy.deepcopy``) as JSON: ``json_deepcopy``.

        It copies the input, the result, the stack and each path's value at every state (about
        fifteen copies per state of the 7-step flow, ~4,400 objects per run); deepcopy's memo and
        dispatch per object made that 8% of an execution's CPU under cProfile, 3% now.
        """
        faster = SimpleNamespace(deepcopy=json_deepcopy, copy=copy.copy)
        for target in INTERPRETER_VALUE_COPIES:
            module: Any = importlib.import_module(target[0])
            original = resolve(target)
            module.copy = faster
            self._undo.append(lambda m=module, o=original: setattr(m, "copy", o))  # type: ignore[misc]

    def _parse_conditions_once(self) -> None:
        """A condition (or filter) expression is parsed once for the same names and values.

        moto parses one ``ConditionExpression`` two or three times per request (to check which
        names and values it uses, then to evaluate it, again inside a transaction): 21 parses of
        an expression per 7-step run (and 15 calls without one). The parsed tree is only read
        when it is evaluated (``expr(item)``), so one tree serves every parse of the same text with
        the same names and values; it is parsed from a copy of the values, so no request's objects
        are kept. Values JSON cannot hold (binary) and expressions moto refuses are parsed every
        time, as before.
        """
        parser_cls = resolve(CONDITION_PARSER)
        original = parser_cls.__dict__["parse"]

        def parse(self_: Any) -> Any:
            expression = self_.condition_expression
            if not isinstance(expression, str):
                return original(self_)
            try:
                key = (
                    expression,
                    json.dumps(self_.expression_attribute_names, sort_keys=True),
                    json.dumps(self_.expression_attribute_values, sort_keys=True),
                )
            except (TypeError, ValueError):
                return original(self_)
            cached = _CONDITIONS.get(key)
            if cached is None:
                owned = parser_cls(expression, json.loads(key[1]), json.loads(key[2]))
                tree = original(owned)  # raises for an invalid expression: nothing is cached
                cached = (tree, list(owned.expr_attr_names_found), list(owned.expr_attr_values_found))
                with _LOCK:
                    if len(_CONDITIONS) >= _MAX_CONDITIONS:
                        _CONDITIONS.clear()
                    _CONDITIONS[key] = cached
            self_.expr_attr_names_found.extend(cached[1])  # as moto's parse adds what it found
            self_.expr_attr_values_found.extend(cached[2])
            return cached[0]

        parser_cls.parse = parse
        self._undo.append(lambda: setattr(parser_cls, "parse", original))

    def _check_whole_update_expressions_once(self) -> None:
        """Clause counts and overlapping paths: checked on the whole expression, not at every node.

        moto runs both checks at every node of the tree (each collects the clauses or actions
        below that node: quadratic, a fifth of the ledger's 8-action transaction). What a node's
        check collects is part of what the whole expression's check collects (clauses and actions
        do not nest), so when the whole expression passes, every node would have passed. When it
        fails, moto's own walk runs and raises the error it always did, from the node it always did.
        """
        root_cls = resolve(UPDATE_EXPRESSION_NODE)
        for target in (ACTION_COUNT_VALIDATOR, OVERLAPPING_PATHS_VALIDATOR):
            validator_cls = resolve(target)
            own = validator_cls.__dict__.get("traverse")  # another runtime's patch, if any
            original = validator_cls.traverse  # DepthFirstTraverser's (checked per node)

            def traverse(self_: Any, node: Any, original: Callable[..., Any] = original) -> Any:
                if type(node) is not root_cls:
                    return original(self_, node)
                check = self_._processing_map()[root_cls]
                try:
                    check(node)  # returns the node unchanged, or raises
                except Exception:
                    return original(self_, node)
                return node

            validator_cls.traverse = traverse
            self._undo.append(
                (lambda c=validator_cls: delattr(c, "traverse"))  # type: ignore[misc]
                if own is None
                else (lambda c=validator_cls, o=own: setattr(c, "traverse", o))  # type: ignore[misc]
            )

    def _build_json_errors_without_xml(self) -> None:
        """A JSON-protocol error (DynamoDB's, KMS's, Step Functions'…) is built without an XML body.

        moto's base error renders an XML body (xmltodict) that ``JsonRESTError`` then replaces with
        its JSON one. DynamoDB's update validator raises and catches such an error for every
        ``ADD`` to an attribute the item does not have yet: six per ledger transaction. Same
        attributes, same JSON body; the XML was never sent.
        """
        json_error_cls, rest_error_cls = resolve(JSON_REST_ERROR), resolve(REST_ERROR)
        original = json_error_cls.__dict__["__init__"]

        def init(self_: Any, error_type: str, message: str, _: str = "", **kwargs: Any) -> None:
            super(rest_error_cls, self_).__init__()  # what _RESTError.__init__ starts with
            self_.error_type = error_type
            self_.message = message
            self_.description = json.dumps({"__type": error_type, "message": message})
            self_.content_type = "application/json"

        json_error_cls.__init__ = init
        self._undo.append(lambda: setattr(json_error_cls, "__init__", original))

    def _undo_transactions_item_by_item(self) -> None:
        backend_cls, table_cls = resolve(DYNAMODB_BACKEND), resolve(DYNAMODB_TABLE)
        models: Any = importlib.import_module(DYNAMODB_BACKEND[0])
        original_transact = backend_cls.transact_write_items
        original_copy = models.copy

        def deepcopy(value: Any, memo: Any = None) -> Any:
            undo = _TRANSACTION_UNDO.get()
            if undo is None or memo is not None or not isinstance(value, table_cls):
                return original_copy.deepcopy(value, memo)
            if undo.items is not None:
                return value  # moto's rollback puts the same table back; the items are restored below
            if id(value) not in undo.tables:
                undo.tables[id(value)] = (value, original_copy.deepcopy(value))
            return undo.tables[id(value)][1]

        def transact_write_items(self_: Any, transact_items: Any) -> Any:
            undo = _TransactionUndo(items=_item_backups(self_, transact_items, original_copy.deepcopy))
            token = _TRANSACTION_UNDO.set(undo)
            try:
                return original_transact(self_, transact_items)
            except BaseException:
                for backup in reversed(undo.items or []):
                    backup.restore()
                raise
            finally:
                _TRANSACTION_UNDO.reset(token)

        models.copy = SimpleNamespace(deepcopy=deepcopy, copy=original_copy.copy)
        backend_cls.transact_write_items = transact_write_items
        self._undo.append(lambda: setattr(models, "copy", original_copy))
        self._undo.append(lambda: setattr(backend_cls, "transact_write_items", original_transact))

    def _emulate_what_moto_lacks(self) -> None:
        """``RedriveExecution`` and the Distributed Map failure threshold, each in its own module."""
        from local import map_tolerance, redrive  # their moto imports are the interpreter's, loaded with it

        self._undo.extend(redrive.install())
        self._undo.extend(map_tolerance.install())

    def _query_one_partition(self) -> None:
        table_cls = resolve(DYNAMODB_TABLE)
        original_query, original_all_items = table_cls.query, table_cls.all_items

        def all_items(self_: Any) -> list[Any]:
            queried = _QUERIED_PARTITION.get()
            if queried is None or queried[0] is not self_:
                return original_all_items(self_)  # type: ignore[no-any-return]
            partition = self_.items.get(queried[1])
            if partition is None:
                return []
            if self_.range_key_attr is None:
                return [partition]
            # moto sorts a table query's matches by range key itself (a second sort cost as much).
            condition = queried[2]
            if condition is None:
                return list(partition.values())
            return _key_condition_range(list(partition.values()), *condition)

        # moto's backend passes the index name and the range condition by position: find where
        # they are once (the signature follows ``__wrapped__`` through a runtime's patch applied
        # inside another's).
        parameters = list(inspect.signature(original_query).parameters)
        index_at = parameters.index("index_name") - 2
        comparison_at, values_at = (
            parameters.index("range_comparison") - 2,
            parameters.index("range_objs") - 2,
        )

        def argument(args: tuple[Any, ...], kwargs: dict[str, Any], at: int, name: str) -> Any:
            return args[at] if len(args) > at else kwargs.get(name)

        @functools.wraps(original_query)
        def query(self_: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
            if argument(args, kwargs, index_at, "index_name") or hash_key is None:
                return original_query(self_, hash_key, *args, **kwargs)
            comparison = argument(args, kwargs, comparison_at, "range_comparison")
            values = argument(args, kwargs, values_at, "range_objs")
            condition = (comparison, values) if comparison else None
            token = _QUERIED_PARTITION.set((self_, hash_key, condition))
            try:
                return original_query(self_, hash_key, *args, **kwargs)
            finally:
                _QUERIED_PARTITION.reset(token)

        table_cls.query, table_cls.all_items = query, all_items
        self._undo.append(lambda: setattr(table_cls, "query", original_query))
        self._undo.append(lambda: setattr(table_cls, "all_items", original_all_items))
        self._query_one_index_group()  # and an index query reads one hash key's items

    def _query_one_index_group(self) -> None:
        """An index query reads the items with its hash key value (``_index_group``), not the table.

        moto sorted every item of the table and tested each against the index's key: a day's
        ``calendar.history`` query per contact was O(table) each, O(N²) for a 10,000-appointment
        day. Every write counts itself on its table (``Table.put_item`` and ``delete_item``, which
        batch, transaction and PartiQL writes go through, moto's in-place ``update_item``, and a
        cancelled transaction's undo), so a group is never read after a write that could change it.
        """
        table_cls, backend_cls = resolve(DYNAMODB_TABLE), resolve(DYNAMODB_BACKEND)
        original_query, original_all_items = table_cls.query, table_cls.all_items
        original_put, original_delete = table_cls.put_item, table_cls.delete_item
        original_update = backend_cls.update_item

        def all_items(self_: Any) -> list[Any]:
            queried = _QUERIED_INDEX_GROUP.get()
            if queried is not None and queried[0] is self_:
                group = _index_group(self_, queried[1], queried[2], original_all_items)
                if group is not None:
                    return group
            return original_all_items(self_)  # type: ignore[no-any-return]

        parameters = list(inspect.signature(original_query).parameters)
        index_at = parameters.index("index_name") - 2
        conditions_at = parameters.index("hash_key_conditions") - 2

        @functools.wraps(original_query)
        def query(self_: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
            index_name = args[index_at] if len(args) > index_at else kwargs.get("index_name")
            conditions = (
                args[conditions_at] if len(args) > conditions_at else kwargs.get("hash_key_conditions")
            )
            if not index_name or not conditions:
                return original_query(self_, hash_key, *args, **kwargs)
            # moto keeps the last condition on a name (a dict); every item it keeps has this value
            attribute, value = next(iter(dict(conditions).items()))
            token = _QUERIED_INDEX_GROUP.set((self_, attribute, value))
            try:
                return original_query(self_, hash_key, *args, **kwargs)
            finally:
                _QUERIED_INDEX_GROUP.reset(token)

        def counted(method: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(method)
            def write(self_: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return method(self_, *args, **kwargs)
                finally:
                    _count_write(self_)

            return write

        @functools.wraps(original_update)
        def update_item(self_: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
            try:
                return original_update(self_, table_name, *args, **kwargs)
            finally:  # moto changes the item in place, even one an index groups
                with contextlib.suppress(Exception):
                    _count_write(self_.get_table(table_name))

        def new_epoch() -> None:
            with _INDEX_GROUPS_LOCK:
                _INDEX_GROUPS_EPOCH[0] += 1

        new_epoch()
        table_cls.query, table_cls.all_items = query, all_items
        table_cls.put_item, table_cls.delete_item = counted(original_put), counted(original_delete)
        backend_cls.update_item = update_item
        self._undo.append(new_epoch)
        self._undo.append(lambda: setattr(backend_cls, "update_item", original_update))
        self._undo.append(lambda: setattr(table_cls, "delete_item", original_delete))
        self._undo.append(lambda: setattr(table_cls, "put_item", original_put))
        self._undo.append(lambda: setattr(table_cls, "query", original_query))
        self._undo.append(lambda: setattr(table_cls, "all_items", original_all_items))

    def _serialize_attribute_values_directly(self) -> None:
        serializer_cls = resolve(JSON_RESPONSE_SERIALIZER)
        original_structure = serializer_cls.__dict__["_serialize_type_structure"]

        def serialize_structure(self_: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
            member_key = next(iter(value)) if type(value) is dict and len(value) == 1 else None
            member_shape = (
                shape.members.get(member_key)
                if member_key is not None
                and shape.name == "AttributeValue"
                and self_.operation_model.service_model.service_name in _ATTRIBUTE_VALUE_SERVICES
                and not getattr(self_._value_picker, "response_transformers", None)
                else None
            )
            if member_key is None or member_shape is None:
                original_structure(self_, serialized, value, shape, key)
                return
            wrapper = self_.MAP_TYPE() if key else serialized
            member_shape.parent = shape  # as moto's loop sets it
            self_._serialize_structure_member(wrapper, value, member_shape, member_key)
            if key:
                self_._default_serialize(serialized, wrapper, shape, key)

        serializer_cls._serialize_type_structure = serialize_structure
        self._undo.append(lambda: setattr(serializer_cls, "_serialize_type_structure", original_structure))

    def _announce(self, signals: ExecutionSignals) -> None:
        """Tell ``signals`` when a run ends and when a callback state waits for its token."""
        callback_cls, communication_cls = resolve(CALLBACK_TASK), resolve(EXECUTION_COMMUNICATION)
        original_wait = callback_cls._eval_wait_for_task_token
        original_terminated = communication_cls.terminated

        def eval_wait_for_task_token(self_: Any, env: Any, *args: Any, **kwargs: Any) -> Any:
            execution_arn = str(env.states.context_object.context_object_data["Execution"]["Id"])
            state = str(self_.name)
            signals.callback_waiting(execution_arn, state, waiting=True)
            try:
                return original_wait(self_, env, *args, **kwargs)
            finally:
                signals.callback_waiting(execution_arn, state, waiting=False)

        def terminated(self_: Any) -> None:
            try:
                original_terminated(self_)
            finally:
                execution = getattr(self_, "execution", None)
                if execution is not None:
                    signals.execution_ended(str(execution.exec_arn))
                else:
                    signals.changed()

        callback_cls._eval_wait_for_task_token = eval_wait_for_task_token
        communication_cls.terminated = terminated
        self._undo.append(lambda: setattr(callback_cls, "_eval_wait_for_task_token", original_wait))
        self._undo.append(lambda: setattr(communication_cls, "terminated", original_terminated))

    def _scale_callback_timeouts(self) -> None:
        """Wrap the timeout of every callback task (not Lambda tasks, not the execution's own)."""
        callback_cls, timeout_cls = resolve(CALLBACK_TASK), resolve(TIMEOUT)
        wait_for_task_token = resolve(RESOURCE_CONDITION).WaitForTaskToken
        _callback_timeout.append(self.callback_timeout)
        self._undo.append(lambda: _callback_timeout.remove(self.callback_timeout))

        class ScaledTimeout(timeout_cls):  # type: ignore[misc,valid-type]
            def __init__(self, inner: Any, state: str) -> None:
                self.inner, self.state = inner, state

            def is_default_value(self) -> bool:
                return bool(self.inner.is_default_value())

            def _eval_seconds(self, env: Any) -> float:
                declared = float(self.inner._eval_seconds(env))
                return _callback_timeout[-1](self.state, declared) if _callback_timeout else declared

        had_own = "from_state_props" in callback_cls.__dict__
        original = callback_cls.from_state_props

        def from_state_props(self_: Any, state_props: Any) -> None:
            original(self_, state_props)
            if self_.resource.condition == wait_for_task_token and not self_.timeout.is_default_value():
                self_.timeout = ScaledTimeout(self_.timeout, str(self_.name))

        callback_cls.from_state_props = from_state_props
        self._undo.append(
            (lambda: setattr(callback_cls, "from_state_props", original))
            if had_own
            else (lambda: delattr(callback_cls, "from_state_props"))
        )

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()
