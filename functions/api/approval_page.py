"""The page an approver opens from the email link. Showing it never decides anything.

Mail security gateways fetch links before people do, so GET only renders; the decision is a POST
made by the page's script. Everything shown is escaped (the draft is model-written text), the
page may not be framed, cached or leak its URL (which carries the signature) through Referer.
"""

from __future__ import annotations

import html
import secrets

from functions.shared.approvals import ApprovalRecord

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1d2733}
h1{font-size:1.3rem} .meta{color:#4a5866}
.action{background:#eef4fb;padding:.75rem 1rem;border-radius:6px}
label{display:block;margin-top:1rem;font-weight:600}
input,textarea{width:100%;box-sizing:border-box;font:inherit}
textarea{min-height:16rem} .buttons{margin-top:1rem;display:flex;gap:.5rem}
button{font:inherit;padding:.5rem 1rem}
#result{margin-top:1rem;font-weight:600} .decided{background:#f4f4f4;padding:.75rem 1rem;border-radius:6px}
"""

_SCRIPT = """
const form = document.getElementById("decision");
const result = document.getElementById("result");
async function decide(decision) {
  const subject = form.subject.value, body = form.body.value;
  const edits = {};
  if (subject !== form.subject.defaultValue) edits.subject = subject;
  if (body !== form.body.defaultValue) edits.body = body;
  const payload = {decision, comment: form.comment.value || null, sig: form.dataset.sig};
  if (decision === "approve" && Object.keys(edits).length) payload.edits = edits;
  for (const button of form.querySelectorAll("button")) button.disabled = true;
  const response = await fetch(form.dataset.action, {
    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(payload)});
  const answer = await response.json().catch(() => ({}));
  result.textContent = response.ok ? `Recorded: ${answer.status.toLowerCase()}. You can close this page.`
    : `Not recorded (${response.status}): ${answer.message || JSON.stringify(answer.errors || answer)}`;
}
document.getElementById("approve").addEventListener("click", () => decide("approve"));
document.getElementById("reject").addEventListener("click", () => decide("reject"));
"""


def security_headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
            "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


def render(record: ApprovalRecord, *, approver: str, body: str, signature: str) -> tuple[str, dict[str, str]]:
    """The confirmation page and its headers (a fresh CSP nonce per response)."""
    nonce = secrets.token_urlsafe(16)
    e = html.escape
    if record.status != "PENDING":
        decided = (
            f'<div class="decided">This approval is already <b>{e(record.status.lower())}</b>'
            f"{' by ' + e(record.decided_by) if record.decided_by else ''}. Nothing more to do.</div>"
        )
        form = ""
    else:
        decided = ""
        form = f"""
<form id="decision" data-sig="{e(signature)}" data-action="./{e(record.approval_id)}/decision">
  <label for="subject">Subject</label>
  <input id="subject" name="subject" maxlength="120" value="{e(record.draft.subject)}">
  <label for="body">Body (edit it to approve with edits)</label>
  <textarea id="body" name="body" maxlength="3000">{e(body)}</textarea>
  <label for="comment">Comment (optional)</label>
  <input id="comment" name="comment" maxlength="2000">
  <div class="buttons">
    <button type="button" id="approve">Approve</button>
    <button type="button" id="reject">Reject</button>
  </div>
</form>
<div id="result" role="status"></div>
<script nonce="{nonce}">{_SCRIPT}</script>"""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Approval: {e(record.draft.subject)}</title>
<style nonce="{nonce}">{_STYLE}</style></head>
<body>
<h1>Approval requested</h1>
<p class="meta">Workflow <b>{e(record.workflow)}</b> · step <b>{e(record.state)}</b>
 · for <b>{e(approver)}</b>
 · expires {e(record.expires_at)}</p>
<p class="action">{e(record.action)}</p>
{decided}{form}
</body></html>"""
    return page, security_headers(nonce)
