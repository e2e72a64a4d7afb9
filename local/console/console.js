// Stepwise local console: plain DOM, no framework, no build step. Every value from the API is
// written with textContent (never innerHTML: the page's CSP turns Trusted Types on to enforce it).
"use strict";

const KEY_STORAGE = "stepwise-api-token";
const POLL_MS = 1500;
const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];

const view = document.getElementById("view");
const keyPrompt = document.getElementById("key-prompt");
const injectedKey = document.querySelector('meta[name="stepwise-api-token"]').content;
let apiKey = injectedKey || sessionStorage.getItem(KEY_STORAGE) || "";
let catalog = null;
let pollTimer = null;
let renderId = 0; // a newer render makes older async renders stop touching the page

// --- small helpers ---------------------------------------------------------------------------
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-")) node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function template(id) {
  return document.getElementById(id).content.cloneNode(true);
}

function pretty(value) {
  return JSON.stringify(value, null, 2);
}

function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function usd(value) {
  return `$${Number(value).toFixed(6)}`;
}

function startedBy(caller) {
  // The API client that started the run and its accountable owner (absent for CLI runs).
  if (!caller) return "–";
  return `${caller.client} (${caller.owner})`;
}

function statusBadge(status) {
  return el("span", {class: `status status-${status}`, text: status});
}

function shortCause(cause) {
  if (!cause) return "";
  try {
    const parsed = JSON.parse(cause);
    if (parsed && typeof parsed === "object" && parsed.errorMessage) return String(parsed.errorMessage);
  } catch (_) {
    // not JSON: shown as it is
  }
  return cause;
}

async function api(path, options = {}) {
  const headers = Object.assign({"Authorization": `Bearer ${apiKey}`}, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, {headers, cache: "no-store"}));
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = {message: text};
  }
  if (response.status === 401 && body && body.message === "Unauthorized") askForKey("The API refused the token (401).");
  return {status: response.status, ok: response.ok, body};
}

function askForKey(message) {
  keyPrompt.hidden = false;
  if (message) keyPrompt.querySelector(".message").textContent = message;
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey = document.getElementById("key-input").value.trim();
  sessionStorage.setItem(KEY_STORAGE, apiKey);
  keyPrompt.hidden = true;
  catalog = null;
  render();
});

async function workflows() {
  if (catalog === null) {
    const answer = await api("/local/workflows");
    catalog = answer.ok ? answer.body.workflows : [];
  }
  return catalog;
}

function approvalItem(approval) {
  const item = el("li", {class: "approval", "data-approval-id": approval.approvalId});
  item.append(
    el("a", {href: `#/executions/${encodeURIComponent(approval.execution)}`, text: approval.execution}),
    el("span", {text: ` · ${approval.state} · ${approval.action}`}),
    el("br"),
    el("span", {class: "muted", text: `expires ${when(approval.expiresAt)} · `}),
  );
  for (const link of approval.links) {
    item.append(el("a", {class: "approval-link", href: link.url, target: "_blank", rel: "noopener noreferrer",
      text: `open as ${link.approver}`}), " ");
  }
  return item;
}

// --- executions list -------------------------------------------------------------------------
async function renderList(params, current, previous) {
  const page = template("tpl-list");
  const workflowSelect = page.getElementById("filter-workflow");
  const statusSelect = page.getElementById("filter-status");
  for (const workflow of await workflows()) workflowSelect.append(el("option", {value: workflow.name, text: workflow.name}));
  workflowSelect.value = params.get("workflow") || "";
  statusSelect.value = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  const onFilter = () => {
    const query = new URLSearchParams();
    if (workflowSelect.value) query.set("workflow", workflowSelect.value);
    if (statusSelect.value) query.set("status", statusSelect.value);
    location.hash = `#/?${query}`;
  };
  workflowSelect.addEventListener("change", onFilter);
  statusSelect.addEventListener("change", onFilter);
  page.getElementById("refresh").addEventListener("click", () => render());

  const query = new URLSearchParams({limit: "100"});
  if (workflowSelect.value) query.set("workflow", workflowSelect.value);
  if (statusSelect.value) query.set("status", statusSelect.value);
  const [runs, pending] = await Promise.all([api(`/executions?${query}`), api("/local/approvals")]);
  if (current !== renderId) return;
  const state = {snapshot: pretty([runs.body, pending.body])};
  const running = runs.ok && runs.body.executions.some((run) => run.status === "RUNNING");
  if (previous && previous.snapshot === state.snapshot) {
    // Nothing changed: leave the page alone (an open filter menu stays open).
    if (running) schedule(current, state);
    return;
  }

  const body = page.querySelector("#executions tbody");
  const rows = runs.ok ? runs.body.executions : [];
  for (const run of rows) {
    body.append(el("tr", {"data-execution-id": run.executionId},
      el("td", {}, el("a", {href: `#/executions/${encodeURIComponent(run.executionId)}`, text: run.executionId})),
      el("td", {text: run.workflow}),
      el("td", {}, statusBadge(run.status)),
      el("td", {text: when(run.startDate)}),
      el("td", {text: when(run.stopDate)})));
  }
  page.querySelector("#executions + .empty").hidden = rows.length > 0;
  if (!runs.ok) page.querySelector("#executions + .empty").textContent = `Could not list executions (${runs.status}).`;

  const list = page.querySelector("#pending-panel .approval-list");
  const approvals = pending.ok ? pending.body.approvals : [];
  for (const approval of approvals) list.append(approvalItem(approval));
  page.querySelector("#pending-panel .empty").hidden = approvals.length > 0;
  view.replaceChildren(page);
  if (running) schedule(current, state);
}

