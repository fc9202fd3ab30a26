import { describe as group, expect, it } from "vitest";
import { EventType } from "@toolformer/protocol";
import { describe } from "./run.ts";

const call = { requestId: "r1", tool: "transfer", round: 1, callId: "big" };

group("the lines of run and watch", () => {
  it("show a call that waits for approval with how to decide, its decision, and a result from the cache", () => {
    expect(
      describe({ type: EventType.toolAwaitingApproval, ...call, at: 1_000, args: { amount: 500 }, expiresAt: 61_000 }),
    ).toBe(
      '  ? transfer [big] awaiting approval (expires in 60 s): {"amount":500}; toolformer approve r1 big [--deny]',
    );
    expect(
      describe({ type: EventType.toolApprovalDecided, ...call, at: 2_000, decision: "approved", edited: true }),
    ).toBe("  * transfer [big] approved with edited arguments");
    expect(
      describe({
        type: EventType.toolApprovalDecided,
        ...call,
        at: 2_000,
        decision: "denied",
        reason: "no",
        edited: false,
      }),
    ).toBe("  * transfer [big] denied: no");
    expect(
      describe({
        type: EventType.toolCompleted,
        ...call,
        tool: "quote",
        at: 3_000,
        durationMs: 0,
        result: 1,
        cached: true,
      }),
    ).toBe("  < quote [big] 0 ms (cached): 1");
  });
});
