"""Storage of Stepwise: the DynamoDB tables of ``functions.shared.tables``, two buckets, one KMS key.

The construct also answers "what may a step touch": ``grants`` maps each ``Resource`` a step can
name in the registry to the grant that gives exactly that access, and ``environment`` holds the
``STEPWISE_*`` variables (``functions.shared.config``) that tell the functions the physical names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.registry import Resource
from functions.shared.tables import TABLES, TableName, TableSchema
from infra import constants

Grant = Callable[[iam.IGrantable], None]

_ENV_TABLE_NAMES: dict[TableName, str] = {
    TableName.CRM: "STEPWISE_CRM_TABLE",
    TableName.APPROVALS: "STEPWISE_APPROVALS_TABLE",
    TableName.IDEMPOTENCY: "STEPWISE_IDEMPOTENCY_TABLE",
}


class Storage(Construct):
    """Tables, buckets and the approvals key, with per-``Resource`` grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        sender_email: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self._removal_policy = removal_policy
        self.sender_email = sender_email
        self.tables: Mapping[TableName, dynamodb.Table] = MappingProxyType(
            {schema.setting: self._build_table(schema) for schema in TABLES}
        )
        self.files_bucket = self._build_bucket(constants.FILES_BUCKET_ID)
        self.audit_bucket = self._build_bucket(constants.AUDIT_BUCKET_ID)
        self.approvals_key, self.approvals_key_alias = self._build_approvals_key(stage)
        self.sender_identity_arn = Stack.of(self).format_arn(
            service="ses", resource="identity", resource_name=sender_email
        )
        self.environment: Mapping[str, str] = MappingProxyType(self._build_environment(stage))
        self.grants: Mapping[Resource, Grant] = MappingProxyType(self._build_grants())

    def grant(self, resources: frozenset[Resource], grantee: iam.IGrantable) -> None:
        """Give ``grantee`` exactly the access that ``resources`` (a step's registry entry) names."""
        for resource in sorted(resources):
            self.grants[resource](grantee)

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
                projection_type=dynamodb.ProjectionType.ALL,
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
            # Emptying a bucket on delete needs a custom resource; only non-prod stacks get it.
            auto_delete_objects=self._removal_policy == RemovalPolicy.DESTROY,
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

    def _build_environment(self, stage: str) -> dict[str, str]:
        environment = {_ENV_TABLE_NAMES[name]: table.table_name for name, table in self.tables.items()}
        environment.update(
            STEPWISE_FILES_BUCKET=self.files_bucket.bucket_name,
            STEPWISE_AUDIT_BUCKET=self.audit_bucket.bucket_name,
            STEPWISE_SENDER_EMAIL=self.sender_email,
            STEPWISE_APPROVALS_KEY_ALIAS=self.approvals_key_alias.alias_name,
            STEPWISE_STAGE=stage,
        )
        return environment

    def _build_grants(self) -> dict[Resource, Grant]:
        def table(name: TableName) -> Grant:
            return lambda grantee: _discard(self.tables[name].grant_read_write_data(grantee))

        return {
            Resource.CRM_TABLE: table(TableName.CRM),
            Resource.APPROVALS_TABLE: table(TableName.APPROVALS),
            Resource.IDEMPOTENCY_TABLE: table(TableName.IDEMPOTENCY),
            Resource.FILES_BUCKET: lambda grantee: _discard(self.files_bucket.grant_read_write(grantee)),
            Resource.AUDIT_BUCKET: lambda grantee: _discard(self.audit_bucket.grant_put(grantee)),
            Resource.EMAIL: self._grant_send_email,
            Resource.APPROVALS_KEY: lambda grantee: _discard(
                self.approvals_key.grant_encrypt_decrypt(grantee)
            ),
            # The Anthropic API key secret arrives with a later slice; until then LLM needs nothing.
            Resource.LLM: lambda _grantee: None,
        }

    def _grant_send_email(self, grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["ses:SendEmail"], resource_arns=[self.sender_identity_arn]
        )


def _string_attribute(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _discard(_grant: iam.Grant) -> None:
    """Grants return an ``iam.Grant``; the registry-driven mapping only needs the side effect."""