// --- one execution ---------------------------------------------------------------------------
async function renderExecution(executionId, current, previous) {
  const id = encodeURIComponent(executionId);
  const [run, pending, auditCost] = await Promise.all([
    api(`/executions/${id}`),
    api(`/local/approvals?execution=${id}`),
    api(`/local/executions/${id}/cost`),
  ]);
  if (current !== renderId) return;
  if (!run.ok) {
    view.replaceChildren(el("section", {class: "panel"}, el("h2", {text: executionId}),
      el("p", {class: "error", text: run.body && run.body.message ? run.body.message : `HTTP ${run.status}`})));
    return;
  }
  const snapshot = pretty([run.body, pending.body, auditCost.body]);
  if (previous && previous.snapshot === snapshot) {
    // Nothing changed: keep the page (and whatever the reader has open) as it is.
    if (run.body.status === "RUNNING") schedule(current, previous);
    return;
  }
  const openStep = previous ? previous.openStep : null;
  const page = template("tpl-execution");
  const data = run.body;
  page.querySelector(".execution-id").textContent = data.executionId;
  page.querySelector(".workflow").textContent = data.workflow;
  page.querySelector(".run-status").replaceWith(statusBadge(data.status));
  page.querySelector(".started").textContent = when(data.startDate);
  page.querySelector(".started-by").textContent = startedBy(data.startedBy);
  page.querySelector(".ended").textContent = when(data.stopDate);
  page.querySelector(".run-input").textContent = pretty(data.input);
  page.querySelector(".run-output").textContent = data.output === null ? "(none yet)" : pretty(data.output);
  if (data.output !== null) page.querySelector(".output-details").open = true;
  if (data.error) {
    page.querySelector(".run-error").hidden = false;
    page.querySelector(".error-name").textContent = data.error;
    page.querySelector(".error-cause").textContent = shortCause(data.cause);
  }

  if (REDRIVABLE.has(data.status)) renderRedrive(page, data.executionId);

  renderCost(page, data.cost, auditCost.ok ? auditCost.body : null);
  renderApprovals(page, data.approvals || [], pending.ok ? pending.body.approvals : []);
  const llmSteps = new Set((auditCost.ok ? auditCost.body.steps : []).map((step) => step.step));
  renderTimeline(page, data, llmSteps, current);
  view.replaceChildren(page);

  const state = {snapshot, openStep};
  currentExecution = {executionId, state};
  if (openStep && llmSteps.has(openStep)) await showLlm(executionId, openStep, current, false);
  if (data.status === "RUNNING") schedule(current, state);
}

let currentExecution = null;

// Step Functions redrives failed, timed-out and aborted runs (it answers 409 with its reason otherwise).
const REDRIVABLE = new Set(["FAILED", "TIMED_OUT", "ABORTED"]);

function renderRedrive(page, executionId) {
  const panel = page.querySelector(".redrive");
  const button = panel.querySelector(".redrive-button");
  const result = panel.querySelector(".redrive-result");
  panel.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    const answer = await api(`/executions/${encodeURIComponent(executionId)}/redrive`, {method: "POST"});
    if (answer.status === 202) {
      render();
      return;
    }
    result.textContent = `The API answered ${answer.status}: ${(answer.body && answer.body.message) || ""}`;
    result.hidden = false;
    button.disabled = false;
  });
}

