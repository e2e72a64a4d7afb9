"""``python -m local preflight``'s approver directory check, against moto's SES.

moto verifies an identity at once (AWS waits for the emailed link), and has no SESv2 GetAccount:
the sandbox status is passed in, as ``local/preflight.py`` gets it from ``ses_sandbox``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.shared.approvers import LOCAL_FILE
from local.preflight import Target
from local.preflight_approvers import check_approver_directory

REGION = "us-east-1"
TARGET = Target(account="123456789012", region=REGION)
#: examples/approvers.json: every address at acme-demo.com (rewards, finance lead, CFO, ...).
EXAMPLE = json.loads(LOCAL_FILE.read_text(encoding="utf-8"))
CONTEXT = {"approvers": json.dumps(EXAMPLE)}
CFO = "cfo@acme-demo.com"


@pytest.fixture
def ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    with mock_aws():
        yield boto3.client("ses", region_name=REGION)


def every_address() -> list[str]:
    found = set()
    for fields in EXAMPLE.values():
        for choice in fields.values():
            for entry in choice.get("tiers", [choice]):
                found |= {entry["default"], *entry["allowed"], *entry.get("escalation", [])}
    return sorted(found)


def test_in_the_sandbox_every_directory_address_must_be_verified_escalation_included(ses: Any) -> None:
    # Given every directory address verified except the CFO (only an escalation target and a top tier)
    for address in every_address():
        if address != CFO:
            ses.verify_email_identity(EmailAddress=address)

    # When the directory is checked in the SES sandbox
    check = check_approver_directory(ses, CONTEXT, TARGET, in_sandbox=True)

    # Then it FAILs naming the CFO alone, with the command that verifies the address
    assert check.status == "FAIL"
    assert check.detail == f"in the SES sandbox, unverified: {CFO}"
    assert f"aws sesv2 create-email-identity --email-identity {CFO} --region {REGION}" in check.fix
    assert "production access" in check.fix


def test_in_the_sandbox_a_verified_domain_covers_its_addresses(ses: Any) -> None:
    ses.verify_domain_identity(Domain="acme-demo.com")
    check = check_approver_directory(ses, CONTEXT, TARGET, in_sandbox=True)
    assert (check.status, check.detail) == (
        "ok",
        f"in the SES sandbox, all {len(every_address())} address(es) verified",
    )


def test_out_of_the_sandbox_an_unverified_domain_is_only_a_warning(ses: Any) -> None:
    # Given production access and nothing verified
    check = check_approver_directory(ses, CONTEXT, TARGET, in_sandbox=False)

    # Then SES delivers anyway: a warning naming the domain, not a FAIL
    assert check.status == "warn"
    assert "acme-demo.com" in check.detail
    # ... and once the domain is an identity of the account, ok
    ses.verify_domain_identity(Domain="acme-demo.com")
    assert check_approver_directory(ses, CONTEXT, TARGET, in_sandbox=False).status == "ok"


def test_an_unknown_sandbox_status_warns_about_unverified_addresses(ses: Any) -> None:
    check = check_approver_directory(
        ses, CONTEXT, TARGET, in_sandbox=None, unknown_why="GetAccount not implemented"
    )
    assert check.status == "warn"
    assert "GetAccount not implemented" in check.detail
    assert CFO in check.detail


@pytest.mark.parametrize(
    ("context", "says"),
    [
        ({}, "context 'approvers' not set"),
        ({"approvers": "{not json"}, "is not an approver directory"),
        ({"approvers": json.dumps({**EXAMPLE, "referral": {}})}, "missing referral.rewards_approver"),
    ],
)
def test_a_missing_or_invalid_directory_fails_with_how_to_give_it(
    ses: Any, context: dict[str, str], says: str
) -> None:
    check = check_approver_directory(ses, context, TARGET, in_sandbox=True)
    assert check.status == "FAIL"
    assert says in check.detail
    assert "-c approvers=" in check.fix


def test_placeholder_approvers_fail_before_asking_ses(ses: Any) -> None:
    document = json.loads(json.dumps(EXAMPLE))
    document["no_show"]["manager_email"]["escalation"] = ["night-desk@clinic.test"]
    check = check_approver_directory(ses, {"approvers": json.dumps(document)}, TARGET, in_sandbox=False)
    assert check.status == "FAIL"
    assert "night-desk@clinic.test" in check.detail
