/**
 * The dashboard's server without a browser (the browser suite: npm run test:browser), connected as the
 * viewer role (ADR 0023): what it reads of the cluster, and a cancel, work with that role's rights; an
 * approval needs a second connection that may approve (ADR 0028).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startDashboard, type ClusterView, type Dashboard, type RequestView } from "@toolformer/dashboard";
import type { Scenario } from "@toolformer/fake-llm";
import { ToolformerClient } from "@toolformer/client";
import { ErrorCode, SERVICE_NAMES, tenantRequestId } from "@toolformer/protocol";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { transferTool } from "../support/transfer-tool.ts";

/** One call a minute: the second and third calls of `limited` wait in the scope's line. */
const oncePerMinute = defineTool({
  name: "once_per_minute",
  description: "Echoes, at most once a minute",
  parameters: z.object({ n: z.number() }),
  idempotent: true,
  rateLimit: { limit: 1, intervalMs: 60_000 },
  run: ({ n }) => Promise.resolve({ n }),
});
const limited: Scenario = (conversation) =>
  conversation.messages.some((m) => m.role === "tool")
    ? { text: "done" }
    : { toolCalls: [1, 2, 3].map((n) => ({ id: `c${n}`, name: "once_per_minute", arguments: { n } })) };

/** A model that thinks long enough to be cancelled. */
const slow: Scenario = () => ({ text: "too late", timeToFirstTokenMs: 30_000 });
const { tool: transfer, transfers } = transferTool();

