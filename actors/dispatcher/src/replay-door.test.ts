import { describe, expect, it } from "vitest";
import { OrchestrateRequestSchema, RecordedRequestSchema, RequestRunSchema } from "@toolformer/protocol";
import { replayRun } from "./replay-door.ts";

const recorded = RecordedRequestSchema.parse({
  id: "order-1",
  model: "openai:gpt-x",
  tools: ["lookup"],
  options: { timeoutMs: 30_000, priority: 7, speculation: true, cache: true, strategy: "sequential" },
});
const at = { replyTo: "_INBOX.a.1", now: 1_000, traceparent: "00-1-2-01" };

describe("a replay's run", () => {
  it("is a request of its own with the recorded tools and options, but neither speculation nor the result cache", () => {
    const run = replayRun("order-1", recorded, at, "replay_1");
    expect(run).toMatchObject({
      requestId: "replay_1",
      replayOf: "order-1",
      deadline: 31_000,
      request: {
        id: "replay_1",
        model: "openai:gpt-x",
        tools: ["lookup"],
        options: { priority: 7, strategy: "sequential", speculation: false, cache: false },
      },
    });
    expect(RequestRunSchema.parse(run)).toEqual(run);
    // A dispatcher of an earlier release read the request as a client's: it refuses a replay's.
    expect(OrchestrateRequestSchema.safeParse(run.request).success).toBe(false);
  });

  it("is its tenant's request when the replayed one is", () => {
    expect(replayRun("@acme.order-1", recorded, at, "replay_1").requestId).toBe("@acme.replay_1");
  });
});
