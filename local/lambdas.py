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
import errno
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.limits import LAMBDA_TIMEOUT_ERROR, timeout_message

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


def _open_writer(fifo: Path, timeout_s: float, name: str) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise FunctionError("Runtime.ExitError", f"{name}: the environment did not start") from exc
            time.sleep(0.002)
            continue
        os.set_blocking(fd, True)
        return fd


class _Zygote:
    """The process that forks execution environments (``local/lambda_worker.py``)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our worker, with this interpreter
            [sys.executable, "-I", str(WORKER)],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lock = threading.Lock()

    def fork(self, request: dict[str, Any]) -> int:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        with self._lock:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
            return int(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class _Worker:
    def __init__(self, environment: Environment, log_path: Path, zygote: _Zygote, fifo_dir: Path) -> None:
        self.environment = environment
        name = uuid.uuid4().hex
        requests, answers = fifo_dir / f"{name}.in", fifo_dir / f"{name}.out"
        os.mkfifo(requests, 0o600)
        os.mkfifo(answers, 0o600)
        self.pid = zygote.fork(
            {
                "environment": {**environment.variables, "_HANDLER": environment.handler},
                "log": str(log_path),
                "requests": str(requests),
                "answers": str(answers),
            }
        )
        # Same order as the environment opens them; a fork that died before opening its end is
        # an init failure, not a hang.
        self._request_write = _open_writer(requests, INIT_TIMEOUT_S, environment.name)
        self._answer_read = os.open(answers, os.O_RDONLY)
        requests.unlink()
        answers.unlink()
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
        request_id = str(uuid.uuid4())
        request = {
            "event": event,
            "context": {
                "function_name": env.name,
                "invoked_function_arn": env.arn,
                "memory_limit_in_mb": env.memory_mb,
                "aws_request_id": request_id,
                "timeout_seconds": env.timeout_seconds,
            },
        }
        os.write(self._request_write, json.dumps(request).encode() + b"\n")
        answer = self._read(float(env.timeout_seconds))
        if answer is None:
            self.kill()
            raise FunctionError(LAMBDA_TIMEOUT_ERROR, timeout_message(request_id, env.timeout_seconds))
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
                raise FunctionError("Runtime.ExitError", f"{self.environment.name}: the environment exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        for fd in (self._request_write, self._answer_read):
            with contextlib.suppress(OSError):
                os.close(fd)


@dataclass
class LambdaService:
    """Invoke functions by name; warm environments are reused, one invocation at a time each."""

    log_dir: Path
    environments: dict[str, Environment] = field(default_factory=dict)
    _idle: dict[str, list[_Worker]] = field(default_factory=dict)
    _all: list[_Worker] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _zygote: _Zygote | None = None

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
            with self._lock:
                if self._zygote is None:
                    self._zygote = _Zygote()
                zygote = self._zygote
            worker = _Worker(environment, self.log_path(name), zygote, self.log_dir)
            with self._lock:
                self._all.append(worker)
        try:
            result = worker.invoke(event)
        except FunctionError as exc:
            if exc.name not in ("Sandbox.Timedout", "Runtime.ExitError") and worker.alive():
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
            zygote, self._zygote = self._zygote, None
        for worker in workers:
            worker.kill()
        if zygote is not None:
            zygote.close()