/** Reads `/api/cluster` until `done` says it shows what the test waits for. */
async function untilCluster(url: string, done: (view: ClusterView) => boolean): Promise<ClusterView> {
  const giveUpAt = Date.now() + 20_000;
  for (;;) {
    const view = (await (await fetch(`${url}api/cluster`)).json()) as ClusterView;
    if (done(view)) return view;
    if (Date.now() > giveUpAt) throw new Error(`the cluster never showed it: ${JSON.stringify(view)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Reads the server-sent `requests` frames until one shows `requestId` as `shows` waits for. */
async function untilShown(url: string, requestId: string, shows: (view: RequestView) => boolean): Promise<RequestView> {
  const found = await untilFrame(url, "requests", (views: RequestView[]) =>
    views.find((v) => v.requestId === requestId && shows(v)),
  );
  return found;
}

/** Reads the server-sent frames of `event` until `pick` finds what the test waits for in one. */
async function untilFrame<T, R>(url: string, event: string, pick: (data: T) => R | undefined): Promise<R> {
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended");
      buffered += value;
      const frames = buffered.split("\n\n");
      buffered = frames.pop()!;
      for (const frame of frames) {
        if (!frame.startsWith(`event: ${event}\n`)) continue;
        const data = frame.split("\n").find((line) => line.startsWith("data: "));
        const found = pick(JSON.parse(data!.slice("data: ".length)) as T);
        if (found !== undefined) return found;
      }
    }
  } finally {
    await reader.cancel();
  }
}

describe("the dashboard's server", () => {
  let env: TestEnvironment;
  let dashboard: Dashboard;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, oncePerMinute, transfer],
      waitForTools: ["echo", "once_per_minute", "transfer"],
      scenarios: {
        limited,
        payday: {
          turns: [
            {
              toolCalls: [
                { id: "big", name: "transfer", arguments: { to: "mallory", amount: 900 } },
                { id: "small", name: "transfer", arguments: { to: "cat", amount: 10 } },
              ],
            },
            { text: "paid" },
          ],
        },
      },
    });
    dashboard = await startDashboard({ nc: await env.nats.connect("viewer") });
  });
  afterAll(async () => {
    await dashboard?.close();
    await env?.[Symbol.asyncDispose]();
  });

  it("streams a request's view, built from its events, to the page", async () => {
    const id = `dash-${Date.now()}`;
    const shown = untilShown(`${dashboard.url}api/stream`, id, (v) => v.status === "completed");
    const reply = await env.client.request({ id, prompt: "What is 21*2?", model: "fake:demo" });
    expect(reply.status).toBe("completed");
    const view = await shown;
    expect(view).toMatchObject({ model: "fake:demo", rounds: 2 });
    expect(view.calls.map((c) => c.tool).sort()).toEqual(["calculator", "get_weather", "get_weather"]);
    expect(view.calls.every((c) => c.outcome === "completed")).toBe(true);
  });

  it("shows the actor copies, the tools and their hosts, and the consumers' lag", async () => {
    const view = await untilCluster(dashboard.url, (v) => v.services.length >= 5);
    const copies = Object.fromEntries(view.services.map((s) => [s.name, s.copies.length]));
    for (const service of Object.values(SERVICE_NAMES)) expect(copies[service], service).toBe(1);
    const executor = view.services.find((s) => s.name === SERVICE_NAMES.executor)!.copies[0]!;
    expect(view.tools.find((t) => t.name === "echo")?.hosts.map((h) => h.executorId)).toEqual([executor.actorId]);
    const consumers = view.consumers.map((c) => `${c.stream}/${c.consumer}`);
    expect(consumers).toEqual(expect.arrayContaining(["TF_REQUESTS/dispatcher", "TF_EXEC/exec_once_per_minute"]));
  });

  it("shows a scope's use against its limit and its waiting line, and cancels as the viewer", async () => {
    const id = `dash-limited-${Date.now()}`;
    const replying = env.client.request({
      id,
      prompt: "three calls",
      model: "fake:limited",
      tools: ["once_per_minute"],
      options: { timeoutMs: 120_000 },
    });
    const view = await untilCluster(dashboard.url, (v) =>
      v.scopes.some((s) => s.key === "tool:once_per_minute" && s.used === 1 && s.waiting >= 1),
    );
    expect(view.scopes.find((s) => s.key === "tool:once_per_minute")).toMatchObject({
      limit: 1,
      intervalMs: 60_000,
      capacity: 1,
    });
    const cancelled = await fetch(`${dashboard.url}api/requests/${id}/cancel`, { method: "POST" });
    expect(cancelled.status).toBe(202);
    expect((await replying).status).toBe("cancelled");
    await untilCluster(dashboard.url, (v) => v.scopes.find((s) => s.key === "tool:once_per_minute")?.waiting === 0);
  });

  it("shows a call that waits for approval, and lets only a dashboard given an approver decide on it", async () => {
    const withApprover = await startDashboard({
      nc: await env.nats.connect("viewer"),
      approver: await env.nats.connect("client"),
    });
    try {
      const settingsOf = (url: string) => untilFrame(`${url}api/stream`, "settings", (s: { approvals: boolean }) => s);
      expect(await settingsOf(dashboard.url)).toEqual({ approvals: false });
      expect(await settingsOf(withApprover.url)).toEqual({ approvals: true });

      const id = `dash-approval-${Date.now()}`;
      const replying = env.client.request({ id, prompt: "pay", model: "fake:payday", tools: ["transfer"] });
      const waiting = await untilShown(`${withApprover.url}api/stream`, id, (v) =>
        v.calls.some((c) => c.callId === "big" && c.approval !== undefined),
      );
      expect(waiting.calls.find((c) => c.callId === "big")).toMatchObject({
        args: { to: "mallory", amount: 900 },
        approval: { requestedAt: expect.any(Number), expiresAt: expect.any(Number) },
      });
      const decide = (url: string, body: unknown) =>
        fetch(`${url}api/requests/${id}/approve`, { method: "POST", body: JSON.stringify(body) });
      const deny = { callId: "big", decision: "deny", reason: "not a supplier" };
      // The viewer's dashboard may not decide; nor may a body off the protocol.
      expect((await decide(dashboard.url, deny)).status).toBe(403);
      expect((await decide(withApprover.url, { callId: "big", decision: "maybe" })).status).toBe(400);
      const denied = await decide(withApprover.url, deny);
      expect(denied.status).toBe(200);
      expect(await denied.json()).toEqual({ ok: true, callId: "big", decision: "deny" });
      const again = await decide(withApprover.url, { callId: "big", decision: "approve" });
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ ok: false, error: { code: ErrorCode.APPROVAL_NOT_PENDING } });

      const reply = await replying;
      expect(reply.toolCalls.map((c) => [c.id, c.status, c.error?.code])).toEqual([
        ["big", "failed", ErrorCode.APPROVAL_DENIED],
        ["small", "succeeded", undefined],
      ]);
      expect(transfers.map((t) => t.callId)).toEqual(["small"]);
      const decided = await untilShown(`${withApprover.url}api/stream`, id, (v) => v.status === "completed");
      expect(decided.calls.find((c) => c.callId === "big")?.approval).toMatchObject({
        decision: "denied",
        reason: "not a supplier",
        edited: false,
      });
    } finally {
      await withApprover.close();
    }
  });

  it("refuses a cancel for what is not a request id, and a port that is taken", async () => {
    const refused = await fetch(`${dashboard.url}api/requests/${encodeURIComponent("a b")}/cancel`, { method: "POST" });
    expect(refused.status).toBe(400);
    const port = Number(new URL(dashboard.url).port);
    await expect(startDashboard({ nc: env.admin, port })).rejects.toMatchObject({ code: "EADDRINUSE" });
  });
});

describe("the dashboard with tenant accounts", () => {
  let env: TestEnvironment;
  let dashboard: Dashboard;
  let acme: ToolformerClient;
  beforeAll(async () => {
    env = await startEnvironment({ tenants: ["acme"], scenarios: { slow } });
    acme = new ToolformerClient(await env.nats.connect({ tenant: "acme" }));
    // One viewer for the whole orchestrator, in its own account (ADR 0023).
    dashboard = await startDashboard({ nc: await env.nats.connect("viewer") });
  });
  afterAll(async () => {
    await dashboard?.close();
    await acme?.close();
    await env?.[Symbol.asyncDispose]();
  });

  it("shows a tenant's request with its tenant, and cancels it", async () => {
    const id = `tenant-dash-${Date.now()}`;
    const qualified = tenantRequestId("acme", id);
    const shown = untilShown(`${dashboard.url}api/stream`, qualified, (v) => v.status === "running");
    const replying = acme.request({ id, prompt: "wait", model: "fake:slow" });
    expect(await shown).toMatchObject({ tenant: "acme", model: "fake:slow" });
    const cancelled = await fetch(`${dashboard.url}api/requests/${encodeURIComponent(qualified)}/cancel`, {
      method: "POST",
    });
    expect(cancelled.status).toBe(202);
    expect(await replying).toMatchObject({ id, status: "cancelled" });
  });
});
