import { describe, expect, it } from "vitest";
import { eventForRecord as eventOf, EventType, type ExecCall } from "@toolformer/protocol";
import { recordOf } from "./outcome.ts";

const call: ExecCall = {
  requestId: "r1",
  callId: "c1",
  round: 2,
  tool: "echo",
  args: { value: 1 },
  attempt: 1,
  deadline: 10_000,
  traceparent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01",
  priority: 5,
  tenant: "default",
  speculative: false,
  extraScopes: [],
};

describe("recordOf / eventForRecord", () => {
  it("reports a success with its duration and result", () => {
    const record = recordOf(call, { kind: "succeeded", result: 42 }, 1_000, 1_250);
    expect(record).toMatchObject({ id: "c1", status: "succeeded", result: 42, durationMs: 250, round: 2 });
    expect(eventOf("r1", record)).toMatchObject({ type: EventType.toolCompleted, result: 42, durationMs: 250 });
  });

  it("gives a call that never started no start time and a zero duration", () => {
    const record = recordOf(call, { kind: "cancelled", message: "cancelled by client" }, null, 5_000);
    expect(record).toMatchObject({ status: "cancelled", startedAt: null, durationMs: 0, error: { code: "CANCELLED" } });
    expect(eventOf("r1", record).type).toBe(EventType.toolCancelled);
  });

  it("reports timeouts and failures as tool.failed with the status", () => {
    const timeout = recordOf(call, { kind: "timeout", message: "too slow" }, 1, 2);
    expect(eventOf("r1", timeout)).toMatchObject({
      type: EventType.toolFailed,
      status: "timeout",
      error: { code: "TIMEOUT" },
    });
    const failed = recordOf(call, { kind: "failed", error: { code: "TOOL_FAILED", message: "boom" } }, 1, 2);
    expect(eventOf("r1", failed)).toMatchObject({
      type: EventType.toolFailed,
      status: "failed",
      error: { message: "boom" },
    });
  });
});
