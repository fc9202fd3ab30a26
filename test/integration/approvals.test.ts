import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnActors, waitForActors, type ActorProcesses } from "@toolformer/cli";
import { ToolformerClient } from "@toolformer/client";
import { dispatcherActor } from "@toolformer/dispatcher";
import { ErrorCode, EventType, type OrchestrateEvent } from "@toolformer/protocol";
import { schedulerActor } from "@toolformer/scheduler";
import { EXAMPLE_TOOLS } from "@toolformer/tools";
import { startEnvironment, type TestEnvironment } from "../support/environment.ts";
import { transferTool } from "../support/transfer-tool.ts";

const { tool: transfer, transfers } = transferTool();
const { tool: timedTransfer } = transferTool({ name: "timed_transfer", approvalTimeoutMs: 1_500 });

const big = (id: string, to: string, amount: number) => ({ id, name: "transfer", arguments: { to, amount } });

/** Follows a request's events, keeping every one, until `until` holds for what was seen. */
async function eventsUntil(
  env: TestEnvironment,
  requestId: string,
  until: (seen: OrchestrateEvent[]) => boolean,
): Promise<OrchestrateEvent[]> {
  const seen: OrchestrateEvent[] = [];
  const stop = new AbortController();
  for await (const event of env.client.events(requestId, stop.signal)) {
    seen.push(event);
    if (until(seen)) break;
  }
  stop.abort();
  return seen;
}

const ofType = (seen: OrchestrateEvent[], type: OrchestrateEvent["type"]) => seen.filter((e) => e.type === type);

describe("calls that wait for approval", () => {
  let env: TestEnvironment;
  let killable: ActorProcesses;
  beforeAll(async () => {
    env = await startEnvironment({
      tools: [...EXAMPLE_TOOLS, transfer, timedTransfer],
      copies: { dispatcher: 0, scheduler: 0 },
      waitForTools: [],
      scenarios: {
        payday: {
          turns: [
            {
              toolCalls: [
                big("small_a", "ann", 10),
                big("large_b", "bob", 500),
                big("small_c", "cat", 20),
                big("large_d", "dan", 900),
                big("small_e", "eve", 30),
              ],
            },
            { text: "paid" },
          ],
        },
        refused: {
          turns: [
            {
              toolCalls: [
                { id: "denied", name: "timed_transfer", arguments: { to: "mallory", amount: 1_000 } },
                { id: "unanswered", name: "timed_transfer", arguments: { to: "trent", amount: 2_000 } },
              ],
            },
            { text: "understood" },
          ],
        },
      },
    });
    // The dispatcher and scheduler that will be killed run as processes of their own, so they can die hard.
    killable = spawnActors(
      { dispatcher: 1, scheduler: 1 },
      { ...process.env, NATS_URL: env.natsUrl, LOG_LEVEL: "error", FAKE_LLM_URL: env.fake.url },
      { output: "ignore", credentials: env.nats.credentials },
    );
    await waitForActors(env.natsUrl, { dispatcher: 1, scheduler: 1 }, 20_000, env.nats.credentials("admin"));
  }, 60_000);
  afterAll(async () => {
    await killable?.stop();
    await env?.[Symbol.asyncDispose]();
  });

  it("suspends only the calls that need it, through a dispatcher's and a scheduler's death, and applies each decision to its own call", async () => {
    const id = `payday-${Date.now()}`;
    const reply = env.client.request({
      id,
      prompt: "pay everyone",
      model: "fake:payday",
      tools: ["transfer"],
      options: { timeoutMs: 90_000 },
    });
    // The three small transfers finish while the two large ones wait.
    const before = await eventsUntil(
      env,
      id,
      (seen) =>
        ofType(seen, EventType.toolAwaitingApproval).length === 2 && ofType(seen, EventType.toolCompleted).length === 3,
    );
    expect(
      ofType(before, EventType.toolAwaitingApproval)
        .map((e) => e.type === EventType.toolAwaitingApproval && e.callId)
        .sort(),
    ).toEqual(["large_b", "large_d"]);
    expect(
      ofType(before, EventType.toolCompleted)
        .map((e) => "callId" in e && e.callId)
        .sort(),
    ).toEqual(["small_a", "small_c", "small_e"]);
    expect(transfers.map((t) => t.callId).sort()).toEqual(["small_a", "small_c", "small_e"]);

    for (const { pid } of killable.pids()) process.kill(pid, "SIGKILL");
    await env.stack.add(schedulerActor({ maxConcurrentRounds: 1000 }));
    await env.stack.add(
      dispatcherActor({
        maxConcurrentRequests: 1000,
        fakeLlmUrl: env.fake.url,
        modelLimits: {},
        speculationDefault: "off",
        tenantPolicies: {},
      }),
    );

    // In the reverse of the model's order; the second with other arguments than the model's.
    expect(await env.client.approve(id, { callId: "large_d", decision: "approve", reason: "payroll" })).toEqual({
      ok: true,
      callId: "large_d",
      decision: "approve",
    });
    const edited = await env.client.approve(id, {
      callId: "large_b",
      decision: "approve",
      args: { to: "bob", amount: 250 },
    });
    expect(edited.ok).toBe(true);
    // A decision sent again is not applied again.
    const again = await env.client.approve(id, { callId: "large_b", decision: "deny" });
    expect(again).toMatchObject({ ok: false, error: { code: ErrorCode.APPROVAL_NOT_PENDING } });

    const answered = await reply;
    expect(answered.status).toBe("completed");
    expect(answered.answer).toBe("paid");
    expect(answered.toolCalls.map((call) => [call.id, call.status])).toEqual([
      ["small_a", "succeeded"],
      ["large_b", "succeeded"],
      ["small_c", "succeeded"],
      ["large_d", "succeeded"],
      ["small_e", "succeeded"],
    ]);
    // The tool's own record: each large transfer ran once, with the arguments approved for it.
    const large = transfers.filter((t) => t.callId.startsWith("large_"));
    expect(large.sort((a, b) => a.callId.localeCompare(b.callId))).toEqual([
      { callId: "large_b", to: "bob", amount: 250 },
      { callId: "large_d", to: "dan", amount: 900 },
    ]);
    const decided = ofType(
      await eventsUntil(env, id, (seen) => seen.at(-1)?.type === EventType.requestCompleted),
      EventType.toolApprovalDecided,
    );
    expect(
      decided.map((e) => e.type === EventType.toolApprovalDecided && [e.callId, e.decision, e.edited]).sort(),
    ).toEqual([
      ["large_b", "approved", true],
      ["large_d", "approved", false],
    ]);
  }, 120_000);

  it("tells the model a denial's reason as the call's error, and fails a call no one decides in time", async () => {
    const id = `refused-${Date.now()}`;
    const reply = env.client.request({
      id,
      prompt: "pay mallory and trent",
      model: "fake:refused",
      tools: ["timed_transfer"],
      options: { timeoutMs: 60_000 },
    });
    await eventsUntil(env, id, (seen) => ofType(seen, EventType.toolAwaitingApproval).length === 2);
    expect(
      await env.client.approve(id, { callId: "denied", decision: "deny", reason: "mallory is not a supplier" }),
    ).toMatchObject({ ok: true });

    const answered = await reply;
    expect(answered.status).toBe("completed");
    const [denied, unanswered] = answered.toolCalls;
    expect(denied).toMatchObject({ id: "denied", status: "failed", error: { code: ErrorCode.APPROVAL_DENIED } });
    expect(denied?.error?.message).toContain("mallory is not a supplier");
    expect(unanswered).toMatchObject({
      id: "unanswered",
      status: "timeout",
      error: { code: ErrorCode.TIMEOUT },
      startedAt: null,
    });
    // What the model was told in its next turn.
    const told = env.fake.received.filter((r) => r.scenario === "refused").at(-1);
    const toolMessages = told?.conversation.messages.filter((m) => m.role === "tool") ?? [];
    const deniedMessage = toolMessages.find((m) => m.role === "tool" && m.callId === "denied");
    expect(deniedMessage).toMatchObject({ isError: true });
    expect(deniedMessage?.role === "tool" && deniedMessage.content).toContain("mallory is not a supplier");
    // A decision after the timeout changes nothing.
    expect(await env.client.approve(id, { callId: "unanswered", decision: "approve" })).toMatchObject({ ok: false });
  }, 90_000);
});

