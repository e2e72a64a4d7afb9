"""The error taxonomy (design contract).

Each class name is the ASL error name used in ``Retry``/``Catch``: Lambda reports an unhandled
exception with ``errorType`` = the class name, and Step Functions matches ``ErrorEquals`` on it.
Renaming a class is therefore a breaking change to every ASL file (``tests/unit/test_asl_lint.py``
checks that every error an ASL file names exists here).
"""

from __future__ import annotations


class StepwiseError(Exception):
    """Base of every typed step error. ``retryable`` documents the intended ASL policy."""

    retryable: bool = False


class TransientIntegrationError(StepwiseError):
    """Network failure, throttling or a 5xx from a business system: retry with backoff + jitter."""

    retryable = True


class PermanentIntegrationError(StepwiseError):
    """The business system refused the request for good (4xx, rejected address): no retry."""


class InvalidInputError(StepwiseError):
    """A step received input that does not match its model: a bug upstream or bad data, no retry."""


class BusinessRuleError(StepwiseError):
    """A business rule stops the flow (do-not-contact, conflict of interest): Catch routes it."""


class LLMRateLimitError(StepwiseError):
    """Anthropic answered 429: retry with a longer backoff."""

    retryable = True


class LLMOverloadedError(StepwiseError):
    """Anthropic answered 529/5xx, timed out or the connection failed: retry with a longer backoff."""

    retryable = True


class LLMFormatError(StepwiseError):
    """The model's output failed validation even after the client's bounded re-prompts."""

    retryable = True


class LLMRequestError(StepwiseError):
    """Anthropic refused the request itself (400/401/403/404/413): retrying cannot help."""


class LLMRefusalError(StepwiseError):
    """The model declined to answer (``stop_reason == "refusal"``): a person must look at it."""


class BudgetExceeded(StepwiseError):
    """The run has already spent its workflow's LLM budget (``STEPWISE_BUDGETS``): no further call.

    Permanent: retrying the same run cannot lower what it spent, so no ASL ``Retry`` names it. It is
    registered under its own name rather than as a subclass routed through ``as_registered_error``
    (e.g. as ``LLMRequestError``) so that the failed run says ``BudgetExceeded``; every LLM Task either
    has no ``Catch`` (the run fails with it) or a ``States.ALL`` one that runs the compensations and
    ends in a ``Fail`` keeping this error and its cause (workflow, spent, cap).
    """


class ApprovalRejected(StepwiseError):
    """An approver rejected the request (sent with ``SendTaskFailure``)."""


class ApprovalExpired(StepwiseError):
    """Nobody decided before the approval's deadline; the workflow's default decision applies."""


#: Errors raised by Powertools idempotency that the ASL handles by name.
#: ``IdempotencyAlreadyInProgressError``: a retry overlapped the first invocation, which may be sending.
POWERTOOLS_ERROR_NAMES: frozenset[str] = frozenset({"IdempotencyAlreadyInProgressError"})

#: Every error name an ASL file may use, besides the ``States.*`` and ``Lambda.*`` built-ins.
ERROR_NAMES: frozenset[str] = frozenset(
    cls.__name__
    for cls in (
        TransientIntegrationError,
        PermanentIntegrationError,
        InvalidInputError,
        BusinessRuleError,
        LLMRateLimitError,
        LLMOverloadedError,
        LLMFormatError,
        LLMRequestError,
        LLMRefusalError,
        BudgetExceeded,
        ApprovalRejected,
        ApprovalExpired,
    )
)
