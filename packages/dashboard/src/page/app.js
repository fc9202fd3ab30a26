// The dashboard page: request views arrive over server-sent events; everything is drawn here.
const requests = new Map();
let selected = null;
/** Whether this dashboard may send approvals (started with an approver: ADR 0028); the server says so first. */
let approvals = false;
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";

const ms = (value) =>
  value === undefined ? "" : value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
const durationOf = (r) => (r.acceptedAt === undefined ? undefined : (r.endedAt ?? Date.now()) - r.acceptedAt);
/** A call waits for a decision: announced, not decided, not ended (a cancel ends it too). */
const awaitingApproval = (c) => c.approval !== undefined && c.approval.decision === undefined && !c.outcome;

function renderRows() {
  const filter = $("filter").value.trim().toLowerCase();
  const rows = [...requests.values()]
    .filter((r) => !filter || [r.requestId, r.model ?? "", r.status].some((v) => v.toLowerCase().includes(filter)))
    .sort((a, b) => (b.acceptedAt ?? b.lastEventAt) - (a.acceptedAt ?? a.lastEventAt));
  $("rows").replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.requestId = r.requestId;
      tr.dataset.testid = "request-row";
      if (r.requestId === selected) tr.classList.add("selected");
      const cells = [
        r.requestId,
        r.tenant ?? "",
        r.model ?? "",
        statusText(r),
        r.rounds,
        r.calls.length,
        `${r.inputTokens}/${r.outputTokens}`,
        ms(durationOf(r)),
      ];
      for (const [i, value] of cells.entries()) {
        const td = document.createElement("td");
        td.textContent = String(value);
        if (i === 3) td.className = `status-${r.status}`;
        tr.append(td);
      }
      tr.addEventListener("click", () => select(r.requestId));
      return tr;
    }),
  );
}

/** The request's status, and how many of its calls wait for approval while it runs. */
function statusText(r) {
  const waiting = r.status === "running" ? r.calls.filter(awaitingApproval).length : 0;
  return waiting > 0 ? `${r.status} (${waiting} awaiting approval)` : r.status;
}

function select(requestId) {
  if (requestId !== selected) $("call").textContent = "";
  selected = requestId;
  renderRows();
  renderDetail();
}

