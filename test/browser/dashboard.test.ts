/**
 * The dashboard in a real browser (Debian's chromium, headless, through playwright-core) against the
 * real stack, connected as the viewer role: the rows it lists, a `$ref` plan drawn as bars in
 * dependency order, a request cancelled from the page, a rate-limit scope's use and waiting line, the
 * cluster, and calls that wait for approval, decided from the page of a dashboard given an approver
 * (ADR 0028), beside a result from the cache. Screenshots go to docs/dashboard/, which
 * docs/dashboard.md shows.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { startDashboard, type Dashboard } from "@toolformer/dashboard";
import type { NormalizedConversation, Scenario } from "@toolformer/fake-llm";
import { defineTool, EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { quoteTools } from "../support/quote-tools.ts";
import { transferTool } from "../support/transfer-tool.ts";

const SCREENSHOTS = join(import.meta.dirname, "..", "..", "docs", "dashboard");
const CHROMIUM = [process.env.CHROMIUM_BIN, "/usr/lib/chromium/chromium", "/usr/bin/chromium"].find(
  (path) => path !== undefined && existsSync(path),
);

const pausedAdd = defineTool({
  name: "paused_add",
  description: "Adds two numbers after a pause",
  parameters: z.object({ a: z.number(), b: z.number() }),
  idempotent: true,
  async run({ a, b }, ctx) {
    await sleep(250, undefined, { signal: ctx.signal });
    return { sum: a + b };
  },
});

/** A plan of four calls: two at once, then one on both results, then one on that. */
const plan: Scenario = (conversation: NormalizedConversation) =>
  conversation.messages.some((m) => m.role === "tool")
    ? { text: "done: 16" }
    : {
        toolCalls: [
          { id: "a", name: "paused_add", arguments: { a: 1, b: 2 } },
          { id: "b", name: "paused_add", arguments: { a: 3, b: 4 } },
          { id: "c", name: "paused_add", arguments: { a: { $ref: "a#/sum" }, b: { $ref: "b#/sum" } } },
          { id: "d", name: "paused_add", arguments: { a: { $ref: "c#/sum" }, b: 6 } },
        ],
      };
/** One call a minute: the second and third calls of `limited` wait in the scope's line. */
const oncePerMinute = defineTool({
  name: "once_per_minute",
  description: "Echoes, at most once a minute",
  parameters: z.object({ n: z.number() }),
  idempotent: true,
  rateLimit: { limit: 1, intervalMs: 60_000 },
  run: ({ n }) => Promise.resolve({ n }),
});
const limited: Scenario = (conversation: NormalizedConversation) =>
  conversation.messages.some((m) => m.role === "tool")
    ? { text: "done" }
    : { toolCalls: [1, 2, 3].map((n) => ({ id: `c${n}`, name: "once_per_minute", arguments: { n } })) };
/** A model that thinks long enough to be cancelled from the page. */
const slow: Scenario = () => ({ text: "too late", timeToFirstTokenMs: 30_000 });
const { tool: transfer, transfers } = transferTool();
const quote = quoteTools().tools.find((tool) => tool.name === "quote")!;
const quoteCall = { id: "q", name: "quote", arguments: { symbol: "PAGE" } };
/** Two transfers that wait for approval, one that runs at once, and a quote the cache answers. */
const payday: Scenario = (conversation: NormalizedConversation) =>
  conversation.messages.some((m) => m.role === "tool")
    ? { text: "paid" }
    : {
        toolCalls: [
          { id: "big_a", name: "transfer", arguments: { to: "ann", amount: 500 } },
          { id: "big_b", name: "transfer", arguments: { to: "mallory", amount: 900 } },
          { id: "small", name: "transfer", arguments: { to: "cat", amount: 10 } },
          quoteCall,
        ],
      };
const quoteOnce: Scenario = (conversation: NormalizedConversation) =>
  conversation.messages.some((m) => m.role === "tool") ? { text: "quoted" } : { toolCalls: [quoteCall] };

