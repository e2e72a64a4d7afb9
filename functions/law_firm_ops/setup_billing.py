"""SetupBilling (reversible): the matter's hourly rate and the retainer invoice; VoidRetainer undoes it.

One retainer per matter, in any number of runs: the invoice id is derived from the matter (a
business identity, ``models.retainer_invoice_id_for``) and ``issue_invoice`` is idempotent on it, so
a retry, a redrive or a fresh run of the same intake issues nothing twice. Only a retainer that was
voided (an earlier run's onboarding failed and compensated) is replaced: the next issue number gets
a new invoice, so a rerun after a failure bills the client again, once. The rate is configuration
(``set_rate`` overwrites) and is left in place by the compensation: a rate on an archived matter
bills nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import (
    MAX_RETAINER_ISSUES,
    BillingSetup,
    ClientIdentity,
    MatterRecord,
    retainer_invoice_id_for,
)
from functions.shared.adapters import get_billing
from functions.shared.errors import PermanentIntegrationError
from functions.shared.ports.billing import BillingPort, Invoice
from functions.shared.ports.crm import utc_now_iso
from functions.shared.step_handler import StepContext, step_handler


class BillingInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_record: MatterRecord
    hourly_rate_cents: int
    retainer_cents: int


def live_retainer(billing: BillingPort, matter_id: str) -> tuple[str, Invoice | None]:
    """The matter's retainer that is not void (or the id the next one gets, and None)."""
    for issue in range(MAX_RETAINER_ISSUES):
        invoice_id = retainer_invoice_id_for(matter_id, issue)
        invoice = billing.get_invoice(invoice_id)
        if invoice is None or invoice.status != "void":
            return invoice_id, invoice
    raise PermanentIntegrationError(
        f"matter {matter_id} has {MAX_RETAINER_ISSUES} voided retainers: a person should look at it"
    )


def setup_billing(payload: BillingInput, *, billing: BillingPort, ctx: StepContext) -> BillingSetup:
    client_id, matter_id = payload.identity.client_id, payload.matter_record.matter_id
    billing.set_rate(client_id, matter_id, payload.hourly_rate_cents)
    invoice_id, invoice = live_retainer(billing, matter_id)
    if invoice is None:
        billing.issue_invoice(
            Invoice(
                invoice_id=invoice_id,
                client_id=client_id,
                matter_id=matter_id,
                kind="retainer",
                amount_cents=payload.retainer_cents,
                issued_at=utc_now_iso(),
                memo=f"Retainer for matter {matter_id}",
                issued_by=ctx.execution,
            )
        )
        invoice = billing.get_invoice(invoice_id)  # the first write wins: perhaps another run's
    return BillingSetup(
        client_id=client_id,
        matter_id=matter_id,
        rate_cents=payload.hourly_rate_cents,
        invoice_id=invoice_id,
        amount_cents=invoice.amount_cents if invoice else payload.retainer_cents,
        status=invoice.status if invoice else "open",
    )


@step_handler(BillingInput)
def handler(payload: BillingInput, ctx: StepContext) -> BillingSetup:
    return setup_billing(payload, billing=get_billing(), ctx=ctx)