function svg(tag, attributes, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** The request as a Gantt chart: model turns and calls on one time axis, `$ref` dependencies as arrows. */
function renderDetail() {
  const r = requests.get(selected);
  $("detail").hidden = !r;
  if (!r) return;
  $("detail-title").textContent = r.requestId;
  $("detail-status").textContent = r.error ? `${r.status} (${r.error})` : r.status;
  $("detail-status").className = `status-${r.status}`;
  $("cancel").hidden = r.status !== "running";
  renderApprovals(r);
  const now = Date.now();
  const times = [
    r.acceptedAt,
    ...r.turns.map((t) => t.requestedAt),
    ...r.calls.map((c) => c.approval?.requestedAt ?? c.scheduledAt ?? c.startedAt),
  ].filter((t) => t !== undefined);
  const start = Math.min(...times);
  const end = Math.max(r.endedAt ?? now, ...r.calls.map((c) => c.endedAt ?? now), start + 1);
  const rows = [
    ...r.turns.map((t) => ({
      kind: "turn",
      label: `model turn ${t.round}`,
      from: t.requestedAt,
      to: t.respondedAt ?? r.endedAt ?? now,
    })),
    ...[...r.calls]
      .sort((a, b) => a.round - b.round || firstTimeOf(a) - firstTimeOf(b))
      .map((c) => ({
        kind: "call",
        call: c,
        label: `${c.callId} ${c.tool}`,
        // After a wait for approval, the call's own bar begins with the decision.
        from: c.startedAt ?? c.scheduledAt ?? c.approval?.decidedAt ?? c.approval?.requestedAt,
        to: c.endedAt ?? r.endedAt ?? now,
      })),
  ];
  const LABEL = 180,
    WIDTH = 720,
    NOTES = 220,
    ROW = 22;
  const x = (t) => LABEL + ((t - start) / (end - start)) * WIDTH;
  const timeline = $("timeline");
  timeline.setAttribute("width", LABEL + WIDTH + NOTES);
  timeline.setAttribute("height", rows.length * ROW + 30);
  const arrow = svg("marker", {
    id: "arrow",
    viewBox: "0 0 10 10",
    refX: 9,
    refY: 5,
    markerWidth: 6,
    markerHeight: 6,
    orient: "auto",
  });
  arrow.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#2d3748" }));
  const defs = svg("defs", {});
  defs.append(arrow);
  const children = [defs];
  const rowOf = new Map();
  rows.forEach((row, i) => {
    const y = i * ROW + 4;
    children.push(svg("text", { x: 4, y: y + 13 }, row.label));
    const from = row.from ?? start;
    const klass = row.kind === "turn" ? "turn" : callClass(row.call, r);
    // From its hand-off to its start, a call waited: for its permits at the limiters, and for an executor.
    const waited = row.call?.scheduledAt !== undefined && row.call.startedAt > row.call.scheduledAt;
    if (waited) {
      const { scheduledAt, startedAt } = row.call;
      const wait = svg("rect", {
        x: x(scheduledAt),
        y: y + 4,
        width: Math.max(2, x(startedAt) - x(scheduledAt)),
        height: ROW - 16,
        class: "wait",
        "data-testid": "wait-bar",
        "data-waiting-call": row.call.callId,
        "data-waited": startedAt - scheduledAt,
      });
      wait.append(svg("title", {}, `${row.label}: waited ${ms(startedAt - scheduledAt)} to start`));
      children.push(wait);
    }
    const approval = row.call?.approval;
    if (approval) {
      const until = approval.decidedAt ?? row.call.endedAt ?? r.endedAt ?? now;
      const decision = approval.decision ?? "awaiting";
      const wait = svg("rect", {
        x: x(approval.requestedAt),
        y,
        width: Math.max(2, x(until) - x(approval.requestedAt)),
        height: ROW - 8,
        class: `approval ${decision}`,
        "data-testid": "approval-bar",
        "data-call-id": row.call.callId,
        "data-decision": decision,
      });
      wait.append(
        svg("title", {}, `${row.label}: ${approvalNote(row.call)} after ${ms(until - approval.requestedAt)}`),
      );
      children.push(wait);
    }
    const note = row.call ? callNote(row.call) : "";
    if (note)
      children.push(
        svg(
          "text",
          {
            x: LABEL + WIDTH + 8,
            y: y + 13,
            class: "note",
            "data-testid": "call-note",
            "data-call-id": row.call.callId,
          },
          note,
        ),
      );
    // A call that waits for approval, or never got past it, has no bar of its own: its wait is the row.
    if (approval && approval.decision === undefined) {
      rowOf.set(row.call.callId, { y, from: approval.requestedAt, to: row.to });
      return;
    }
    const bar = svg("rect", {
      x: x(from),
      y,
      width: Math.max(2, x(row.to) - x(from)),
      height: ROW - 8,
      class: `bar ${klass}${row.call?.speculation ? " guess" : ""}${row.call?.cached ? " cached" : ""}`,
      "data-testid": row.kind === "turn" ? "turn-bar" : "call-bar",
      "data-call-id": row.call?.callId ?? "",
      "data-start": from,
      "data-end": row.to,
      "data-speculation": row.call?.speculation ?? "",
      "data-cached": row.call?.cached ? "true" : "",
    });
    bar.append(
      svg(
        "title",
        {},
        `${row.label}: ${ms(row.to - from)}${row.call?.speculation ? ` (speculative: ${row.call.speculation})` : ""}`,
      ),
    );
    if (row.call) bar.addEventListener("click", () => ($("call").textContent = JSON.stringify(row.call, null, 2)));
    children.push(bar);
    if (row.call) rowOf.set(row.call.callId, { y, from, to: row.to });
  });
  for (const c of r.calls)
    for (const dependency of c.dependsOn) {
      const a = rowOf.get(dependency),
        b = rowOf.get(c.callId);
      if (a && b)
        children.push(
          svg("line", {
            class: "dependency",
            x1: x(a.to),
            y1: a.y + (ROW - 8) / 2,
            x2: x(b.from),
            y2: b.y + (ROW - 8) / 2,
            "data-from": dependency,
            "data-to": c.callId,
          }),
        );
    }
  children.push(svg("text", { x: LABEL, y: rows.length * ROW + 22 }, `0 — ${ms(end - start)}`));
  timeline.replaceChildren(...children);
}

/** When a call first shows on the timeline: its wait for approval, its hand-off or its start. */
const firstTimeOf = (c) => c.approval?.requestedAt ?? c.scheduledAt ?? c.startedAt ?? 0;

/** What the approval of a call came to, in words. */
function approvalNote(call) {
  const { decision, edited, reason } = call.approval;
  if (decision === "approved") return edited ? "approved, arguments edited" : "approved";
  if (decision === "denied") return reason ? `denied: ${reason}` : "denied";
  if (decision === "expired") return "approval timed out";
  return call.outcome ? `${call.outcome} while awaiting approval` : "awaiting approval";
}

/** The words beside a call's row: its approval, and whether its result came from the cache. */
function callNote(call) {
  const parts = [...(call.approval ? [approvalNote(call)] : []), ...(call.cached ? ["cached"] : [])];
  const text = parts.join(" · ");
  return text.length > 36 ? `${text.slice(0, 35)}…` : text;
}

/**
 * The selected request's calls that wait for approval, each with approve and deny (and a reason) when
 * this dashboard may send them. Built again only when that set changes, so a reason being typed stays;
 * otherwise only the time left is updated.
 */
function renderApprovals(r) {
  const waiting = r.status === "running" ? r.calls.filter(awaitingApproval) : [];
  const panel = $("approvals");
  panel.hidden = waiting.length === 0;
  const key = `${r.requestId}|${approvals}|${waiting.map((c) => c.callId).join(",")}`;
  if (panel.dataset.key !== key) {
    panel.dataset.key = key;
    panel.replaceChildren(...waiting.map((c) => approvalItem(r.requestId, c)));
  }
  for (const c of waiting) {
    const left = panel.querySelector(`[data-call-id="${CSS.escape(c.callId)}"] .left`);
    if (left && c.approval.expiresAt !== undefined)
      left.textContent = `expires in ${ms(Math.max(0, c.approval.expiresAt - Date.now()))}`;
  }
}

function approvalItem(requestId, call) {
  const item = document.createElement("div");
  item.className = "approval-item";
  item.dataset.testid = "approval-item";
  item.dataset.callId = call.callId;
  const element = (tag, text, className) => {
    const e = document.createElement(tag);
    e.textContent = text;
    if (className) e.className = className;
    return e;
  };
  item.append(
    element("strong", `${call.callId} ${call.tool}`),
    element("code", JSON.stringify(call.args ?? {})),
    element("span", "", "left legend"),
  );
  if (!approvals) {
    const readOnly = element("span", `read-only: toolformer approve ${requestId} ${call.callId} [--deny]`, "legend");
    readOnly.dataset.testid = "approval-read-only";
    item.append(readOnly);
    return item;
  }
  const reason = document.createElement("input");
  reason.placeholder = "reason (a denial's reaches the model)";
  reason.dataset.testid = "approval-reason";
  const result = element("span", "");
  result.dataset.testid = "approval-result";
  const button = (decision, text) => {
    const b = element("button", text);
    b.dataset.testid = decision;
    b.addEventListener("click", async () => {
      for (const other of item.querySelectorAll("button")) other.disabled = true;
      const body = { callId: call.callId, decision, ...(reason.value ? { reason: reason.value } : {}) };
      const response = await fetch(`/api/requests/${encodeURIComponent(requestId)}/approve`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      const reply = response.headers.get("Content-Type")?.startsWith("application/json") ? JSON.parse(text) : undefined;
      result.textContent = reply?.ok ? "sent" : `not applied: ${reply?.error?.message ?? text}`;
      if (!reply?.ok) for (const other of item.querySelectorAll("button")) other.disabled = false;
    });
    return b;
  };
  item.append(reason, button("approve", "Approve"), button("deny", "Deny"), result);
  return item;
}

/** A call's bar: its outcome; else running, or waiting to start (permits, an executor) while its request runs. */
function callClass(call, request) {
  if (call.outcome) return call.outcome;
  if (call.startedAt !== undefined) return "running";
  return request.status === "running" ? "waiting" : "cancelled";
}

$("filter").addEventListener("input", renderRows);
$("cancel").addEventListener("click", async () => {
  if (selected) await fetch(`/api/requests/${encodeURIComponent(selected)}/cancel`, { method: "POST" });
});

const events = new EventSource("/api/stream");
events.addEventListener("settings", (message) => {
  approvals = JSON.parse(message.data).approvals === true;
  if (selected) renderDetail();
});
events.addEventListener("open", () => ($("connection").textContent = "live"));
events.addEventListener("error", () => ($("connection").textContent = "reconnecting…"));
events.addEventListener("requests", (message) => {
  for (const view of JSON.parse(message.data)) requests.set(view.requestId, view);
  renderRows();
  renderDetail();
});
setInterval(() => requests.size && (renderRows(), renderDetail()), 1000);

events.addEventListener("cluster", (message) => renderCluster(JSON.parse(message.data)));

/** One table body's rows from arrays of cells; `attributes` sets a row's data attributes. */
function fillTable(id, rows, attributes = () => ({})) {
  $(id).replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      Object.assign(tr.dataset, attributes(row));
      for (const value of row.cells) {
        const td = document.createElement("td");
        if (value instanceof Node) td.append(value);
        else td.textContent = String(value);
        tr.append(td);
      }
      return tr;
    }),
  );
}

