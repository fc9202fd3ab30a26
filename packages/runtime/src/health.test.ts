import { describe, expect, it } from "vitest";
import { liveness, readiness } from "./health.ts";

describe("health", () => {
  it("stays live while reconnecting, and fails once the connection is gone past the limit or closed", () => {
    expect(liveness({ status: "connected", sinceMs: 0 }, 1_000_000, 30_000).ok).toBe(true);
    expect(liveness({ status: "disconnected", sinceMs: 1_000 }, 31_000, 30_000).ok).toBe(true);
    const gone = liveness({ status: "disconnected", sinceMs: 1_000 }, 31_001, 30_000);
    expect(gone).toEqual({ ok: false, reason: "no NATS connection for 30001 ms (limit 30000 ms)" });
    expect(liveness({ status: "closed", sinceMs: 1_000 }, 1_001, 30_000).ok).toBe(false);
  });

  it("is ready only while serving and connected", () => {
    expect(readiness({ status: "connected", sinceMs: 0 }, true).ok).toBe(true);
    expect(readiness({ status: "connected", sinceMs: 0 }, false).ok).toBe(false);
    expect(readiness({ status: "disconnected", sinceMs: 0 }, true).ok).toBe(false);
    expect(readiness({ status: "closed", sinceMs: 0 }, true).ok).toBe(false);
  });
});
