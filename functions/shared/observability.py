"""The only place Powertools Logger, Tracer and Metrics are instantiated.

The logger carries the per-run sampling filter (``log_sampling``): inside a step of an unsampled
run only warnings and errors are written.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

from functions.shared.log_sampling import RunSamplingFilter

SERVICE = "stepwise"
NAMESPACE = "Stepwise"

logger = Logger(service=SERVICE)
logger.addFilter(RunSamplingFilter())
# Only boto calls are traced (the SDKs we call through; X-Ray has no patch for anthropic's httpx2).
# The default, patch_all, imports every library X-Ray knows (requests, sqlite3, httplib, ...) that is
# installed: cold-start time spent on libraries no step uses.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