/** A scope's use against its capacity over the last reads, as a small line chart. */
function sparkline(samples, capacity) {
  const WIDTH = 160,
    HEIGHT = 28;
  const chart = svg("svg", { width: WIDTH, height: HEIGHT, class: "sparkline", "data-testid": "scope-chart" });
  // The limit as a dashed line at the top; a scope used to its limit draws just under it.
  chart.append(svg("line", { x1: 0, y1: 1, x2: WIDTH, y2: 1, class: "capacity" }));
  if (samples.length > 0) {
    const first = samples[0][0],
      span = Math.max(1, samples.at(-1)[0] - first);
    const points = samples.map(
      ([at, used]) =>
        `${(((at - first) / span) * (WIDTH - 2) + 1).toFixed(1)},${(HEIGHT - 2 - (Math.min(used, capacity) / capacity) * (HEIGHT - 7)).toFixed(1)}`,
    );
    chart.append(svg("polyline", { points: points.join(" "), class: "use" }));
  }
  chart.dataset.samples = String(samples.length);
  return chart;
}

function meter(used, capacity) {
  const span = document.createElement("span");
  span.className = "meter";
  const fill = document.createElement("span");
  fill.style.width = `${Math.min(100, (used / capacity) * 100)}%`;
  if (used >= capacity) fill.className = "full";
  span.append(fill);
  const text = document.createElement("span");
  text.className = "meter-text";
  text.textContent = `${used}/${capacity}`;
  span.append(text);
  return span;
}

