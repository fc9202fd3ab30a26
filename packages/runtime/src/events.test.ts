import { describe, expect, it } from "vitest";
import { EventType, type OrchestrateEventDraft } from "@toolformer/protocol";
import { eventMessageId } from "./events.ts";

const completed = (result: unknown): OrchestrateEventDraft => ({
  type: EventType.toolCompleted,
  requestId: "req.1",
  callId: "a",
  tool: "echo",
  round: 1,
  durationMs: 12,
  result,
});

describe("event message ids", () => {
  it("are the same for the same event, whatever the order of its keys", () => {
    const reordered = {
      result: { y: 2, x: 1 },
      durationMs: 12,
      round: 1,
      tool: "echo",
      callId: "a",
      requestId: "req.1",
    };
    expect(eventMessageId(completed({ x: 1, y: 2 }))).toBe(
      eventMessageId({ type: EventType.toolCompleted, ...reordered }),
    );
  });

  it("differ for events that differ in anything, so no real event is dropped as a duplicate", () => {
    const progress = (seq: number, partial: unknown): OrchestrateEventDraft => ({
      type: EventType.toolProgress,
      requestId: "req.1",
      callId: "a",
      tool: "echo",
      round: 1,
      seq,
      partial,
    });
    const ids = [
      completed({ x: 1 }),
      completed({ x: 2 }),
      { ...completed({ x: 1 }), callId: "b" },
      { ...completed({ x: 1 }), requestId: "req.2" },
      progress(1, "half"),
      progress(1, "a third"),
      progress(2, "half"),
      {
        type: EventType.toolStarted,
        requestId: "req.1",
        callId: "a",
        tool: "echo",
        round: 1,
        attempt: 1,
        executor: "e",
      },
      {
        type: EventType.toolStarted,
        requestId: "req.1",
        callId: "a",
        tool: "echo",
        round: 1,
        attempt: 2,
        executor: "e",
      },
    ].map((event) => eventMessageId(event as OrchestrateEventDraft));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("name the request and the event type, for whoever reads the stream", () => {
    // A request id with a dot is hex-encoded, as in every internal subject and key.
    expect(eventMessageId(completed(null))).toMatch(/^=[0-9a-f]+:tool\.completed:[0-9a-f]{24}$/);
  });
});
