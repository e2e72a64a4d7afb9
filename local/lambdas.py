"""Lambda execution environments for the as-deployed runtime: warm worker processes per function.

Each worker (``local/lambda_worker.py``) is one execution environment: its own process, its own
environment (the template's variables plus the Lambda runtime's reserved ones and the credentials
of the function's role), its code from the function's asset directory. Like Lambda, an
environment serves one invocation at a time; a second concurrent invocation starts another.

What is enforced as on AWS: the function timeout (the environment is killed and the invocation
fails with ``Sandbox.Timedout``), the 10 s init phase, and an error the handler raised comes back
with its class name as ``errorType``. What is not: memory size, the runtime's Python version (the
workers run the virtualenv's interpreter; Lambda runs python3.14), and layers (the virtualenv,
installed from the same pins, stands in for them).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("lambda_worker.py")
INIT_TIMEOUT_S = 10.0


class FunctionError(Exception):
    """The function reported an error; ``name`` is its ``errorType``."""

    def __init__(self, name: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.stack = stack or []


@dataclass(frozen=True)
class Environment:
    """What a function's execution environment is made of."""

    name: str
    arn: str
    handler: str
    code_dir: Path
    variables: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int


class _Worker:
    def __init__(self, environment: Environment, log_path: Path) -> None:
        self.environment = environment
        request_read, self._request_write = os.pipe()
        self._answer_read, answer_write = os.pipe()
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our worker, with this interpreter
            [sys.executable, "-I", str(WORKER), str(request_read), str(answer_write)],
            env={**environment.variables, "_HANDLER": environment.handler},
            cwd=environment.code_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            pass_fds=(request_read, answer_write),
        )
        os.close(request_read)
        os.close(answer_write)
        self._buffer = b""
        init = self._read(INIT_TIMEOUT_S)
        if init is None:
            self.kill()
            raise FunctionError(
                "Sandbox.Timedout", f"{environment.name}: init did not finish in {INIT_TIMEOUT_S}s"
            )
        if init.get("init") is not None:
            self.kill()
            error = init["init"]
            raise FunctionError(error["errorType"], error["errorMessage"], error.get("stackTrace"))

    def invoke(self, event: Any) -> Any:
        env = self.environment
        request = {
            "event": event,
            "context": {
                "function_name": env.name,
                "invoked_function_arn": env.arn,
                "memory_limit_in_mb": env.memory_mb,
                "aws_request_id": str(uuid.uuid4()),
                "timeout_seconds": env.timeout_seconds,
            },
        }
        os.write(self._request_write, json.dumps(request).encode() + b"\n")
        answer = self._read(float(env.timeout_seconds))
        if answer is None:
            self.kill()
            raise FunctionError("Sandbox.Timedout", f"Task timed out after {env.timeout_seconds:.2f} seconds")
        if "error" in answer:
            error = answer["error"]
            raise FunctionError(error["errorType"], error["errorMessage"], error.get("stackTrace"))
        return answer["result"]

    def _read(self, timeout_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._answer_read], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._answer_read, 1 << 20)
            if not chunk:  # the process died
                code = self.process.wait()
                raise FunctionError("Runtime.ExitError", f"{self.environment.name}: exited with {code}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for fd in (self._request_write, self._answer_read):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()


@dataclass
class LambdaService:
    """Invoke functions by name; warm environments are reused, one invocation at a time each."""

    log_dir: Path
    environments: dict[str, Environment] = field(default_factory=dict)
    _idle: dict[str, list[_Worker]] = field(default_factory=dict)
    _all: list[_Worker] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, environment: Environment) -> None:
        self.environments[environment.name] = environment

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def invoke(self, name: str, event: Any) -> Any:
        environment = self.environments[name]
        with self._lock:
            idle = self._idle.setdefault(name, [])
            worker = idle.pop() if idle else None
        if worker is None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            worker = _Worker(environment, self.log_path(name))
            with self._lock:
                self._all.append(worker)
        try:
            result = worker.invoke(event)
        except FunctionError as exc:
            if worker.process.poll() is None and exc.name != "Sandbox.Timedout":
                self._release(name, worker)
            raise
        self._release(name, worker)
        return result

    def _release(self, name: str, worker: _Worker) -> None:
        with self._lock:
            self._idle.setdefault(name, []).append(worker)

    def close(self) -> None:
        with self._lock:
            workers, self._all, self._idle = self._all, [], {}
        for worker in workers:
            worker.kill()