function renderCluster(cluster) {
  $("cluster-at").textContent = `read ${new Date(cluster.at).toLocaleTimeString()}`;
  $("no-scopes").hidden = cluster.scopes.length > 0;
  fillTable(
    "scopes",
    cluster.scopes.map((s) => ({
      key: s.key,
      used: s.used,
      waiting: s.waiting,
      cells: [
        s.key,
        s.blockOnly
          ? "none of its own"
          : `${s.limit}${s.burst ? ` (+${s.burst} burst)` : ""} ${s.concurrent ? "at once" : `per ${ms(s.intervalMs)}`}`,
        s.blockOnly ? "—" : meter(s.used, s.capacity),
        sparkline(cluster.history[s.key] ?? [], s.capacity),
        s.waiting,
        s.blockedForMs ? `blocked ${ms(s.blockedForMs)}` : ms(s.oldestWaitMs),
      ],
    })),
    (row) => ({ testid: "scope-row", scope: row.key, used: row.used, waiting: row.waiting }),
  );
  fillTable(
    "services",
    cluster.services.map((service) => ({
      name: service.name,
      copies: service.copies.length,
      cells: [
        service.name,
        service.copies.length,
        service.copies.map((c) => c.actorId ?? c.id).join(", "),
        service.copies.reduce((sum, c) => sum + c.requests, 0),
        service.copies.reduce((sum, c) => sum + c.errors, 0),
      ],
    })),
    (row) => ({ testid: "service-row", service: row.name, copies: row.copies }),
  );
  fillTable(
    "tools",
    cluster.tools.map((tool) => ({
      name: tool.name,
      hosts: tool.hosts.length,
      cells: [tool.name, tool.source, tool.hosts.map((h) => h.executorId).join(", ")],
    })),
    (row) => ({ testid: "tool-row", tool: row.name, hosts: row.hosts }),
  );
  fillTable(
    "consumers",
    cluster.consumers.map((c) => ({
      consumer: `${c.stream}/${c.consumer}`,
      cells: [c.stream, c.consumer, c.pending, c.ackPending, c.redelivered],
    })),
    (row) => ({ testid: "consumer-row", consumer: row.consumer }),
  );
}