describe("the dashboard in a browser", () => {
  let env: TestEnvironment;
  let dashboard: Dashboard;
  let approving: Dashboard;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    if (!CHROMIUM) throw new Error("no chromium: apt-get install -y chromium, or set CHROMIUM_BIN");
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, pausedAdd, oncePerMinute, transfer, quote],
      waitForTools: ["paused_add", "once_per_minute", "transfer", "quote"],
      scenarios: { plan, slow, limited, payday, quoteOnce },
    });
    dashboard = await startDashboard({ nc: await env.nats.connect("viewer"), clusterEveryMs: 500 });
    approving = await startDashboard({
      nc: await env.nats.connect("viewer"),
      approver: await env.nats.connect("client"),
      clusterEveryMs: 500,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    await page.goto(dashboard.url);
    await page.getByTestId("connection").filter({ hasText: "live" }).waitFor();
  });
  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    await approving?.close();
    await env?.[Symbol.asyncDispose]();
  });

  const row = (requestId: string) => page.locator(`tr[data-request-id="${requestId}"]`);

  it("lists a finished request and draws its $ref plan as bars in dependency order", async () => {
    const id = `plan-${Date.now()}`;
    const reply = await env.client.request({ id, prompt: "plan", model: "fake:plan", tools: ["paused_add"] });
    expect(reply.status).toBe("completed");

    await row(id).filter({ hasText: "completed" }).waitFor();
    await expect(row(id).locator("td").nth(2).textContent()).resolves.toBe("fake:plan");
    await row(id).click();
    const bars = page.locator('rect[data-testid="call-bar"]');
    await expect.poll(() => bars.count()).toBe(4);
    const span = async (callId: string) => {
      const bar = page.locator(`rect[data-call-id="${callId}"]`);
      return { start: Number(await bar.getAttribute("data-start")), end: Number(await bar.getAttribute("data-end")) };
    };
    const [a, b, c, d] = await Promise.all(["a", "b", "c", "d"].map(span));
    // Each call starts after the calls it takes results from ended.
    expect(c!.start).toBeGreaterThanOrEqual(Math.max(a!.end, b!.end));
    expect(d!.start).toBeGreaterThanOrEqual(c!.end);
    const arrows = await page
      .locator("line.dependency")
      .evaluateAll((lines) =>
        lines.map((line) => `${line.getAttribute("data-from")}->${line.getAttribute("data-to")}`).sort(),
      );
    expect(arrows).toEqual(["a->c", "b->c", "c->d"]);
    await expect.poll(() => page.locator('rect[data-testid="turn-bar"]').count()).toBe(2);

    await page.locator('rect[data-call-id="c"]').click();
    await expect(page.getByTestId("call").textContent()).resolves.toContain('"sum": 10');
    await page.screenshot({ path: join(SCREENSHOTS, "timeline.png"), fullPage: true });
  });

  it("cancels a running request from the page", async () => {
    const id = `slow-${Date.now()}`;
    const replying = env.client.request({ id, prompt: "wait", model: "fake:slow" });
    await row(id).filter({ hasText: "running" }).waitFor();
    await row(id).click();
    await page.getByTestId("cancel").click();
    const reply = await replying;
    expect(reply.status).toBe("cancelled");
    await page.getByTestId("detail-status").filter({ hasText: "cancelled" }).waitFor();
    await expect(row(id).locator("td").nth(3).textContent()).resolves.toBe("cancelled");
    await page.screenshot({ path: join(SCREENSHOTS, "cancelled.png"), fullPage: true });
  });

  it("shows a rate-limit scope's use against its limit over time and its waiting line, and the cluster", async () => {
    const id = `limited-${Date.now()}`;
    const replying = env.client.request({
      id,
      prompt: "three calls",
      model: "fake:limited",
      tools: ["once_per_minute"],
      options: { timeoutMs: 120_000 },
    });
    const scope = page.locator('tr[data-scope="tool:once_per_minute"]');
    await expect.poll(() => scope.getAttribute("data-used"), { timeout: 20_000 }).toBe("1");
    await expect
      .poll(async () => Number(await scope.getAttribute("data-waiting")), { timeout: 20_000 })
      .toBeGreaterThan(0);
    await expect(scope.locator("td").nth(1).textContent()).resolves.toBe("1 per 60.0 s");
    await expect(scope.locator(".meter-text").textContent()).resolves.toBe("1/1");
    // Use over time: one sample per read of the cluster, drawn as a line.
    const chart = scope.getByTestId("scope-chart");
    await expect
      .poll(async () => Number(await chart.getAttribute("data-samples")), { timeout: 20_000 })
      .toBeGreaterThan(2);
    await expect(chart.locator("polyline").count()).resolves.toBe(1);

    const services = page.locator('tr[data-testid="service-row"]');
    await expect.poll(() => services.count()).toBe(5);
    await expect(
      services.evaluateAll((rows) =>
        rows.map((row) => `${row.getAttribute("data-service")}=${row.getAttribute("data-copies")}`),
      ),
    ).resolves.toEqual(
      expect.arrayContaining([
        "toolformer-dispatcher=1",
        "toolformer-scheduler=1",
        "toolformer-rate-limiter=1",
        "toolformer-speculation=1",
        "toolformer-executor=1",
      ]),
    );
    const host = page.locator('tr[data-tool="paused_add"]');
    await expect(host.getAttribute("data-hosts")).resolves.toBe("1");
    await expect(host.locator("td").nth(2).textContent()).resolves.toMatch(/^executor-/);
    await page.locator('tr[data-consumer="TF_EXEC/exec_once_per_minute"]').waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "cluster.png"), fullPage: true });

    // On the request's timeline: the call that got the permit ran after its wait, and the two others
    // are drawn waiting to start.
    await row(id).click();
    await expect.poll(() => page.locator("rect.bar.waiting").count(), { timeout: 20_000 }).toBe(2);
    await expect(page.locator('rect[data-testid="wait-bar"]').count()).resolves.toBeLessThanOrEqual(1);
    await page.screenshot({ path: join(SCREENSHOTS, "waiting.png"), fullPage: true });

    await env.client.cancel(id);
    expect((await replying).status).toBe("cancelled");
    await expect.poll(() => scope.getAttribute("data-waiting"), { timeout: 20_000 }).toBe("0");
  });

  it("shows calls that wait for approval, decides on them from an approver's page only, and marks a cached result", async () => {
    await env.client.request({ prompt: "warm the cache", model: "fake:quoteOnce", tools: ["quote"] });
    const id = `payday-${Date.now()}`;
    const replying = env.client.request({ id, prompt: "pay", model: "fake:payday", tools: ["transfer", "quote"] });

    // The viewer's dashboard shows the waiting calls, and how to decide, but offers no decision.
    await row(id).filter({ hasText: "running (2 awaiting approval)" }).waitFor();
    await row(id).click();
    await expect.poll(() => page.getByTestId("approval-item").count()).toBe(2);
    await expect(page.getByTestId("approve").count()).resolves.toBe(0);
    await expect(page.getByTestId("approval-read-only").first().textContent()).resolves.toBe(
      `read-only: toolformer approve ${id} big_a [--deny]`,
    );
    const waitingBars = page.locator('rect[data-testid="approval-bar"][data-decision="awaiting"]');
    await expect.poll(() => waitingBars.count()).toBe(2);

    // The approver's page decides: a denial with its reason, an approval.
    const approver = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    try {
      await approver.goto(approving.url);
      await approver.locator(`tr[data-request-id="${id}"]`).click();
      const item = (callId: string) => approver.locator(`[data-testid="approval-item"][data-call-id="${callId}"]`);
      await item("big_b").getByTestId("approval-reason").fill("not a supplier");
      await approver.screenshot({ path: join(SCREENSHOTS, "approval.png"), fullPage: true });
      await item("big_b").getByTestId("deny").click();
      await expect.poll(() => item("big_b").count()).toBe(0);
      await item("big_a").getByTestId("approve").click();

      const reply = await replying;
      expect(reply.toolCalls.map((call) => [call.id, call.status, call.error?.code, call.cached ?? false])).toEqual([
        ["big_a", "succeeded", undefined, false],
        ["big_b", "failed", "APPROVAL_DENIED", false],
        ["small", "succeeded", undefined, false],
        ["q", "succeeded", undefined, true],
      ]);
      expect(transfers.map((t) => t.callId).sort()).toEqual(["big_a", "small"]);
      // The decisions and the cached result on the timeline.
      const note = (callId: string) => approver.locator(`text[data-testid="call-note"][data-call-id="${callId}"]`);
      await expect.poll(() => note("big_a").textContent()).toBe("approved");
      await expect.poll(() => note("big_b").textContent()).toBe("denied: not a supplier");
      await expect.poll(() => note("q").textContent()).toBe("cached");
      const decisions = await approver
        .locator('rect[data-testid="approval-bar"]')
        .evaluateAll((bars) =>
          bars.map((bar) => `${bar.getAttribute("data-call-id")}=${bar.getAttribute("data-decision")}`),
        );
      expect(decisions.sort()).toEqual(["big_a=approved", "big_b=denied"]);
      await expect(approver.locator('rect[data-call-id="q"]').getAttribute("data-cached")).resolves.toBe("true");
      await expect(approver.getByTestId("approvals").isHidden()).resolves.toBe(true);
      await approver.screenshot({ path: join(SCREENSHOTS, "approval-decided.png"), fullPage: true });
    } finally {
      await approver.close();
    }
  });

  it("filters the list", async () => {
    await page.getByTestId("filter").fill("slow-");
    await expect.poll(() => page.locator("tr[data-request-id]").count()).toBe(1);
    await page.getByTestId("filter").fill("");
  });
});
