import { describe, expect, it } from "vitest";
import type { ToolRegistration } from "@toolformer/protocol";
import { freshRegistrations, REGISTRATION_LOST_MS, REGISTRATION_STALE_MS } from "./tool-catalog.ts";

const registration = (executorId: string, refreshedAt: number): ToolRegistration => ({
  definition: {
    name: "add",
    description: "adds",
    parameters: { type: "object" },
    source: "typescript",
    readOnly: false,
    idempotent: false,
  },
  executorId,
  refreshedAt,
});
const ids = (registrations: ToolRegistration[]) => registrations.map((r) => r.executorId);

describe("freshRegistrations", () => {
  it("drops a registration much older than the newest refresh heard: its executor is gone", () => {
    const gone = registration("gone", 0);
    const alive = registration("alive", REGISTRATION_STALE_MS + 1);
    expect(ids(freshRegistrations([gone, alive], alive.refreshedAt, alive.refreshedAt))).toEqual(["alive"]);
  });

  it("keeps what it knew while it hears nothing at all (a node died, the watch is made again)", () => {
    // The bug this fixes: 20 s without news made every tool unknown, and requests failed.
    const known = [registration("x1", 0), registration("x2", 1_000)];
    expect(ids(freshRegistrations(known, 1_000, 20_000))).toEqual(["x1", "x2"]);
  });

  it("drops everything nothing refreshed for REGISTRATION_LOST_MS (every executor died)", () => {
    const known = [registration("x1", 0)];
    expect(ids(freshRegistrations(known, 0, REGISTRATION_LOST_MS))).toEqual(["x1"]);
    expect(freshRegistrations(known, 0, REGISTRATION_LOST_MS + 1)).toEqual([]);
  });

  it("does not let an executor whose clock runs ahead make the others stale early", () => {
    const known = [registration("x1", 0), registration("ahead", 60_000)];
    expect(ids(freshRegistrations(known, 60_000, 5_000))).toEqual(["x1", "ahead"]);
  });
});
