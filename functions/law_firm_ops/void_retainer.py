"""VoidRetainer (compensation of SetupBilling): the retainer invoice this run issued is voided.

Checkpoint-based and idempotent: the retainer is found from the matter (client + description),
not from SetupBilling's output, and only one this execution issued is voided (a redrive keeps the
execution name, so it still finds its own): a rerun of a matter an earlier run already billed must
not void that run's invoice. No invoice of this run means nothing to void, a void invoice stays void.
A paid invoice cannot be voided (it needs a refund): that is reported, not raised, so the rest of
the compensation chain still runs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import (
    MAX_RETAINER_ISSUES,
    ClientIdentity,
    matter_id_for,
    retainer_invoice_id_for,
)
from functions.shared.adapters import get_billing
from functions.shared.ports.billing import BillingPort, Invoice
from functions.shared.step_handler import StepContext, step_handler


class VoidInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_description: str


class InvoiceVoided(BaseModel):
    invoice_id: str
    voided: bool
    status: str | None


def own_retainer(billing: BillingPort, matter_id: str, execution: str) -> tuple[str, Invoice | None]:
    """The matter's retainer this execution issued, if any (else the first id, and None)."""
    for issue in range(MAX_RETAINER_ISSUES):
        invoice = billing.get_invoice(retainer_invoice_id_for(matter_id, issue))
        if invoice is None:
            break
        if invoice.issued_by == execution:
            return invoice.invoice_id, invoice
    return retainer_invoice_id_for(matter_id), None


def void_retainer(payload: VoidInput, *, billing: BillingPort, ctx: StepContext) -> InvoiceVoided:
    matter_id = matter_id_for(payload.identity.client_id, payload.matter_description)
    invoice_id, invoice = own_retainer(billing, matter_id, ctx.execution)
    if invoice is None:
        return InvoiceVoided(invoice_id=invoice_id, voided=False, status=None)
    if invoice.status == "paid":
        return InvoiceVoided(invoice_id=invoice_id, voided=False, status="paid")
    if invoice.status == "void":  # a retried compensation
        return InvoiceVoided(invoice_id=invoice_id, voided=True, status="void")
    voided = billing.void_invoice(invoice_id)
    return InvoiceVoided(invoice_id=invoice_id, voided=True, status=voided.status)


@step_handler(VoidInput)
def handler(payload: VoidInput, ctx: StepContext) -> InvoiceVoided:
    return void_retainer(payload, billing=get_billing(), ctx=ctx)
