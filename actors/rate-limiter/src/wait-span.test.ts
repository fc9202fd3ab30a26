import { describe, expect, it } from "vitest";
import { waitSpanEnd, waitSpanStart } from "./wait-span.ts";

describe("a permit wait's span attributes", () => {
  it("names the request, the call, what it is for and every scope it waits under", () => {
    const scope = (key: string) => ({ key, limit: 1, intervalMs: 1000 });
    const start = waitSpanStart({
      requestId: "r1",
      callId: "c1",
      target: { kind: "tool", name: "search" },
      scopes: [scope("tool:search"), scope("tenant:acme")],
      priority: 5,
      confirm: false,
    });
    expect(start).toEqual({
      "toolformer.request.id": "r1",
      "toolformer.call.id": "c1",
      "toolformer.ratelimit.target": "tool:search",
      "toolformer.ratelimit.scopes": ["tool:search", "tenant:acme"],
      "toolformer.ratelimit.priority": 5,
      "toolformer.ratelimit.confirm": false,
    });
  });

  it("says how long it waited, and for a refusal why and on which scope", () => {
    expect(waitSpanEnd({ granted: true, heldMs: 40 }, 41.5)).toEqual({
      "toolformer.ratelimit.waited_ms": 41.5,
      "toolformer.ratelimit.granted": true,
    });
    expect(waitSpanEnd({ granted: false, reason: "deadline", retryAfterMs: 0, scope: "tool:search" }, 9)).toEqual({
      "toolformer.ratelimit.waited_ms": 9,
      "toolformer.ratelimit.granted": false,
      "toolformer.ratelimit.refusal": "deadline",
      "toolformer.ratelimit.scope": "tool:search",
    });
  });
});