function renderCost(page, ledger, audit) {
  const cost = ledger || audit;
  const source = page.querySelector(".cost-source");
  if (!cost) {
    page.querySelector(".cost-usd").textContent = "unknown";
    source.textContent = "No cost source answered.";
    return;
  }
  page.querySelector(".cost-usd").textContent = usd(cost.usd);
  page.querySelector(".cost-tokens").textContent =
    `· ${cost.inputTokens} input, ${cost.outputTokens} output, ${cost.cacheReadTokens} cache-read, ` +
    `${cost.cacheWriteTokens} cache-write tokens`;
  source.textContent = ledger
    ? "Source: the run ledger (cost field of GET /executions/{id})."
    : "Source: the sum of this run's LLM audit objects (local fallback; the run ledger reported no cost).";
  source.dataset.source = ledger ? "ledger" : "audit";
  const body = page.querySelector(".cost-steps tbody");
  for (const step of cost.steps || []) {
    body.append(el("tr", {},
      el("td", {text: step.step}), el("td", {text: String(step.attempt)}), el("td", {text: step.model || "–"}),
      el("td", {text: String(step.inputTokens)}), el("td", {text: String(step.outputTokens)}),
      el("td", {text: String(step.cacheReadTokens)}), el("td", {text: String(step.cacheWriteTokens)}),
      el("td", {text: usd(step.usd)})));
  }
}

function renderApprovals(page, approvals, pending) {
  const list = page.querySelector("#approvals-panel .approval-list");
  for (const approval of pending) list.append(approvalItem(approval));
  const body = page.querySelector(".approvals-table tbody");
  for (const approval of approvals) {
    body.append(el("tr", {},
      el("td", {text: approval.state}), el("td", {text: approval.approver}), el("td", {}, statusBadge(approval.status)),
      el("td", {text: approval.decided_by || "–"}), el("td", {text: approval.comment || ""}),
      el("td", {text: approval.edited ? "yes" : ""})));
  }
  page.querySelector(".approvals-table").hidden = approvals.length === 0;
  page.querySelector("#approvals-panel .empty").hidden = approvals.length > 0 || pending.length > 0;
}

function renderTimeline(page, data, llmSteps, current) {
  const body = page.querySelector("#timeline tbody");
  data.timeline.forEach((row, index) => {
    const classes = ["step", `kind-${row.kind || row.type.toLowerCase()}`, `step-${row.status}`];
    if (row.kind === "compensation") classes.push("compensation");
    if (row.error) classes.push("has-error");
    const errorCell = el("td", {class: "error-cell"});
    if (row.error) {
      errorCell.append(el("code", {text: row.error}));
      const cause = shortCause(row.cause);
      if (cause) errorCell.append(el("div", {class: "cause", text: cause}));
      // The timeline keeps a step's last error; a step that then succeeded recovered by retrying.
      if (row.status === "SUCCEEDED") errorCell.append(el("div", {class: "recovered", text: "recovered on retry"}));
    }
    const llmCell = el("td");
    if (row.step && llmSteps.has(row.step)) {
      const button = el("button", {type: "button", class: "llm-button", text: "prompt / response"});
      button.addEventListener("click", () => showLlm(data.executionId, row.step, current, true));
      llmCell.append(button);
    }
    body.append(el("tr", {class: classes.join(" "), "data-state": row.state},
      el("td", {text: String(index + 1)}),
      el("td", {class: "state", text: row.state}),
      el("td", {text: row.step || ""}),
      el("td", {class: "kind", text: row.kind || row.type.toLowerCase()}),
      el("td", {}, statusBadge(row.status)),
      el("td", {class: "attempts", text: row.attempts ? String(row.attempts) : "–"}),
      el("td", {class: "retries", text: row.attempts > 1 ? String(row.attempts - 1) : ""}),
      el("td", {class: "duration", text: duration(row.duration_ms)}),
      errorCell,
      llmCell));
  });
}

function messageText(content) {
  if (typeof content === "string") return content;
  return (content || []).map((block) => {
    if (block.type === "text") return block.text;
    if (block.type === "tool_result") return `[tool_result] ${messageText(block.content)}`;
    if (block.type === "tool_use") return `[tool_use ${block.name}] ${pretty(block.input)}`;
    return pretty(block);
  }).join("\n");
}

