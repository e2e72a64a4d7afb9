"""One Lambda execution environment: a process that runs a function's handler from its code asset.

Started by ``local/lambdas.py`` as ``python -I local/lambda_worker.py IN OUT`` with exactly the
function's environment (the template's variables, the runtime's reserved ones, its role's
credentials), so nothing of the repository or of the harness leaks in: ``-I`` keeps the script's
folder and ``PYTHONPATH`` off ``sys.path``, the code asset (``LAMBDA_TASK_ROOT``) goes first, as
``/var/task`` does on Lambda, then the virtualenv's packages stand in for the layers.

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


def main() -> None:
    requests, answers = os.fdopen(int(sys.argv[1]), "rb"), os.fdopen(int(sys.argv[2]), "wb")
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
    main()
