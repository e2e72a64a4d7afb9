"""PrepareDigest (pure): the day's high-risk appointments, as one digest for one manager approval.

Reads every scored batch file and lists the appointments ScoreBatch routed to "escalate" (start
order) with the recommended action and the reason, in ``<prefix>/digest.json``; the approval text
(``<prefix>/digest.txt``) shows one line per appointment. The state gets the count and the keys.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from functions.no_show.models import DigestItem, DigestRef, RunFiles, ScoredBatch
from functions.shared.adapters import get_files
from functions.shared.ports.files import FileStore, dumps_json, sha256_text
from functions.shared.step_handler import StepContext, step_handler

END_MARKER = "-- end of the digest --"


class DigestPlanInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    signals: RunFiles


def item_line(item: DigestItem) -> str:
    """One digest line; the ``[event id]`` is what the approval's edits are read by."""
    return f"[{item.event_id}] {item.recommended_action} (risk {item.score:.0%}): {item.reason}"


def digest_text(run: RunFiles, items: list[DigestItem]) -> str:
    lines = "\n".join(item_line(item) for item in items)
    return (
        f"No-show risk digest for {run.owner}, {run.day}: {len(items)} high-risk appointment(s).\n"
        "Approving applies each recommended action below (reschedule: the calendar status becomes "
        "'rescheduled'; call and overbook: a task on your list). Rejecting applies none.\n"
        "To leave an appointment out, approve with edits: delete its line, or add a line "
        "'drop <event id>'. Actions cannot be changed or added here.\n\n"
        f"{lines}\n{END_MARKER}\n"
    )


def prepare_digest(payload: DigestPlanInput, *, files: FileStore) -> DigestRef:
    run = payload.signals
    items = [
        DigestItem(
            event_id=line.event_id,
            contact_id=line.contact_id,
            status=line.status,
            score=line.score,
            recommended_action=line.recommended_action,
            reason=line.reason,
        )
        for index in range(1, run.batches + 1)
        for line in ScoredBatch.model_validate(files.get_json(run.key("scored", index))).lines
        if line.route == "escalate"
    ]
    listed = dumps_json(items)
    body = digest_text(run, items)
    key, body_key = run.key("digest"), f"{run.prefix}/digest.txt"
    files.put_text(key, listed)
    files.put_text(body_key, body)
    return DigestRef(
        items=len(items),
        key=key,
        sha256=sha256_text(listed),
        body_key=body_key,
        body_sha256=sha256_text(body),
    )


@step_handler(DigestPlanInput)
def handler(payload: DigestPlanInput, ctx: StepContext) -> DigestRef:
    return prepare_digest(payload, files=get_files())
