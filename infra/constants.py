"""Construct ids, names and fixed settings of the Stepwise CDK app, kept in one place."""

from __future__ import annotations

from typing import Final

from aws_cdk import aws_logs as logs

from functions import registry
from functions.shared.tables import TableName

#: CDK feature flags, in code so that `python app.py`, `cdk synth` and the tests all use them
#: (cdk.json only reaches the app through the cdk CLI).
FEATURE_FLAGS: Final[dict[str, bool]] = {
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,  # no legacy ACL on the access-logs bucket
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
}

SERVICE_NAME: Final = "stepwise"
METRICS_NAMESPACE: Final = "Stepwise"
PROD_STAGE: Final = "prod"

# --- construct ids -------------------------------------------------------------------------------
STORAGE_ID: Final = "Storage"
TABLE_IDS: Final[dict[TableName, str]] = {
    TableName.CRM: "CrmTable",
    TableName.APPROVALS: "ApprovalsTable",
    TableName.IDEMPOTENCY: "IdempotencyTable",
    TableName.BILLING: "BillingTable",
    TableName.CALENDAR: "CalendarTable",
    TableName.RUN_LEDGER: "RunLedgerTable",
}
FILES_BUCKET_ID: Final = "FilesBucket"
AUDIT_BUCKET_ID: Final = "AuditBucket"
APPROVALS_KEY_ID: Final = "ApprovalsKey"
ACCESS_LOGS_BUCKET_ID: Final = "AccessLogsBucket"
SENDER_IDENTITY_ID: Final = "SenderIdentity"
ANTHROPIC_SECRET_ID: Final = "AnthropicApiKey"  # noqa: S105 - a construct id, not a secret
APPROVAL_SIGNING_SECRET_ID: Final = "ApprovalSigningSecret"  # noqa: S105 - a construct id
LAYERS_ID: Final = "DependencyLayers"
OBSERVABILITY_ID: Final = "Observability"
WORKFLOW_CONSTRUCT_ID: Final = "Workflow"
ROLLOUT_ID: Final = "Rollout"
STATE_MACHINE_ID: Final = "StateMachine"
STATE_MACHINE_LOG_GROUP_ID: Final = "StateMachineLogs"
FUNCTION_ID_SUFFIX: Final = "Function"
FUNCTION_LOG_GROUP_ID_SUFFIX: Final = "Logs"


def workflow_id(workflow_name: str) -> str:
    """``sales_outreach`` → ``SalesOutreachWorkflow``."""
    return _pascal(workflow_name) + "Workflow"


def function_id(step_name: str) -> str:
    """``validate_lead`` → ``ValidateLeadFunction``."""
    return _pascal(step_name) + FUNCTION_ID_SUFFIX


def function_log_group_id(step_name: str) -> str:
    return function_id(step_name) + FUNCTION_LOG_GROUP_ID_SUFFIX


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


# --- names and settings ---------------------------------------------------------------------------
def approvals_key_alias(stage: str) -> str:
    return f"alias/{SERVICE_NAME}-{stage}-approvals"


def state_machine_log_group_name(stage: str, workflow_name: str) -> str:
    # The /aws/vendedlogs/ prefix keeps CloudWatch Logs resource policies from growing per log group.
    return f"/aws/vendedlogs/states/{SERVICE_NAME}-{stage}-{workflow_name}"


#: The random, unused field CloudFormation adds to the Anthropic secret's empty placeholder
#: (``functions.shared.llm.factory.SECRET_PLACEHOLDER``): a secret without a generated field would be
#: a random password as a whole, sent to the API as the key (a 401 instead of "no key configured").
ANTHROPIC_SECRET_GENERATED_KEY: Final = "placeholder"  # noqa: S105 - a JSON field name, not a secret

#: CDK context keys (``cdk deploy -c <key>=...``, or cdk.json) of the per-stage settings; the
#: function setting each one feeds is annotated with it (``functions/shared/config.py``). Outside
#: ``local`` a missing or placeholder value refuses synthesis (``infra/stack.py``).
STAGE_CONTEXT_KEY: Final = "stage"
SENDER_EMAIL_CONTEXT_KEY: Final = "senderEmail"
ESCALATION_APPROVER_CONTEXT_KEY: Final = "escalationApprover"
#: The approver directory (a JSON object, or its text with ``-c``): ``functions/shared/approvers.py``.
APPROVERS_CONTEXT_KEY: Final = "approvers"
#: The API's machine clients, ``name → {owner, scopes}``: ``infra/auth.py``.
API_CLIENTS_CONTEXT_KEY: Final = "apiClients"


