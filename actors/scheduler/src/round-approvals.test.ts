import { describe, expect, it } from "vitest";
import type { DecidedApproval, PlannedCall } from "@toolformer/protocol";
import type { TimerCommand } from "@toolformer/runtime";
import { initialRoundState, roundLoop, type RoundCommand, type RoundEvent, type RoundLoopState } from "./round-loop.ts";
import { roundSubmit } from "./round-submit.fixture.ts";

const guarded = {
  known: true,
  readOnly: false,
  idempotent: false,
  approval: { when: { properties: { amount: { minimum: 100 } } }, timeoutMs: 5_000 },
};

function call(callId: string, amount: number, extra: Partial<PlannedCall> = {}): PlannedCall {
  return { callId, tool: "transfer", args: { amount }, toolInfo: guarded, ...extra };
}

const submit = (calls: PlannedCall[]) => roundSubmit(calls);

type Fed = RoundEvent | { type: "timer"; name: string };

function run(state: RoundLoopState, events: [number, Fed][]) {
  const commands: (RoundCommand | TimerCommand)[] = [];
  for (const [now, event] of events) {
    const next = roundLoop.step(state, event, now);
    state = next.state;
    commands.push(...next.commands);
  }
  const dispatched = commands.flatMap((c) => (c.kind === "dispatch" ? [[c.call.call.callId, c.call.args]] : []));
  const asked = commands.flatMap((c) => (c.kind === "requestApproval" ? [c.call.call.callId] : []));
  return { state, commands, dispatched, asked };
}

const started = (calls: PlannedCall[]) =>
  run(initialRoundState(submit(calls)), [[0, { type: "started", takeover: false }]]);
const decided = (callId: string, record: DecidedApproval): RoundEvent => ({ type: "approvalDecided", callId, record });

describe("calls that wait for approval in the round loop", () => {
  it("holds back only the calls the policy names, and their dependents; the others go out at once", () => {
    const dependent = call("after", 1, { args: { amount: { $ref: "large" } } });
    const { dispatched, asked } = started([call("small", 10), call("large", 500), dependent]);
    expect(dispatched).toEqual([["small", { amount: 10 }]]);
    expect(asked).toEqual(["large"]);
  });

  it("sends an approved call with the approver's arguments, and matches decisions by call id, whatever their order", () => {
    const first = started([call("b", 200), call("d", 900)]);
    expect(first.asked).toEqual(["b", "d"]);
    const approvals = run(first.state, [
      [10, decided("d", { state: "approved", tool: "transfer", decidedAt: 10 })],
      [20, decided("b", { state: "approved", tool: "transfer", args: { amount: 150 }, decidedAt: 20 })],
    ]);
    expect(approvals.dispatched).toEqual([
      ["d", { amount: 900 }],
      ["b", { amount: 150 }],
    ]);
    // A decision heard again (a watch made again) sends nothing more.
    const again = run(approvals.state, [[30, decided("b", { state: "approved", tool: "transfer", decidedAt: 20 })]]);
    expect(again.commands).toEqual([]);
  });

  it("ends a denied call without running it, with the approver's reason, and fails its dependents", () => {
    const first = started([call("large", 500), call("after", 1, { args: { amount: { $ref: "large" } } })]);
    const denied = run(first.state, [
      [10, decided("large", { state: "denied", tool: "transfer", reason: "no", decidedAt: 10 })],
    ]);
    expect(denied.dispatched).toEqual([]);
    const done = denied.commands.find((c) => c.kind === "publishDone");
    expect(
      done && "records" in done && done.records.map((r) => [r.id, r.status, r.error?.code, r.error?.message]),
    ).toEqual([
      ["large", "failed", "APPROVAL_DENIED", "denied by the approver: no"],
      ["after", "failed", "DEPENDENCY_FAILED", expect.any(String)],
    ]);
  });

  it("stores the expiry when a waiting call's timer fires, and drops waiting calls on a cancel", () => {
    const first = started([call("large", 500), call("other", 700)]);
    const waiting = run(first.state, [[5, { type: "approvalWaiting", callId: "large", expiresAt: 5_005 }]]);
    expect(waiting.commands).toEqual([{ kind: "setTimer", name: "approval:large", at: 5_005 }]);
    const expired = run(waiting.state, [[5_005, { type: "timer", name: "approval:large" }]]);
    expect(expired.commands).toEqual([{ kind: "expireApproval", callId: "large", tool: "transfer" }]);

    const cancelled = run(expired.state, [[6_000, { type: "cancelled", reason: "client" }]]);
    const done = cancelled.commands.find((c) => c.kind === "publishDone");
    expect(done && "records" in done && done.records.map((r) => [r.id, r.status])).toEqual([
      ["large", "cancelled"],
      ["other", "cancelled"],
    ]);
  });
});
