import { describe, expect, it } from "vitest";
import type { ClusterView } from "@toolformer/dashboard";
import { statusLines } from "./status.ts";

const copy = { version: "0.1.0", startedAt: "2026-01-01T00:00:00Z", requests: 0, errors: 0 };

describe("statusLines", () => {
  it("prints the copies, tools with hosts, lag and scopes as aligned tables", () => {
    const view: ClusterView = {
      at: 0,
      services: [
        {
          name: "toolformer-executor",
          copies: [
            { ...copy, id: "a", actorId: "executor-1" },
            { ...copy, id: "b", actorId: "executor-2" },
          ],
        },
      ],
      tools: [{ name: "echo", source: "typescript", hosts: [{ executorId: "executor-1", refreshedAt: 0 }] }],
      consumers: [{ stream: "TF_EXEC", consumer: "exec_echo", pending: 4, ackPending: 1, redelivered: 0 }],
      scopes: [
        { key: "tool:echo", limit: 1, intervalMs: 60_000, used: 1, capacity: 1, waiting: 2, oldestWaitMs: 1500 },
        { key: "concurrency:all", limit: 8, intervalMs: 30_000, concurrent: true, used: 3, capacity: 8, waiting: 0 },
      ],
    };
    expect(statusLines(view)).toEqual([
      "actors",
      "  toolformer-executor  2 copies  executor-1, executor-2",
      "tools",
      "  echo  typescript  executor-1",
      "consumer lag",
      "  TF_EXEC/exec_echo  pending 4  unacked 1  redelivered 0",
      "rate-limit scopes",
      "  tool:echo        1/1 per 60.0 s  waiting 2 (longest 1.5 s)",
      "  concurrency:all  3/8 at once     waiting 0",
    ]);
  });

  it("says what is missing instead of printing empty tables", () => {
    const lines = statusLines({ at: 0, services: [], tools: [], consumers: [], scopes: [] });
    expect(lines).toContain("  none answers");
    expect(lines).toContain("  none asked for in the last 10 minutes");
  });
});