describe("approvals from tenant accounts", () => {
  const { tool: tenantTransfer, transfers: tenantTransfers } = transferTool();
  let env: TestEnvironment;
  let acme: ToolformerClient;
  let globex: ToolformerClient;
  beforeAll(async () => {
    env = await startEnvironment({
      tenants: ["acme", "globex"],
      tools: [...EXAMPLE_TOOLS, tenantTransfer],
      waitForTools: ["transfer"],
      scenarios: { one: { turns: [{ toolCalls: [big("large", "zoe", 300)] }, { text: "done" }] } },
    });
    acme = new ToolformerClient(await env.nats.connect({ tenant: "acme" }));
    globex = new ToolformerClient(await env.nats.connect({ tenant: "globex" }));
  }, 60_000);
  afterAll(async () => {
    await acme?.close().catch(() => undefined);
    await globex?.close().catch(() => undefined);
    await env?.[Symbol.asyncDispose]();
  });

  it("a tenant approves its own request's calls, and another tenant's approval of the same id reaches nothing", async () => {
    const id = `tenant-${Date.now()}`;
    const reply = acme.request({ id, prompt: "pay zoe", model: "fake:one", tools: ["transfer"] });
    for await (const event of acme.events(id)) if (event.type === EventType.toolAwaitingApproval) break;
    // The same id from globex names globex's request, which has no waiting call.
    expect(await globex.approve(id, { callId: "large", decision: "approve" })).toMatchObject({
      ok: false,
      error: { code: ErrorCode.APPROVAL_NOT_PENDING },
    });
    expect(tenantTransfers).toEqual([]);
    expect(await acme.approve(id, { callId: "large", decision: "approve" })).toMatchObject({ ok: true });
    expect((await reply).toolCalls.map((call) => [call.id, call.status])).toEqual([["large", "succeeded"]]);
    expect(tenantTransfers.map((t) => t.callId)).toEqual(["large"]);
  }, 60_000);
});