def approvers_parameter_id(workflow: str) -> str:
    return "Approvers" + "".join(part.capitalize() for part in workflow.split("_")) + "Parameter"


def approvers_parameter_path(stage: str) -> str:
    """Where the stack writes the approver directory: one SSM parameter per workflow under it."""
    return f"/stepwise/{stage}/approvers"


#: A Standard-tier SSM parameter's value is at most 4 KB (Advanced: 8 KB, and it is billed).
SSM_STANDARD_VALUE_LIMIT: Final = 4096
#: Optional: a custom domain for approval links (default: the API's execute-api stage URL).
APPROVAL_LINK_BASE_URL_CONTEXT_KEY: Final = "approvalLinkBaseUrl"
#: What a ``local`` stage synthesizes with when the context says nothing (the functions' defaults).
DEFAULT_SENDER_EMAIL: Final = "outreach@stepwise.example"
DEFAULT_ESCALATION_APPROVER: Final = "sales-manager@stepwise.example"

LAMBDA_LOG_LEVEL: Final = "INFO"
LOG_RETENTION: Final[dict[bool, logs.RetentionDays]] = {
    True: logs.RetentionDays.THREE_MONTHS,  # prod
    False: logs.RetentionDays.TWO_WEEKS,
}

#: What the code asset of every Lambda ships, relative to the repository root: the ``functions``
#: package (its data files too: approval page, offline fixtures) and the ASL definitions, which the
#: API reads at run time (``functions.registry.STATEMACHINES_DIR``, GET /executions/{id}). An
#: include list, not an exclude list: a new file at the root, or a file inside ``functions/`` that
#: happens to share a root file's name (``functions/api/app.py``), can neither slip in nor drop out.
#: Each entry is ``(folder, file glob)``; ``**`` takes the folder's whole tree.
FUNCTION_ASSET_INCLUDE: Final[tuple[tuple[str, str], ...]] = (
    ("functions", "**"),
    ("statemachines", "*.asl.json"),
)
#: Never shipped, at any depth: local bytecode caches (the asset carries its own 3.14 bytecode).
FUNCTION_ASSET_NEVER: Final = "__pycache__"

# --- HTTP API (infra/api.py) ----------------------------------------------------------------------
API_ID: Final = "Api"
REST_API_ID: Final = "RestApi"
API_FUNCTION_ID: Final = "ApiFunction"
API_HANDLER: Final = registry.API_HANDLER
SWEEPER_FUNCTION_ID: Final = "SweeperFunction"
SWEEPER_HANDLER: Final = registry.SWEEPER_HANDLER
SWEEPER_SCHEDULE_ID: Final = "SweeperSchedule"
API_ACCESS_LOG_GROUP_ID: Final = "AccessLogs"
API_KEY_ID: Final = "ApiKey"
API_USAGE_PLAN_ID: Final = "UsagePlan"
API_REQUEST_VALIDATOR_ID: Final = "RequestValidator"
API_URL_OUTPUT_ID: Final = "ApiUrl"
API_KEY_ID_OUTPUT_ID: Final = "ApiKeyId"
WEB_ACL_ID: Final = "WebAcl"
WEB_ACL_ASSOCIATION_ID: Final = "WebAclAssociation"
WEB_ACL_LOG_GROUP_ID: Final = "WebAclLogs"
WEB_ACL_LOGGING_ID: Final = "WebAclLogging"
LINK_KEY_ROTATION_FUNCTION_ID: Final = "LinkKeyRotationFunction"
LINK_KEY_ROTATION_HANDLER: Final = registry.LINK_KEY_ROTATION_HANDLER
LINK_KEY_ROTATION_SCHEDULE_ID: Final = "LinkKeyRotationSchedule"
#: Days between two rotations of the approval-link key ring. Longer than a link's life (3 days), so
#: the ring holds two or three keys; short enough that a leaked key is useless within a month.
LINK_KEY_ROTATION_DAYS: Final = 30
TOKEN_URL_OUTPUT_ID: Final = "TokenUrl"  # noqa: S105 - an output id, not a secret
USER_POOL_ID_OUTPUT_ID: Final = "ApiClientsUserPoolId"
#: Minutes between two runs of the approval SLA sweeper (reminders, escalation, expiry).
SWEEPER_INTERVAL_MINUTES: Final = 15
