"""The public routes hardened in the cloud (infra/api.py, issue #19): WAF, approval throttling,
the link-key rotation, and KMS split by direction, as synthesized."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.registry import LINK_KEY_ROTATION_HANDLER
from infra import constants
from infra.api import (
    APPROVAL_METHOD_THROTTLING,
    STAGE_BURST_LIMIT,
    STAGE_RATE_LIMIT,
    WAF_API_RATE_LIMIT,
    WAF_APPROVAL_RATE_LIMIT,
)
from infra.stack import StepwiseStack
from tests.infra.conftest import offline_app
from tests.infra.templates import MergedTemplate, merge


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> MergedTemplate:
    app = offline_app(tmp_path_factory.mktemp("cdk.out"))
    return merge(StepwiseStack(app, "Stepwise-ci", stage="ci"))


def _one(template: MergedTemplate, kind: str) -> tuple[str, dict[str, Any]]:
    (item,) = template.of_type(kind).items()
    return item[0], item[1]["Properties"]


def _rules(template: MergedTemplate) -> dict[str, dict[str, Any]]:
    _, acl = _one(template, "AWS::WAFv2::WebACL")
    return {rule["Name"]: rule for rule in acl["Rules"]}


def _role_statements(template: MergedTemplate, function_id: str) -> list[dict[str, Any]]:
    role = template.resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in template.of_type("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


# --- WAF ----------------------------------------------------------------------------------------------
def test_a_regional_web_acl_guards_the_api_stage(synthesized: MergedTemplate) -> None:
    # Given the synthesized stack
    acl_id, acl = _one(synthesized, "AWS::WAFv2::WebACL")
    _, association = _one(synthesized, "AWS::WAFv2::WebACLAssociation")
    stage_id, _ = _one(synthesized, "AWS::ApiGateway::Stage")

    # Then a regional ACL, allowing by default, is associated with the API's stage
    assert acl["Scope"] == "REGIONAL"
    assert acl["DefaultAction"] == {"Allow": {}}
    assert association["WebACLArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    assert stage_id in json.dumps(association["ResourceArn"])
    # ... with metrics and sampled requests on, for the ACL and every rule
    for visibility in [acl["VisibilityConfig"]] + [r["VisibilityConfig"] for r in acl["Rules"]]:
        assert visibility["CloudWatchMetricsEnabled"] is True
        assert visibility["SampledRequestsEnabled"] is True


def test_approval_links_have_a_tighter_per_ip_rate_limit_than_the_whole_api(
    synthesized: MergedTemplate,
) -> None:
    rules = _rules(synthesized)
    approvals = rules["ApprovalLinksPerIp"]
    api = rules["ApiPerIp"]
    for rule in (approvals, api):
        assert rule["Action"] == {"Block": {}}
        assert rule["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert approvals["Statement"]["RateBasedStatement"]["Limit"] == WAF_APPROVAL_RATE_LIMIT
    assert api["Statement"]["RateBasedStatement"]["Limit"] == WAF_API_RATE_LIMIT
    assert WAF_APPROVAL_RATE_LIMIT < WAF_API_RATE_LIMIT
    assert "ScopeDownStatement" not in api["Statement"]["RateBasedStatement"]
    # The approval rule counts only /approvals/ paths, on the execute-api URL (/<stage>/...) or a domain root
    scope = approvals["Statement"]["RateBasedStatement"]["ScopeDownStatement"]["OrStatement"]["Statements"]
    matches = [s["ByteMatchStatement"] for s in scope]
    assert {m["SearchString"] for m in matches} == {"/approvals/", "/ci/approvals/"}
    for match in matches:
        assert match["FieldToMatch"] == {"UriPath": {}}
        assert match["PositionalConstraint"] == "STARTS_WITH"
        assert match["TextTransformations"] == [{"Priority": 0, "Type": "LOWERCASE"}]
    # and the rate rules are evaluated before any managed group
    assert {approvals["Priority"], api["Priority"]} == {0, 1}


def test_aws_managed_rule_groups_block_and_only_the_8kb_body_rule_counts(synthesized: MergedTemplate) -> None:
    rules = _rules(synthesized)
    groups = {
        name: rule["Statement"]["ManagedRuleGroupStatement"]
        for name, rule in rules.items()
        if "ManagedRuleGroupStatement" in rule["Statement"]
    }
    assert set(groups) == {
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesCommonRuleSet",
    }
    for name, group in groups.items():
        assert group["VendorName"] == "AWS"
        assert rules[name]["OverrideAction"] == {"None": {}}  # the group's own actions (block) apply
    # A decision with a 3000-character edit, or a start request, may exceed 8 KB: that rule counts only
    assert groups["AWSManagedRulesCommonRuleSet"]["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}
    ]
    for name in ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesKnownBadInputsRuleSet"):
        assert "RuleActionOverrides" not in groups[name]
    assert len({rule["Priority"] for rule in rules.values()}) == len(rules)


def test_waf_logs_only_blocked_or_counted_requests_with_signatures_and_keys_redacted(
    synthesized: MergedTemplate,
) -> None:
    acl_id, _ = _one(synthesized, "AWS::WAFv2::WebACL")
    _, logging = _one(synthesized, "AWS::WAFv2::LoggingConfiguration")
    assert logging["ResourceArn"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (destination,) = logging["LogDestinationConfigs"]
    rendered = json.dumps(destination)
    assert ":log-group:" in rendered
    assert not rendered.endswith(':*"')
    log_groups = {
        lid: r["Properties"]
        for lid, r in synthesized.of_type("AWS::Logs::LogGroup").items()
        if str(r["Properties"].get("LogGroupName", "")).startswith("aws-waf-logs-")
    }
    ((log_group_id, log_group),) = log_groups.items()
    assert log_group["LogGroupName"] == "aws-waf-logs-stepwise-ci-api"
    assert log_group["RetentionInDays"] > 0
    assert {"Ref": log_group_id} in destination["Fn::Join"][1]
    # ?sig= is in the query string; the API key and any bearer token are headers
    assert {"QueryString": {}} in logging["RedactedFields"]
    headers = {f["SingleHeader"]["Name"] for f in logging["RedactedFields"] if "SingleHeader" in f}
    assert headers == {"authorization", "x-api-key"}
    assert logging["LoggingFilter"]["DefaultBehavior"] == "DROP"
    (keep,) = logging["LoggingFilter"]["Filters"]
    assert keep["Behavior"] == "KEEP"
    assert {c["ActionCondition"]["Action"] for c in keep["Conditions"]} == {"BLOCK", "COUNT"}


# --- method throttling ---------------------------------------------------------------------------------
def test_approval_routes_have_their_own_method_throttling_below_the_stage(
    synthesized: MergedTemplate,
) -> None:
    _, stage = _one(synthesized, "AWS::ApiGateway::Stage")
    settings = {(s["ResourcePath"], s["HttpMethod"]): s for s in stage["MethodSettings"]}
    assert settings[("/*", "*")]["ThrottlingRateLimit"] == STAGE_RATE_LIMIT
    expected = {
        ("/~1approvals~1{approvalId}", "GET"): APPROVAL_METHOD_THROTTLING["/approvals/{approvalId}/GET"],
        ("/~1approvals~1{approvalId}~1decision", "POST"): APPROVAL_METHOD_THROTTLING[
            "/approvals/{approvalId}/decision/POST"
        ],
    }
    for route, (rate, burst) in expected.items():
        assert (settings[route]["ThrottlingRateLimit"], settings[route]["ThrottlingBurstLimit"]) == (
            rate,
            burst,
        )
        assert rate < STAGE_RATE_LIMIT
        assert burst < STAGE_BURST_LIMIT
        # the stage's logging choices still apply to these methods
        assert settings[route]["DataTraceEnabled"] is False
    assert set(settings) == {("/*", "*"), *expected}


# --- link-key rotation ---------------------------------------------------------------------------------
def test_the_signing_secret_rotates_on_a_schedule_with_its_own_least_privilege_lambda(
    synthesized: MergedTemplate,
) -> None:
    # Given the rotation schedule and the function it names
    _, schedule = _one(synthesized, "AWS::SecretsManager::RotationSchedule")
    secret_id = synthesized.logical_id(synthesized.stack.storage.approval_signing_secret)
    function_id = synthesized.logical_id(synthesized.stack.api.link_key_rotation_function)
    function = synthesized.resources[function_id]["Properties"]

    # Then it rotates the signing secret with that function, every LINK_KEY_ROTATION_DAYS days
    assert schedule["SecretId"] == {"Ref": secret_id}
    assert schedule["RotationLambdaARN"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert schedule["RotationRules"] == {
        "ScheduleExpression": f"rate({constants.LINK_KEY_ROTATION_DAYS} days)"
    }
    assert function["Handler"] == LINK_KEY_ROTATION_HANDLER
    # ... Secrets Manager (this account only) may invoke it
    permissions = [
        p["Properties"]
        for p in synthesized.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
    ]
    assert [(p["Principal"], p["SourceAccount"]) for p in permissions] == [
        ("secretsmanager.amazonaws.com", {"Ref": "AWS::AccountId"})
    ]
    # ... and its role reaches that secret only, with exactly the calls a rotation makes
    statements = [
        s
        for s in _role_statements(synthesized, function_id)
        if any(a.startswith("secretsmanager:") for a in _actions(s))
    ]
    assert [s["Resource"] for s in statements] == [{"Ref": secret_id}]
    assert set(_actions(statements[0])) == {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    }
    every_action = {a for s in _role_statements(synthesized, function_id) for a in _actions(s)}
    assert not {a for a in every_action if a.split(":")[0] in {"kms", "dynamodb", "s3", "states", "ses"}}


# --- KMS by direction ----------------------------------------------------------------------------------
def test_only_the_functions_that_resume_runs_may_decrypt_task_tokens(synthesized: MergedTemplate) -> None:
    key = synthesized.logical_id(synthesized.stack.storage.approvals_key)
    decrypting = {
        synthesized.resources[fid]["Properties"]["Handler"]
        for fid in synthesized.of_type("AWS::Lambda::Function")
        if any(
            "kms:Decrypt" in _actions(s) and key in json.dumps(s["Resource"])
            for s in _role_statements(synthesized, fid)
        )
    }
    assert decrypting == {constants.API_HANDLER, constants.SWEEPER_HANDLER}
