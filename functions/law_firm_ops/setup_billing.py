"""SetupBilling (reversible): the matter's hourly rate and the retainer invoice; VoidRetainer undoes it.

The invoice id is derived from the execution and ``issue_invoice`` is idempotent on it, so a retry
issues nothing twice. The rate is configuration (``set_rate`` overwrites) and is left in place by
the compensation: a rate on an archived matter bills nothing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.law_firm_ops.models import BillingSetup, ClientIdentity, MatterRecord, retainer_invoice_id_for
from functions.shared.adapters import get_billing
from functions.shared.ports.billing import BillingPort, Invoice
from functions.shared.ports.crm import utc_now_iso
from functions.shared.step_handler import StepContext, step_handler


class BillingInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    identity: ClientIdentity
    matter_record: MatterRecord
    hourly_rate_cents: int
    retainer_cents: int


def setup_billing(payload: BillingInput, *, billing: BillingPort, ctx: StepContext) -> BillingSetup:
    client_id, matter_id = payload.identity.client_id, payload.matter_record.matter_id
    billing.set_rate(client_id, matter_id, payload.hourly_rate_cents)
    invoice_id = retainer_invoice_id_for(ctx.execution)
    billing.issue_invoice(
        Invoice(
            invoice_id=invoice_id,
            client_id=client_id,
            matter_id=matter_id,
            kind="retainer",
            amount_cents=payload.retainer_cents,
            issued_at=utc_now_iso(),
            memo=f"Retainer for matter {matter_id}",
        )
    )
    invoice = billing.get_invoice(invoice_id)
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
