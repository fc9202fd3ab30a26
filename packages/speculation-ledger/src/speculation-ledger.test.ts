import { describe, expect, it } from "vitest";
import type { SpeculationLedger, SpeculativeCall } from "@toolformer/protocol";
import { claimCall, claimCalls, closeRounds, registerCalls, type SpeculationCandidate } from "./speculation-ledger.ts";

const candidate = (key: string): SpeculationCandidate => ({
  key,
  call: {
    state: "running",
    exec: {
      requestId: "r",
      callId: `s1-${key}`,
      round: 1,
      tool: "t",
      args: {},
      attempt: 1,
      deadline: 0,
      traceparent: "",
      priority: 0,
      tenant: "default",
      speculative: true,
      extraScopes: [],
    },
    predictors: ["history"],
    confidence: 0.9,
    startedAt: 0,
  } satisfies SpeculativeCall,
});
const empty: SpeculationLedger = { ended: false, rounds: {} };

describe("speculation ledger", () => {
  it("registers up to the request's budget, never the same call twice", () => {
    const first = registerCalls(empty, 1, [candidate("a"), candidate("b")], 3);
    expect(first.result.map((c) => c.key)).toEqual(["a", "b"]);
    const second = registerCalls(first.next!, 2, [candidate("a"), candidate("c"), candidate("d")], 3);
    expect(second.result.map((c) => c.key)).toEqual(["a"]); // another round may run it again; budget now spent
    expect(registerCalls(second.next!, 2, [candidate("e")], 3).result).toEqual([]);
  });

  it("a call is either claimed or missed, never both", () => {
    const ledger = registerCalls(empty, 1, [candidate("a"), candidate("b")], 8).next!;
    const claimed = claimCall(ledger, 1, "a", "call_1");
    expect(claimed.result?.state).toBe("claimed");
    expect(claimCall(claimed.next!, 1, "a", "call_2").result).toBeUndefined();
    expect(claimCall(claimed.next!, 1, "a", "call_1").result?.claimedBy).toBe("call_1"); // a retried claim
    const closed = closeRounds(claimed.next!, 1);
    expect(closed.result.map((c) => c.exec.callId)).toEqual(["s1-b"]);
    expect(claimCall(closed.next!, 1, "b", "call_3").result).toBeUndefined();
  });

  it("claims a batch in one change, each call taking over at most its own match", () => {
    const ledger = registerCalls(empty, 1, [candidate("a"), candidate("b")], 8).next!;
    const { next, result } = claimCalls(ledger, 1, [
      { key: "a", callId: "call_1" },
      { key: "a", callId: "call_2" },
      { key: "z", callId: "call_3" },
    ]);
    expect([...result.keys()]).toEqual(["call_1"]);
    expect(next!.rounds[1]!.calls.a!.claimedBy).toBe("call_1");
    expect(claimCalls(next!, 1, [{ key: "z", callId: "call_4" }]).next).toBeUndefined();
  });

  it("a closed round or ended request takes no more speculative calls", () => {
    const closed = closeRounds(empty, 1).next!;
    expect(registerCalls(closed, 1, [candidate("a")], 8).result).toEqual([]);
    const withRound = registerCalls(empty, 1, [candidate("a")], 8).next!;
    const ended = closeRounds(withRound, "all");
    expect(ended.result).toHaveLength(1);
    expect(registerCalls(ended.next!, 2, [candidate("b")], 8).result).toEqual([]);
  });

  it("closing a request that never speculated writes nothing", () => {
    expect(closeRounds(empty, "all").next).toBeUndefined();
  });
});

describe("closing a round early", () => {
  it("keeps the calls a waiting call may still claim, and misses them at the end", () => {
    const ledger = registerCalls(empty, 1, [candidate("a"), candidate("b")], 8).next!;
    const sealed = closeRounds(ledger, 1, (key) => key === "a");
    expect(sealed.result.map((c) => c.exec.callId)).toEqual(["s1-b"]);
    expect(registerCalls(sealed.next!, 1, [candidate("c")], 8).result).toEqual([]);
    expect(closeRounds(sealed.next!, 1, (key) => key === "a").next).toBeUndefined();
    expect(claimCall(sealed.next!, 1, "a", "call_1").result?.state).toBe("claimed");
    const end = closeRounds(sealed.next!, 1);
    expect(end.result.map((c) => c.exec.callId)).toEqual(["s1-a"]);
  });
});
