"""The link-key rotation as deployed: the rotation Lambda from its own asset, environment and role
(IAM enforced), then the deployed API with a link signed before the rotation and one signed after.

Secrets Manager cannot invoke a Lambda in moto, so the test does what the service does: stage an
empty ``AWSPENDING`` version for a request token, then call the four steps, each an invocation of
the deployed function. A separate module: the rotation changes the account's secret for good.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from moto.secretsmanager.models import FakeSecret, secretsmanager_backends

from functions.registry import LINK_KEY_ROTATION_HANDLER, ROOT
from functions.shared import link_keys
from functions.shared.aws import client
from local.assembly import ACCOUNT
from local.runtime import LocalRuntime
from tests.api.conftest import Api, serving

pytestmark = pytest.mark.slow

EMAILED_LINK = re.compile(r"https://\S+/approvals/([A-Za-z0-9_-]+)\?sig=([A-Za-z0-9_-]+)")


@pytest.fixture(scope="module")
def deployed_api(deployed_account: LocalRuntime) -> Iterator[Api]:
    with serving(deployed_account) as served:
        yield served


def _secrets_manager_starts_rotation(runtime: LocalRuntime, arn: str) -> str:
    secret = secretsmanager_backends[ACCOUNT][runtime.region].secrets[arn]
    assert isinstance(secret, FakeSecret)
    secret.rotation_enabled = secret.rotation_requested = True
    token = str(uuid.uuid4())
    secret.versions[token] = {
        "createdate": int(time.time()),
        "version_id": token,
        "version_stages": ["AWSPENDING"],
    }
    return token


def test_a_rotation_by_the_deployed_lambda_keeps_old_links_valid_and_new_ones_accepted(
    deployed_api: Api, deployed: LocalRuntime
) -> None:
    # Given a run waiting for approval, whose link the deployed step signed with the generated key
    outreach: dict[str, Any] = json.loads(
        (ROOT / "examples" / "sales_outreach.json").read_text(encoding="utf-8")
    )
    started = deployed_api.start(outreach)
    assert started.status == 202, started.text
    deployed_api.wait_for_approval(started.json()["executionId"])
    sent = [e["body"] for e in deployed.outbox() if e["to"] == outreach["approver_email"]]
    ((approval_id, old_signature),) = [found for body in sent for found in EMAILED_LINK.findall(body)]
    assert old_signature.startswith("v1-k0-")

    # When Secrets Manager rotates the key ring through the deployed rotation function (own role)
    arn = deployed.deployment.harness_env["STEPWISE_APPROVAL_SIGNING_SECRET_ARN"]
    token = _secrets_manager_starts_rotation(deployed, arn)
    rotate = deployed.function_handler(LINK_KEY_ROTATION_HANDLER)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        rotate({"Step": step, "SecretId": arn, "ClientRequestToken": token}, None)

    # Then the ring has a new current key and still holds the generated one
    value = client("secretsmanager").get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"]
    ring = link_keys.parse_ring(value)
    assert ring.current != link_keys.LEGACY_KID
    assert link_keys.LEGACY_KID in ring.keys
    # ... the link emailed before the rotation still opens the approval page on the deployed API
    page = deployed_api.request("GET", f"/approvals/{approval_id}?sig={old_signature}", client=None)
    assert page.status == 200, page.text
    # ... and a link signed with the new key is accepted too (the API's cached ring is refreshed once)
    (record,) = deployed.pending_approvals()
    new_signature = link_keys.sign(ring, approval_id, record.approver, record.expires_at)
    page = deployed_api.request("GET", f"/approvals/{approval_id}?sig={new_signature}", client=None)
    assert page.status == 200, page.text
    # ... while a key id the ring never held is refused
    forged = new_signature.replace(f"-{ring.current}-", "-k1-", 1)
    assert deployed_api.request("GET", f"/approvals/{approval_id}?sig={forged}", client=None).status == 403
