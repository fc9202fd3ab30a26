import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { EventType, Header, type OrchestrateEvent } from "@toolformer/protocol";
import { calibrationDeltas } from "./calibration.ts";
import { OBSERVED_EVENT_TYPES, unobserved } from "./observed-events.ts";
import { SpeculationMetrics } from "./speculation-metrics.ts";
import { deltaOf } from "./tool-stats.ts";

/** An event of `type` with every field any observer function reads, so only its type can make it count. */
const eventOf = (type: string) =>
  ({
    type,
    requestId: "r",
    at: 1,
    callId: "c",
    tool: "t",
    round: 1,
    durationMs: 5,
    wastedMs: 5,
    predictors: ["history"],
  }) as unknown as OrchestrateEvent;

const header = (type?: string) => ({ get: (name: string) => (name === Header.eventType && type) || "" });

async function countedBy(event: OrchestrateEvent): Promise<boolean> {
  const registry = new Registry();
  new SpeculationMetrics(registry).observe(event);
  const counted = (await registry.getMetricsAsJSON()).some((m) => m.values.some((v) => v.value !== 0));
  return deltaOf(event) !== undefined || calibrationDeltas(event).length > 0 || counted;
}

describe("the events the observer reads", () => {
  it("passes over only types it learns nothing from", async () => {
    for (const type of Object.values(EventType)) {
      const counted = await countedBy(eventOf(type));
      expect({ type, passedOver: unobserved(header(type)) }).toEqual({ type, passedOver: !counted });
    }
    expect(OBSERVED_EVENT_TYPES.size).toBeGreaterThan(0);
  });

  it("reads an event whose type it cannot tell from the headers", () => {
    expect(unobserved(undefined)).toBe(false);
    expect(unobserved(header())).toBe(false);
    expect(unobserved(header(EventType.toolStarted))).toBe(true);
  });
});
