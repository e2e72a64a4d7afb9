"""The conflict-of-interest rule on its own: who is found for a party name, and what counts as a conflict."""

from __future__ import annotations

from typing import Any

from functions.law_firm_ops.conflicts import INDEX_KEY, find_conflicts
from functions.law_firm_ops.models import ClientIdentity, Matter, Party
from functions.law_firm_ops.open_matter import OpenMatterInput, open_matter
from functions.shared.adapters.memory import InMemoryCrm, InMemoryFileStore
from functions.shared.ports.crm import Contact, RelatedParty
from functions.shared.step_handler import StepContext


def _crm(*contacts: Contact) -> InMemoryCrm:
    crm = InMemoryCrm()
    for contact in contacts:
        crm.put_contact(contact)
    return crm


def _contact(contact_id: str, name: str, company: str, **fields: Any) -> Contact:
    return Contact(
        contact_id=contact_id,
        email=f"{contact_id.lower()}@firm-client.example",
        name=name,
        company=company,
        **fields,
    )


CTX = StepContext(
    workflow="law_firm_ops", step="open_matter", state="OpenMatter", execution="run-1", attempt=0
)
PROSPECT = ClientIdentity(
    client_id="P-1",
    existed=False,
    previous_status=None,
    name="Dana Pine",
    email="dana@pinecrest.example",
    company="Pinecrest Supply Co.",
)


def test_an_existing_client_on_the_other_side_is_found_by_company_without_any_index() -> None:
    # Given a client of the firm at "Ruiz Design Build LLC", and no conflicts index at all
    crm = _crm(_contact("C-1", "Elena Ruiz", "Ruiz Design Build LLC", status="client"))

    # When the other side of a matter is "Ruiz Design Build" (no suffix)
    hits, checked = find_conflicts(
        identity=PROSPECT,
        parties=[Party(name="Ruiz Design Build", role="opposing_party")],
        crm=crm,
        files=InMemoryFileStore(),
    )

    # Then the CRM lookup finds her: a conflict naming the party as written
    assert [(h.contact_id, h.matched) for h in hits] == [("C-1", "Ruiz Design Build")]
    assert "existing client of the firm is on the other side" in hits[0].reason
    assert checked == ["Dana Pine", "Pinecrest Supply Co.", "Ruiz Design Build"]


def test_a_person_named_as_the_other_side_is_found_by_name() -> None:
    crm = _crm(_contact("C-2", "Victor  Hale", "Harborline Logistics", status="client"))
    hits, _ = find_conflicts(
        identity=PROSPECT,
        parties=[Party(name="victor hale", role="opposing_party")],
        crm=crm,
        files=InMemoryFileStore(),
    )
    assert [h.contact_id for h in hits] == ["C-2"]


def test_the_index_still_adds_names_the_crm_has_no_field_for() -> None:
    # Given a client whose former trading name is only in the firm's conflicts index
    crm = _crm(_contact("C-3", "Maya Chen", "Brightwater Studios", status="client"))
    files = InMemoryFileStore()
    files.put_json(INDEX_KEY, {"entries": [{"contact_id": "C-3", "names": ["Chen & Partners Design"]}]})

    # When the other side is named by that former name
    hits, _ = find_conflicts(
        identity=PROSPECT,
        parties=[Party(name="Chen and Partners Design Ltd", role="opposing_party")],
        crm=crm,
        files=files,
    )

    # Then the alias finds the client, once
    assert [h.contact_id for h in hits] == ["C-3"]


def test_a_party_who_is_not_a_client_and_unmarked_is_no_conflict() -> None:
    # Given a contact at the other side's company who is only a prospect, with no notes
    crm = _crm(_contact("C-4", "Sam Lee", "Ruiz Design Build LLC", status="new"))
    hits, _ = find_conflicts(
        identity=PROSPECT,
        parties=[Party(name="Ruiz Design Build", role="opposing_party")],
        crm=crm,
        files=InMemoryFileStore(),
    )
    assert hits == []


def test_a_dormant_client_on_the_other_side_is_still_a_conflict() -> None:
    # Given a client of the firm without recent activity (dormant)
    crm = _crm(_contact("C-5", "Priya Quill", "Quill & Co", status="dormant"))

    # When the other side is that company
    hits, _ = find_conflicts(
        identity=PROSPECT,
        parties=[Party(name="Quill and Co", role="opposing_party")],
        crm=crm,
        files=InMemoryFileStore(),
    )

    # Then it is a conflict: a quiet client is still the firm's client
    assert [(h.contact_id, h.reason) for h in hits] == [
        ("C-5", "a client of the firm (dormant) is on the other side of this matter")
    ]


def test_the_firm_acting_against_the_prospect_is_a_conflict_but_not_against_itself() -> None:
    # Given the firm acts for C-6 against Pinecrest Supply, and Pinecrest's own client record P-1
    # once listed Pinecrest as adverse (its own earlier, odd classification)
    crm = _crm(_contact("C-6", "Elena Ruiz", "Ruiz Design Build LLC", status="client"))
    crm.relate_party(
        RelatedParty(contact_id="C-6", party="Pinecrest Supply Co.", relation="adverse", ref="M-1")
    )
    crm.relate_party(RelatedParty(contact_id="P-1", party="Pinecrest Supply", relation="adverse", ref="M-0"))
    crm.relate_party(RelatedParty(contact_id="C-6", party="Pinecrest Supply", relation="witness", ref="M-2"))

    # When Pinecrest's Dana Pine asks the firm to act for it
    hits, _ = find_conflicts(identity=PROSPECT, parties=[], crm=crm, files=InMemoryFileStore())

    # Then the one adverse relationship of another client is the conflict
    assert [(h.contact_id, h.name, h.matched, h.reason) for h in hits] == [
        (
            "C-6",
            "Elena Ruiz",
            "Pinecrest Supply Co.",
            "the firm acts for this client against Pinecrest Supply Co. (matter M-1)",
        )
    ]


def test_opening_a_matter_records_named_opposing_parties_and_skips_nameless_ones() -> None:
    # Given a matter against "Pinecrest Supply Co." and against "The Company" (only legal words)
    crm = _crm()
    matter = Matter(
        matter_type="contract",
        summary="Unpaid invoices.",
        parties=[
            Party(name="Elena Ruiz", role="client"),
            Party(name="Pinecrest Supply Co.", role="opposing_party"),
            Party(name="The Company", role="opposing_party"),
            Party(name="Sam Lee", role="witness"),
        ],
        llm={},
    )
    payload = OpenMatterInput(
        identity=PROSPECT,
        matter=matter,
        attorney_email="a@firm.example",
        partner_email="p@firm.example",
        retainer_cents=1,
    )

    # When the matter is opened
    record = open_matter(payload, crm=crm, ctx=CTX)

    # Then the named opposing party is recorded as adverse to the client; nothing else is
    assert [(r.contact_id, r.party, r.ref) for r in crm.find_related("Pinecrest Supply")] == [
        ("P-1", "Pinecrest Supply Co.", record.matter_id)
    ]
    assert crm.find_related("Sam Lee") == []
    assert len(crm.related) == 1
