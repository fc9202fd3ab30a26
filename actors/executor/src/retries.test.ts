import { describe, expect, it } from "vitest";
import { ErrorCode, TerminalError } from "@toolformer/protocol";
import { backoffMs, IDEMPOTENT_ATTEMPTS, withRetries } from "./retries.ts";

const log = { info: () => {} } as never;
const failing = (failures: number, error: () => Error = () => new Error("flaky")) => {
  let calls = 0;
  return {
    run: async () => {
      calls++;
      if (calls <= failures) throw error();
      return "ok";
    },
    calls: () => calls,
  };
};

describe("retries", () => {
  it("tries an idempotent tool again after a passing failure, with growing pauses", async () => {
    const tool = failing(2);
    expect(await withRetries(tool.run, { idempotent: true, signal: new AbortController().signal, log })).toBe("ok");
    expect(tool.calls()).toBe(3);
    expect([backoffMs(2, () => 0), backoffMs(3, () => 0), backoffMs(3, () => 1)]).toEqual([100, 200, 250]);
  });

  it("tries a tool with side effects once, and never again after a terminal error or too many tries", async () => {
    const signal = new AbortController().signal;
    const once = failing(1);
    await expect(withRetries(once.run, { idempotent: false, signal, log })).rejects.toThrow("flaky");
    expect(once.calls()).toBe(1);
    const terminal = failing(1, () => new TerminalError(ErrorCode.INVALID_ARGUMENTS, "bad"));
    await expect(withRetries(terminal.run, { idempotent: true, signal, log })).rejects.toThrow("bad");
    expect(terminal.calls()).toBe(1);
    const hopeless = failing(10);
    await expect(withRetries(hopeless.run, { idempotent: true, signal, log })).rejects.toThrow("flaky");
    expect(hopeless.calls()).toBe(IDEMPOTENT_ATTEMPTS);
  });

  it("stops waiting to try again when the call is aborted", async () => {
    const controller = new AbortController();
    const tool = failing(10);
    const running = withRetries(tool.run, { idempotent: true, signal: controller.signal, log });
    controller.abort(new Error("cancelled"));
    await expect(running).rejects.toThrow();
    expect(tool.calls()).toBe(1);
  });
});
