"""Storage of Stepwise: the tables of ``functions.shared.tables``, buckets, the approvals key, secrets.

The construct also answers "what may a step touch": ``grants`` maps each ``Resource`` a step can
name in the registry to the grant that gives exactly that access, and ``environment`` holds the
``STEPWISE_*`` variables (``functions.shared.config``) that tell the functions the physical names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

import jsii
from aws_cdk import IStableStringProducer, Lazy, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from functions.registry import Resource
from functions.shared.approvers import ApproverDirectory, parameter_name
from functions.shared.llm.factory import SECRET_PLACEHOLDER
from functions.shared.log_payloads import LOGS_PREFIX
from functions.shared.tables import TABLES, TableName, TableSchema
from infra import constants
from infra.nag import acknowledge, arn_ref
from infra.stage_context import StageContext

Grant = Callable[[iam.IGrantable], None]

_ENV_TABLE_NAMES: dict[TableName, str] = {
    TableName.CRM: "STEPWISE_CRM_TABLE",
    TableName.APPROVALS: "STEPWISE_APPROVALS_TABLE",
    TableName.IDEMPOTENCY: "STEPWISE_IDEMPOTENCY_TABLE",
    TableName.BILLING: "STEPWISE_BILLING_TABLE",
    TableName.CALENDAR: "STEPWISE_CALENDAR_TABLE",
    TableName.RUN_LEDGER: "STEPWISE_RUN_LEDGER_TABLE",
}


class Storage(Construct):
    """Tables, buckets and the approvals key, with per-``Resource`` grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        context: StageContext,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self._removal_policy = removal_policy
        self.sender_email = context.sender_email
        self._context = context
        self._link_base_url = _Later("the API's stage URL (StepwiseStack calls use_approval_link_base_url)")
        self.tables: Mapping[TableName, dynamodb.Table] = MappingProxyType(
            {schema.setting: self._build_table(schema) for schema in TABLES}
        )
        self.access_logs_bucket = self._build_access_logs_bucket()
        self.files_bucket = self._build_bucket(constants.FILES_BUCKET_ID)
        self.audit_bucket = self._build_bucket(constants.AUDIT_BUCKET_ID)
        self.anthropic_api_key = secretsmanager.Secret(
            self,
            constants.ANTHROPIC_SECRET_ID,
            description="Anthropic API key for the LLM steps: after the first deploy, aws secretsmanager "
            """put-secret-value --secret-id <arn> --secret-string '{"api_key": "sk-ant-..."}'""",
            # An explicit empty key, never a generated password that would be sent as the key.
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=SECRET_PLACEHOLDER,
                generate_string_key=constants.ANTHROPIC_SECRET_GENERATED_KEY,
                exclude_punctuation=True,
            ),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.anthropic_api_key,
            "AwsSolutions-SMG4",
            "A third-party API key: it is rotated in the Anthropic console, then stored here by hand.",
        )
        self.approval_signing_secret = secretsmanager.Secret(
            self,
            constants.APPROVAL_SIGNING_SECRET_ID,
            # A plain string at creation (key id k0); the rotation Lambda turns it into a key ring.
            description="HMAC key ring that signs approval links (functions/shared/link_keys.py)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True
            ),
            removal_policy=removal_policy,
        )
        self.approvals_key, self.approvals_key_alias = self._build_approvals_key(stage)
        # SES mails the address a verification link on deploy; sending works once it is clicked.
        self.sender_identity = ses.EmailIdentity(
            self, constants.SENDER_IDENTITY_ID, identity=ses.Identity.email(self.sender_email)
        )
        self.sender_identity_arn = Stack.of(self).format_arn(
            service="ses", resource="identity", resource_name=self.sender_email
        )
        self.approvers_parameter_path = constants.approvers_parameter_path(stage)
        self.approver_parameters: Mapping[str, ssm.StringParameter] = MappingProxyType(
            self._build_approver_parameters(context.approvers)
        )
        self.environment: Mapping[str, str] = MappingProxyType(self._build_environment(stage))
        self.grants: Mapping[Resource, Grant] = MappingProxyType(self._build_grants())

    def use_approval_link_base_url(self, url: str) -> None:
        """The API's stage URL, once the API exists (it is built after the workflows that need it);
        a context ``approvalLinkBaseUrl`` (custom domain) wins."""
        self._link_base_url.value = url

    def grant(
        self, resources: frozenset[Resource], grantee: iam.IGrantable, *, workflows: Iterable[str] = ()
    ) -> None:
        """Give ``grantee`` exactly the access that ``resources`` (a step's registry entry) names;
        ``workflows``: whose approver directory ``Resource.APPROVER_DIRECTORY`` may read."""
        for resource in sorted(resources):
            if resource is Resource.APPROVER_DIRECTORY:
                self.grant_approver_directory(grantee, workflows)
            else:
                self.grants[resource](grantee)

    def grant_approver_directory(self, grantee: iam.IGrantable, workflows: Iterable[str]) -> None:
        """``ssm:GetParameter`` on these workflows' directory parameters, by ARN (no wildcard, no
        ``GetParametersByPath``: a step reads its own workflow's approvers and nothing else)."""
        names = [parameter_name(self.approvers_parameter_path, w) for w in sorted(set(workflows))]
        names = [n for n in names if n.rsplit("/", 1)[-1] in self.approver_parameters]
        if not names:
            raise ValueError("Resource.APPROVER_DIRECTORY needs the workflows whose approvers it reads")
        stack = Stack.of(_scope_of(grantee))
        arns = [
            stack.format_arn(service="ssm", resource="parameter", resource_name=n.lstrip("/")) for n in names
        ]
        iam.Grant.add_to_principal(grantee=grantee, actions=["ssm:GetParameter"], resource_arns=arns)

    # --- builders ---------------------------------------------------------------------------------
    def _build_table(self, schema: TableSchema) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            constants.TABLE_IDS[schema.setting],
            partition_key=_string_attribute(schema.partition_key),
            sort_key=_string_attribute(schema.sort_key) if schema.sort_key else None,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=schema.ttl_attribute,
            removal_policy=self._removal_policy,
        )
        for index in schema.indexes:
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_string_attribute(index.partition_key),
                sort_key=_string_attribute(index.sort_key) if index.sort_key else None,
                projection_type=dynamodb.ProjectionType(index.projection),
            )
        return table

    def _build_bucket(self, construct_id: str) -> s3.Bucket:
        return s3.Bucket(
            self,
            construct_id,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            removal_policy=self._removal_policy,
            server_access_logs_bucket=self.access_logs_bucket,
            server_access_logs_prefix=f"{construct_id}/",
            # No auto_delete_objects: it would add a custom-resource Lambda with an AWS managed policy.
            # Deleting a non-prod stack therefore needs the buckets emptied first (README).
        )

    def _build_access_logs_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            constants.ACCESS_LOGS_BUCKET_ID,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,  # server access logging cannot target SSE-KMS
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,  # logging via bucket policy, no ACLs
            removal_policy=self._removal_policy,
        )

    def _build_approvals_key(self, stage: str) -> tuple[kms.Key, kms.Alias]:
        key = kms.Key(
            self,
            constants.APPROVALS_KEY_ID,
            description="Seals the Step Functions task tokens stored with pending approvals",
            enable_key_rotation=True,
            removal_policy=self._removal_policy,
        )
        alias = key.add_alias(constants.approvals_key_alias(stage))
        return key, alias

    def _build_approver_parameters(self, approvers: str) -> dict[str, ssm.StringParameter]:
        """One Standard-tier String parameter per workflow (sizes checked in ``infra/stage_context``)."""
        sections = ApproverDirectory.model_validate_json(approvers).sections()
        return {
            workflow: ssm.StringParameter(
                self,
                constants.approvers_parameter_id(workflow),
                parameter_name=parameter_name(self.approvers_parameter_path, workflow),
                string_value=value,
                tier=ssm.ParameterTier.STANDARD,
                description=f"Stepwise approver directory of {workflow} (CDK context 'approvers')",
            )
            for workflow, value in sorted(sections.items())
        }

    def _build_environment(self, stage: str) -> dict[str, str]:
        environment = {_ENV_TABLE_NAMES[name]: table.table_name for name, table in self.tables.items()}
        environment.update(
            STEPWISE_FILES_BUCKET=self.files_bucket.bucket_name,
            STEPWISE_AUDIT_BUCKET=self.audit_bucket.bucket_name,
            STEPWISE_SENDER_EMAIL=self.sender_email,
            STEPWISE_ESCALATION_APPROVER=self._context.escalation_approver,
            # Where the approver directory is; only roles granted Resource.APPROVER_DIRECTORY read it.
            STEPWISE_APPROVERS_PARAMETER_PATH=self.approvers_parameter_path,
            # Every function, not only the link signers: the functions' fail-closed check reads it.
            # Lazy: the workflows (nested stacks) are built before the API; a nested stack's
            # reference to the RestApi id becomes a parameter of that nested stack.
            STEPWISE_APPROVAL_LINK_BASE_URL=self._context.approval_link_base_url
            or Lazy.string(self._link_base_url),
            STEPWISE_APPROVALS_KEY_ALIAS=self.approvals_key_alias.alias_name,
            STEPWISE_ANTHROPIC_SECRET_ARN=self.anthropic_api_key.secret_arn,
            STEPWISE_APPROVAL_SIGNING_SECRET_ARN=self.approval_signing_secret.secret_arn,
            STEPWISE_STAGE=stage,
        )
        return environment

    def _build_grants(self) -> dict[Resource, Grant]:
        def table(name: TableName) -> Grant:
            def grant(grantee: iam.IGrantable) -> None:
                table = self.tables[name]
                table.grant_read_write_data(grantee)
                if any(s.setting is name and s.indexes for s in TABLES):
                    acknowledge(
                        _scope_of(grantee),
                        f"AwsSolutions-IAM5[Resource::{arn_ref(table, _scope_of(grantee))}/index/*]",
                        "Queries on the table's own GSIs (declared in functions/shared/tables.py).",
                    )

            return grant

        def objects(bucket: s3.Bucket, actions: list[str], why: str) -> Grant:
            def grant(grantee: iam.IGrantable) -> None:
                iam.Grant.add_to_principal(
                    grantee=grantee, actions=actions, resource_arns=[bucket.arn_for_objects("*")]
                )
                acknowledge(
                    _scope_of(grantee),
                    f"AwsSolutions-IAM5[Resource::{arn_ref(bucket, _scope_of(grantee))}/*]",
                    why,
                )

            return grant

        def approvals_key(action: str) -> Grant:
            # One direction of TokenVault each (seal = Encrypt, open = Decrypt): an approval step
            # that could also decrypt could resume any run whose sealed token it reads.
            return lambda grantee: _discard(self.approvals_key.grant(grantee, action))

        return {
            Resource.CRM_TABLE: table(TableName.CRM),
            Resource.APPROVALS_TABLE: table(TableName.APPROVALS),
            Resource.IDEMPOTENCY_TABLE: table(TableName.IDEMPOTENCY),
            Resource.BILLING_TABLE: table(TableName.BILLING),
            Resource.CALENDAR_TABLE: table(TableName.CALENDAR),
            Resource.RUN_LEDGER_TABLE: table(TableName.RUN_LEDGER),
            Resource.FILES_BUCKET: self._grant_files_read_write,
            Resource.AUDIT_BUCKET: objects(
                self.audit_bucket,
                ["s3:PutObject"],
                "Audit records are written under audit/<trace id>/...: put only, no read, list or delete.",
            ),
            Resource.EMAIL: self._grant_send_email,
            Resource.TOKEN_SEAL: approvals_key("kms:Encrypt"),
            Resource.TOKEN_OPEN: approvals_key("kms:Decrypt"),
            Resource.LLM: lambda grantee: _discard(self.anthropic_api_key.grant_read(grantee)),
            Resource.APPROVAL_LINKS: lambda grantee: _discard(
                self.approval_signing_secret.grant_read(grantee)
            ),
        }

    def grant_log_payloads(self, grantee: iam.IGrantable) -> None:
        """``s3:PutObject`` on ``<audit bucket>/logs/*`` only: where ``functions.shared.log_payloads``
        puts a step's large input or output (every step runs under ``step_handler``). Without it a
        step that does not name ``Resource.AUDIT_BUCKET`` gets AccessDenied, which logging swallows
        (the record keeps a truncated preview), so the payload is silently lost."""
        bucket = self.audit_bucket
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["s3:PutObject"],
            resource_arns=[bucket.arn_for_objects(f"{LOGS_PREFIX}*")],
        )
        acknowledge(
            _scope_of(grantee),
            f"AwsSolutions-IAM5[Resource::{arn_ref(bucket, _scope_of(grantee))}/{LOGS_PREFIX}*]",
            "Large step payloads are logged under logs/<trace id>/<step>/...: put only, that prefix only.",
        )

    def grant_files_read(self, grantee: iam.IGrantable) -> None:
        """Read the files bucket: ``s3:GetObject`` on its objects and ``s3:ListBucket`` on the bucket.

        Without ``s3:ListBucket`` S3 answers a read of a missing key with 403, not 404, so
        ``S3FileStore.exists()`` raises instead of answering ``False`` (and a missing draft reads as
        "access denied"). Every reader of the bucket therefore gets both.
        """
        self._grant_files(
            grantee,
            ["s3:GetObject"],
            "Drafts and notes are read by key (keys are data: drafts/<execution>/..., notes/...).",
        )

    def _grant_files_read_write(self, grantee: iam.IGrantable) -> None:
        self._grant_files(
            grantee,
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "File keys are data (drafts/<execution>/..., notes/...): any object of this one bucket.",
        )

    def _grant_files(self, grantee: iam.IGrantable, actions: list[str], why: str) -> None:
        bucket = self.files_bucket
        iam.Grant.add_to_principal(
            grantee=grantee, actions=actions, resource_arns=[bucket.arn_for_objects("*")]
        )
        # On the bucket itself (no wildcard): a missing key is then a 404, not a 403 (grant_files_read).
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn]
        )
        acknowledge(
            _scope_of(grantee), f"AwsSolutions-IAM5[Resource::{arn_ref(bucket, _scope_of(grantee))}/*]", why
        )

    def _grant_send_email(self, grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["ses:SendEmail"], resource_arns=[self.sender_identity_arn]
        )


@jsii.implements(IStableStringProducer)
class _Later:
    """A value given after the constructs that use it are built (resolved at synthesis)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.value: str | None = None

    def produce(self) -> str:
        if self.value is None:
            raise ValueError(f"{self.what} was never given")
        return self.value


def _string_attribute(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _scope_of(grantee: iam.IGrantable) -> IConstruct:
    """The construct to acknowledge a grant's finding on (the grantee's role)."""
    principal = grantee.grant_principal
    assert isinstance(principal, Construct), principal
    return principal


def _discard(_grant: iam.Grant) -> None:
    """Grants return an ``iam.Grant``; the registry-driven mapping only needs the side effect."""