async function showLlm(executionId, step, current, scroll) {
  const answer = await api(`/local/audit/${encodeURIComponent(executionId)}/${encodeURIComponent(step)}`);
  if (current !== renderId) return;
  const panel = document.getElementById("llm-panel");
  panel.hidden = false;
  panel.querySelector(".llm-step").textContent = step;
  const attempts = panel.querySelector(".llm-attempts");
  attempts.replaceChildren();
  if (currentExecution) currentExecution.state.openStep = step;
  if (!answer.ok) {
    attempts.append(el("p", {class: "error", text: answer.body.message || `HTTP ${answer.status}`}));
    return;
  }
  for (const record of answer.body.records) {
    const part = template("tpl-llm-attempt");
    const usage = record.usage || {};
    part.querySelector(".llm-title").textContent = `Attempt ${record.attempt} · ${record.operation} · ${record.outcome}`;
    part.querySelector(".llm-meta").textContent =
      `${record.model} · ${usage.input_tokens} in / ${usage.output_tokens} out tokens · ` +
      `cache read ${usage.cache_read_input_tokens}, write ${usage.cache_creation_input_tokens} · ` +
      `${usd(record.cost_usd || 0)} · ${duration(record.latency_ms)} · re-prompts ${record.reprompts ?? 0}`;
    if (record.error) {
      part.querySelector(".llm-error").hidden = false;
      part.querySelector(".llm-error-text").textContent = `${record.error.type}: ${record.error.message}`;
    }
    const system = ((record.request || {}).system || []).map((block) => block.text).join("\n");
    part.querySelector(".llm-system").textContent = system;
    part.querySelector(".llm-tool").textContent = record.tool_name || "";
    const exchanges = part.querySelector(".llm-exchanges");
    for (const exchange of record.exchanges || []) {
      exchanges.append(el("h4", {text: `Exchange ${exchange.n}: prompt`}));
      for (const message of exchange.messages || []) {
        exchanges.append(el("pre", {class: `llm-prompt role-${message.role}`, text: `${message.role}: ${messageText(message.content)}`}));
      }
      exchanges.append(el("h4", {text: `Exchange ${exchange.n}: response (HTTP ${exchange.status ?? "–"})`}));
      const response = exchange.response;
      const text = response && Array.isArray(response.content) ? messageText(response.content) : pretty(response ?? exchange);
      exchanges.append(el("pre", {class: "llm-response", text}));
    }
    part.querySelector(".llm-output").textContent = record.output === undefined ? "(none)" : pretty(record.output);
    attempts.append(part);
  }
  if (scroll) panel.scrollIntoView({block: "start"});
}

// --- start form ------------------------------------------------------------------------------
async function renderStart(params) {
  const page = template("tpl-start");
  const select = page.getElementById("start-workflow");
  const input = page.getElementById("start-input");
  const description = page.getElementById("start-description");
  const errors = page.getElementById("start-errors");
  const all = await workflows();
  for (const workflow of all) select.append(el("option", {value: workflow.name, text: workflow.name}));
  const fill = () => {
    const chosen = all.find((workflow) => workflow.name === select.value);
    input.value = chosen ? pretty(chosen.example) : "{}";
    description.textContent = chosen ? chosen.description : "";
    errors.hidden = true;
  };
  select.value = all.some((workflow) => workflow.name === params.get("workflow")) ? params.get("workflow") : all.length ? all[0].name : "";
  fill();
  select.addEventListener("change", fill);
  page.getElementById("start-reset").addEventListener("click", fill);
  page.getElementById("start-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const headers = {"content-type": "application/json"};
    const key = document.getElementById("start-idempotency").value.trim();
    if (key) headers["Idempotency-Key"] = key;
    // The raw text goes to the API as typed, so invalid JSON is reported by the API like any other 400.
    const answer = await api(`/workflows/${encodeURIComponent(select.value)}/executions`,
      {method: "POST", headers, body: input.value});
    if (answer.status === 202) {
      location.hash = `#/executions/${encodeURIComponent(answer.body.executionId)}`;
      return;
    }
    const list = errors.querySelector("ul");
    list.replaceChildren();
    const found = (answer.body && answer.body.errors) || [];
    errors.querySelector(".form-errors-title").textContent = answer.status === 400
      ? "The API refused this input (400):"
      : `The API answered ${answer.status}: ${(answer.body && answer.body.message) || ""}`;
    for (const error of found) {
      list.append(el("li", {class: "field-error", "data-field": error.field},
        el("code", {text: error.field}), el("span", {text: ` ${error.message}`})));
    }
    errors.hidden = false;
  });
  view.replaceChildren(page);
}

// --- routing ---------------------------------------------------------------------------------
function schedule(current, state) {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(() => {
    if (current !== renderId) return;
    const route = parse();
    if (route.name === "execution") renderExecution(route.id, current, state);
    else if (route.name === "list") renderList(route.params, current, state);
  }, POLL_MS);
}

function parse() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const match = path.match(/^\/executions\/(.+)$/);
  if (match) return {name: "execution", id: decodeURIComponent(match[1]), params};
  if (path === "/start") return {name: "start", params};
  return {name: "list", params};
}

async function render() {
  clearTimeout(pollTimer);
  const current = ++renderId;
  currentExecution = null;
  if (!apiKey) {
    askForKey();
    view.replaceChildren();
    return;
  }
  const route = parse();
  for (const link of document.querySelectorAll("nav a")) link.classList.remove("active");
  document.getElementById(route.name === "start" ? "nav-start" : "nav-executions").classList.add("active");
  document.body.dataset.view = route.name;
  if (route.name === "execution") await renderExecution(route.id, current, null);
  else if (route.name === "start") await renderStart(route.params);
  else await renderList(route.params, current, null);
}

window.addEventListener("hashchange", render);
render();
