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
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
