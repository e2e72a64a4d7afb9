"""VoidRetainer (compensation of SetupBilling): the retainer invoice this run issued is voided.

Checkpoint-based and idempotent: the invoice id is derived from the execution; no invoice means
nothing to void, a void invoice stays void. A paid invoice cannot be voided (it needs a refund):
that is reported, not raised, so the rest of the compensation chain still runs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import ClientIdentity, retainer_invoice_id_for
from functions.shared.adapters import get_billing
from functions.shared.ports.billing import BillingPort
from functions.shared.step_handler import StepContext, step_handler


class VoidInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity


class InvoiceVoided(BaseModel):
    invoice_id: str
    voided: bool
    status: str | None


def void_retainer(payload: VoidInput, *, billing: BillingPort, ctx: StepContext) -> InvoiceVoided:
    invoice_id = retainer_invoice_id_for(ctx.execution)
    invoice = billing.get_invoice(invoice_id)
    if invoice is None:
        return InvoiceVoided(invoice_id=invoice_id, voided=False, status=None)
    if invoice.status == "paid":
        return InvoiceVoided(invoice_id=invoice_id, voided=False, status="paid")
    voided = billing.void_invoice(invoice_id)
    return InvoiceVoided(invoice_id=invoice_id, voided=True, status=voided.status)


@step_handler(VoidInput)
def handler(payload: VoidInput, ctx: StepContext) -> InvoiceVoided:
    return void_retainer(payload, billing=get_billing(), ctx=ctx)
