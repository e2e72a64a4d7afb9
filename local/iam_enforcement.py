"""IAM as AWS applies it to a Lambda's calls, on top of moto's own policy evaluation.

moto (5.2.5) checks a request's signature and evaluates the caller's policies, but for every
service except S3, SQS, IAM and STS it asks about resource ``*``: a least-privilege policy (a
statement per table, key or secret ARN, as CDK writes them) then matches nothing and everything
is denied. This shim names the resource of each request the way IAM does, then lets moto decide:

- DynamoDB: the table (``.../index/<name>`` for an index query; every table of a batch); a
  transaction is authorized item by item as the action it performs (``TransactWriteItems`` is
  not an IAM action: a ``Put`` needs ``dynamodb:PutItem`` on its table, and so on);
- KMS: the key (an alias resolved to its key); Secrets Manager: the secret; SSM: the parameter
  (``GetParameter``, by name); SES: the sender identity; Step Functions: the state machine, alias
  or execution. Task-token calls (``SendTask*``) carry no resource: they pass if the action is
  allowed on any resource.
- S3, as AWS does and moto does not: a missing object read by a principal without
  ``s3:ListBucket`` is ``AccessDenied`` (403), not ``NoSuchKey`` (404).

Only requests signed with credentials of an assumed role (the Lambdas' sessions) are checked;
the harness's own calls (creating resources, the interpreter, the tests) stay unchecked, as the
AWS services and the operator are in the cloud.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from moto.core.authorization import ActionAuthenticatorMixin

from local.assembly import ACCOUNT

Undo = Callable[[], None]

#: The moto internals this module (and ``local/deployed.py``) relies on; a test resolves each one.
INTERNALS: tuple[tuple[str, str], ...] = (
    ("moto.core.authorization", "ActionAuthenticatorMixin"),
    ("moto.iam.access_control", "IAMRequest"),
    ("moto.iam.access_control", "S3IAMRequest"),
    ("moto.iam.access_control", "IAMPolicy"),
    ("moto.iam.access_control", "IAMPolicyStatement"),
    ("moto.iam.access_control", "PermissionResult"),
    ("moto.kms.models", "kms_backends"),
    ("moto.kms.utils", "_deserialize_ciphertext_blob"),
    ("moto.secretsmanager.models", "secretsmanager_backends"),
    ("moto.s3.models", "s3_backends"),
    ("moto.ses.models", "ses_backends"),
    ("moto.stepfunctions.parser.models", "StepFunctionsParserBackend"),
    ("moto.server", "ThreadedMotoServer"),
)


def _body(request: Any) -> dict[str, Any]:
    if isinstance(request.body, dict):  # moto has parsed it already
        return request.body
    try:
        parsed = json.loads(request.body or b"{}")
    except (ValueError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _form(request: Any) -> dict[str, str]:
    if isinstance(request.body, dict):
        return {}
    raw = request.body if isinstance(request.body, str) else (request.body or b"").decode()
    return {k: v[-1] for k, v in parse_qs(raw).items()}


def _service(request: Any) -> str:
    target = str(request.headers.get("X-Amz-Target", ""))
    if target.startswith("DynamoDB_"):
        return "dynamodb"
    if target.startswith("TrentService"):
        return "kms"
    if target.startswith("secretsmanager"):
        return "secretsmanager"
    if target.startswith("AWSStepFunctions"):
        return "states"
    authorization = str(request.headers.get("Authorization", ""))
    scope = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    return scope[3] if len(scope) > 3 else ""


def _dynamodb(region: str, body: dict[str, Any]) -> list[str]:
    def arn(table: str, index: str | None = None) -> str:
        base = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"
        return f"{base}/index/{index}" if index else base

    if "TableName" in body:
        return [arn(body["TableName"], body.get("IndexName"))]
    return [arn(t) for t in sorted(body.get("RequestItems", {}))] or ["*"]


#: What each element of a DynamoDB transaction is authorized as.
_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def transaction_checks(request: Any, region: str) -> list[tuple[str, str]]:
    """(action, table ARN) for each element of a DynamoDB transaction; [] for any other request."""
    if _service(request) != "dynamodb":
        return []
    checks = []
    for item in _body(request).get("TransactItems", []):
        for kind, operation in item.items():
            table = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{operation['TableName']}"
            checks.append((_TRANSACT_ACTIONS[kind], table))
    return checks


def _kms(region: str, body: dict[str, Any]) -> list[str]:
    from moto.kms.models import kms_backends

    key_id = str(body.get("KeyId", ""))
    if not key_id and body.get("CiphertextBlob"):
        key_id = _ciphertext_key(str(body["CiphertextBlob"]))
    if not key_id:
        return ["*"]
    backend = kms_backends[ACCOUNT][region]
    if key_id.startswith("alias/") or ":alias/" in key_id:
        alias = "alias/" + key_id.split("alias/", 1)[1]
        resolved = backend.get_key_id_from_alias(alias)
        if resolved is None:
            return ["*"]
        key_id = str(resolved)
    key_id = key_id.rsplit("/", 1)[-1]
    return [f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"]


def _ciphertext_key(blob: str) -> str:
    """The key a ``Decrypt`` names through its ciphertext (KMS records it there; so does moto)."""
    import base64

    from moto.kms.utils import _deserialize_ciphertext_blob

    try:
        key_id = _deserialize_ciphertext_blob(base64.b64decode(blob)).key_id
    except (ValueError, TypeError, struct.error):
        return ""
    return key_id.decode() if isinstance(key_id, bytes) else str(key_id)


def _secret(region: str, body: dict[str, Any]) -> list[str]:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = str(body.get("SecretId", ""))
    backend = secretsmanager_backends[ACCOUNT][region]
    for secret in backend.secrets.values():
        if secret_id in (secret.name, secret.arn):
            return [secret.arn]
    return [secret_id or "*"]


def _states(body: dict[str, Any]) -> list[str] | None:
    for key in ("stateMachineArn", "executionArn"):
        if key in body:
            return [str(body[key])]
    return None  # task-token calls: no resource


def resources_of(request: Any, region: str) -> list[str] | None:  # noqa: PLR0911 - one per service
    """The ARNs IAM evaluates the request against; ``None`` when the action has no resource."""
    service = _service(request)
    if service == "dynamodb":
        return _dynamodb(region, _body(request))
    if service == "kms":
        return _kms(region, _body(request))
    if service == "secretsmanager":
        return _secret(region, _body(request))
    if service == "states":
        return _states(_body(request))
    if service == "ssm":  # GetParameter & co. name one parameter; its ARN drops the leading "/"
        name = str(_body(request).get("Name", ""))
        return [f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name.lstrip('/')}"] if name else ["*"]
    if service == "ses":  # v2 (JSON, FromEmailAddress) or v1 (query, Source)
        source = str(_body(request).get("FromEmailAddress") or _form(request).get("Source", ""))
        address = source.rsplit("<", 1)[-1].rstrip(">").strip()
        return [f"arn:aws:ses:{region}:{ACCOUNT}:identity/{address}"] if address else ["*"]
    return ["*"]


def _is_role_session(request: Any) -> bool:
    authorization = str(request.headers.get("Authorization", ""))
    return "Credential=ASIA" in authorization or "Credential=FSIA" in authorization


def _missing_object(resource: str) -> bool:
    from moto.s3.models import s3_backends

    path = resource.removeprefix("arn:aws:s3:::")
    if "/" not in path:
        return False
    bucket_name, key = path.split("/", 1)
    backend = s3_backends[ACCOUNT]["aws"]
    bucket = backend.buckets.get(bucket_name)
    return bucket is not None and key not in bucket.keys


def enforce() -> Undo:
    """Patch moto's authorizer (process-wide); returns the undo."""
    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not _is_role_session(self):
            return
        from moto.iam.access_control import S3IAMRequest

        iam_request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=self.raw_path + ("?" + self.uri.split("?", 1)[1] if "?" in self.uri else ""),
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        iam_request.check_signature()
        if iam_request_cls is S3IAMRequest:
            iam_request.check_action_permitted(resource)
            if iam_request._action in ("s3:GetObject",) and _missing_object(resource):
                bucket = resource.split("/", 1)[0]
                listing = iam_request_cls(
                    account_id=self.current_account,
                    method="GET",
                    path="/",
                    data={},
                    body=b"",
                    headers=self.headers,
                    action="ListBucket",
                )
                listing.check_action_permitted(bucket)
            return
        if transaction := transaction_checks(self, self.region):
            for action, table in transaction:
                iam_request._action = action
                iam_request.check_action_permitted(table)
            return
        resources = resources_of(self, self.region)
        if resources is None:
            _check_any_resource(iam_request)
            return
        for each in resources:
            iam_request.check_action_permitted(each)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize  # type: ignore[method-assign]
    return lambda: setattr(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", original)


def _check_any_resource(iam_request: Any) -> None:
    """The action is allowed by some statement, whatever its resource (task-token calls)."""
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult

    for policy in iam_request._access_key.collect_policies():
        statements = IAMPolicy(policy)._policy_json["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            anywhere = IAMPolicyStatement({**statement, "Resource": "*"})
            if anywhere.is_action_permitted(iam_request._action, "*") == PermissionResult.PERMITTED:
                return
    iam_request._raise_access_denied()
