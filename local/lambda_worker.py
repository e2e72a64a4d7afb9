"""Lambda execution environments: processes that run a function's handler from its code asset.

``python -I local/lambda_worker.py`` is a zygote (``local/lambdas.py`` starts one per runtime):
it imports the third-party packages the layers and the runtime provide (boto3, pydantic,
Powertools, anthropic), nothing of the repository, then forks one process per execution
environment on request. The fork gets exactly the function's environment (the template's
variables, the runtime's reserved ones, its role's credentials; nothing of the harness's), the
code asset (``LAMBDA_TASK_ROOT``) first on ``sys.path`` as ``/var/task`` is on Lambda, then the
virtualenv's packages standing in for the layers; ``-I`` keeps the script's folder and
``PYTHONPATH`` off the path. Forking from a warm zygote costs a few ms instead of the ~1 s an
interpreter takes to import those packages (what a Lambda's init pays is measured by
``make bench`` from the real layers, not here).

Like the Lambda Python runtime: the handler module is imported once (init); an import error is
``Runtime.ImportModuleError``, a missing attribute ``Runtime.HandlerNotFound``; an exception in the
handler is reported as ``{"errorType": <class name>, "errorMessage", "stackTrace"}``. One JSON
line per request on fd IN, one per answer on fd OUT; the function's own stdout/stderr is its log.

This file must import nothing from the repository: it runs before the asset is on the path.
"""

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class _Context:
    """What ``LambdaContext`` offers and Powertools reads."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.function_name = fields["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = fields["invoked_function_arn"]
        self.memory_limit_in_mb = int(fields["memory_limit_in_mb"])
        self.aws_request_id = fields["aws_request_id"]
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + float(fields["timeout_seconds"])

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    trace = traceback.format_exception(exc) if exc is not None else []
    return {"errorType": error_type, "errorMessage": message, "stackTrace": trace}


def _load(handler: str) -> tuple[Any, dict[str, Any] | None]:
    module_name, _, attribute = handler.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return None, _error(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc
        )
    except SyntaxError as exc:
        return None, _error("Runtime.UserCodeSyntaxError", str(exc), exc)
    except Exception as exc:
        return None, _error(type(exc).__name__, str(exc), exc)
    function = getattr(module, attribute, None)
    if function is None:
        return None, _error(
            "Runtime.HandlerNotFound", f"Handler '{attribute}' missing on module '{module_name}'"
        )
    return function, None


#: What the layers and the Lambda runtime provide, imported once by the zygote (none may fail
#: the zygote: a package missing here fails the function that imports it, as on Lambda).
PRELOAD = (
    "boto3",
    "botocore.session",
    "pydantic",
    "pydantic_settings",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.event_handler",
    "anthropic",
)


def zygote() -> None:
    """Read spawn requests (one JSON line on stdin), fork an environment for each, answer its pid."""
    import signal

    for module in PRELOAD:
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    control = sys.stdin.buffer
    replies = sys.stdout.buffer
    for line in control:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _environment(request)
            finally:
                os._exit(0)
        replies.write(f"{pid}\n".encode())
        replies.flush()


def _environment(request: dict[str, Any]) -> None:
    """In the fork: become the function's execution environment, then serve its invocations."""
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.clear()
    os.environ.update(request["environment"])
    requests = open(request["requests"], "rb")  # noqa: SIM115 - for the process's lifetime
    answers = open(request["answers"], "wb")  # noqa: SIM115
    serve(requests, answers)


def serve(requests: Any, answers: Any) -> None:
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    function, init_error = _load(os.environ["_HANDLER"])
    answers.write(json.dumps({"init": init_error}).encode() + b"\n")
    answers.flush()
    if init_error is not None:
        return
    for line in requests:
        request = json.loads(line)
        try:
            result = {"result": function(request["event"], _Context(request["context"]))}
            encoded = json.dumps(result).encode()
        except Exception as exc:
            encoded = json.dumps({"error": _error(type(exc).__name__, str(exc), exc)}).encode()
        sys.stdout.flush()
        sys.stderr.flush()
        answers.write(encoded + b"\n")
        answers.flush()


if __name__ == "__main__":
    zygote()
