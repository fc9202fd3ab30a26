import { describe, expect, it } from "vitest";
import { approveMessage } from "./approve.ts";

const usage = (message: string) => new Error(`usage: ${message}`);
const base = { requestId: "r1", callId: "call_2", deny: false };

describe("toolformer approve's decision", () => {
  it("approves, with edited arguments and a reason, or denies with a reason", () => {
    expect(approveMessage({ ...base, args: '{"to":"bob","amount":250}', reason: "payroll" }, usage)).toEqual({
      callId: "call_2",
      decision: "approve",
      args: { to: "bob", amount: 250 },
      reason: "payroll",
    });
    expect(approveMessage({ ...base, deny: true, reason: "not a supplier" }, usage)).toEqual({
      callId: "call_2",
      decision: "deny",
      reason: "not a supplier",
    });
  });

  it("refuses arguments with a denial, arguments that are not a JSON object, and a bad call id", () => {
    expect(() => approveMessage({ ...base, deny: true, args: "{}" }, usage)).toThrow(
      "usage: --args goes with an approval",
    );
    expect(() => approveMessage({ ...base, args: "{to" }, usage)).toThrow("usage: --args is not JSON");
    expect(() => approveMessage({ ...base, args: "[1]" }, usage)).toThrow(/usage: .*at args/s);
    expect(() => approveMessage({ ...base, callId: "a b" }, usage)).toThrow(/usage: .*at callId/s);
  });
});
