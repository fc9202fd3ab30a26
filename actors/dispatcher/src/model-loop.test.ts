import { describe, expect, it } from "vitest";
import {
  CancelReason,
  OrchestrateRequestSchema,
  type PlannedCall,
  type ToolCallRecord,
  type ToolDefinition,
  type TurnRecord,
} from "@toolformer/protocol";
import type { ModelTurn } from "@toolformer/providers";
import {
  DEADLINE_TIMER,
  HANDED_BACK,
  initialLoopState,
  SUPERSEDED,
  loopResult,
  modelLoop,
  ROUND_ABORT_GRACE_MS,
  ROUND_GRACE_TIMER,
  type LoopCommand,
  type LoopEvent,
  type LoopState,
} from "./model-loop.ts";
import type { TimerCommand } from "@toolformer/runtime";

const echo: ToolDefinition = {
  name: "echo",
  description: "",
  parameters: {},
  readOnly: true,
  idempotent: true,
  source: "typescript",
};
const catalog = new Map([["echo", echo]]);
const DEADLINE = 1_000_000;

function setup(options: Record<string, unknown> = {}, runner = "dispatcher-a:1") {
  const request = OrchestrateRequestSchema.parse({ id: "r1", prompt: "hi", model: "fake:x", options });
  return initialLoopState({ requestId: "r1", request, deadline: DEADLINE, runner, catalog });
}

/** Feeds events in order, collecting every command; `now` moves with each event. */
function run(state: LoopState, events: [number, LoopEvent | { type: "timer"; name: string }][]) {
  const commands: (LoopCommand | TimerCommand)[] = [];
  for (const [now, event] of events) {
    const next = modelLoop.step(state, event, now);
    state = next.state;
    commands.push(...next.commands);
  }
  return { state, commands, kinds: commands.map((c) => c.kind) };
}

const answer = (calls: [string, object][], text?: string): ModelTurn => ({
  ...(text === undefined ? {} : { text }),
  toolCalls: calls.map(([id, args]) => ({ id, name: "echo", arguments: JSON.stringify(args) })),
  usage: { inputTokens: 10, outputTokens: 5 },
  stopReason: calls.length > 0 ? "tool_calls" : "stop",
});

const succeeded = (call: PlannedCall): ToolCallRecord => ({
  id: call.callId,
  tool: call.tool,
  args: call.args,
  status: "succeeded",
  result: { echoed: call.args },
  round: 1,
  startedAt: 0,
  durationMs: 1,
  speculative: false,
});

function recordedTurn(state: LoopState, commands: (LoopCommand | TimerCommand)[]): TurnRecord {
  const command = commands.find((c): c is Extract<LoopCommand, { kind: "recordTurn" }> => c.kind === "recordTurn");
  if (!command) throw new Error(`no turn recorded (phase ${state.phase.name})`);
  return command.turn;
}

describe("the model loop machine", () => {
  it("asks, records the turn before handing its calls on, feeds results back, and answers", () => {
    let { state, commands } = run(setup(), [
      [0, { type: "started", takeover: false }],
      [
        100,
        {
          type: "modelAnswered",
          round: 1,
          answer: answer([
            ["call_a", { v: 1 }],
            ["call_b", { v: 2 }],
          ]),
        },
      ],
    ]);
    expect(commands.map((c) => c.kind)).toEqual(["setTimer", "publishEvent", "askModel", "recordTurn"]);
    expect(commands[0]).toEqual({ kind: "setTimer", name: DEADLINE_TIMER, at: DEADLINE });
    const turn = recordedTurn(state, commands);
    expect(turn.modelMs).toBe(100);
    expect(turn.planned.map((c) => c.callId)).toEqual(["call_a", "call_b"]);
    // The first turn keeps what a replay needs of the request, and none of the conversation (ADR 0027).
    expect(turn.request).toMatchObject({ id: "r1", model: "fake:x", options: { maxRounds: 8 } });
    expect(turn.request).not.toHaveProperty("prompt");

    ({ state, commands } = run(state, [[110, { type: "turnRecorded", turn }]]));
    // Only once recorded does the round go to the scheduler.
    expect(commands.map((c) => c.kind)).toEqual(["publishEvent", "finishRound"]);

    const records = turn.planned.map(succeeded);
    ({ state, commands } = run(state, [
      [400, { type: "roundDone", round: 1, outcome: { calls: records }, spilled: new Map() }],
    ]));
    const ask = commands.find((c): c is Extract<LoopCommand, { kind: "askModel" }> => c.kind === "askModel");
    expect(ask?.round).toBe(2);
    expect(ask?.messages.filter((m) => m.role === "tool").map((m) => m.content)).toEqual([
      '{"echoed":{"v":1}}',
      '{"echoed":{"v":2}}',
    ]);

    ({ state, commands } = run(state, [[500, { type: "modelAnswered", round: 2, answer: answer([], "the answer") }]]));
    expect(recordedTurn(state, commands).request).toBeUndefined();
    ({ state } = run(state, [[510, { type: "turnRecorded", turn: recordedTurn(state, commands) }]]));
    const result = loopResult(state);
    expect(result).toMatchObject({
      status: "completed",
      answer: "the answer",
      rounds: 1,
      toolsMs: 290,
      modelMs: 200,
      usage: { inputTokens: 20, outputTokens: 10, totalTokens: 30 },
    });
    expect(typeof result === "object" && result.toolCalls.map((c) => c.id)).toEqual(["call_a", "call_b"]);
  });

  it("on a takeover replays the recorded turns and finished rounds, and asks only the first turn not recorded", () => {
    const first = run(setup(), [
      [0, { type: "started", takeover: false }],
      [50, { type: "modelAnswered", round: 1, answer: answer([["call_a", { v: 1 }]]) }],
    ]);
    const turn = recordedTurn(first.state, first.commands);

    let { state, kinds } = run(setup(), [[0, { type: "started", takeover: true }]]);
    expect(kinds).toEqual(["setTimer", "readProgress"]);
    const replayed = run(state, [[10, { type: "progressRead", round: 1, turn, handed: turn.planned }]]);
    state = replayed.state;
    expect(replayed.kinds).toEqual(["finishRound"]); // the model is not asked again for a recorded turn
    expect(replayed.commands[0]).toMatchObject({ handed: turn.planned });
    ({ state, kinds } = run(state, [
      [20, { type: "roundDone", round: 1, outcome: { calls: turn.planned.map(succeeded) }, spilled: new Map() }],
    ]));
    expect(kinds).toEqual(["clearTimer", "roundFinished", "readProgress"]);
    ({ kinds } = run(state, [[30, { type: "progressRead", round: 2, handed: [] }]]));
    expect(kinds).toEqual(["publishEvent", "askModel"]);
  });

  it("asks a half-written turn again without early dispatch, and its calls take over those handed on", () => {
    const request = setup({ earlyDispatch: true });
    const first = run(request, [
      [0, { type: "started", takeover: false }],
      [10, { type: "callStreamed", round: 1, call: { id: "call_old", name: "echo", arguments: '{"v":1}' } }],
    ]);
    const handed = first.commands.flatMap((c) => (c.kind === "handCall" ? [c.call] : []));
    expect(handed.map((c) => c.callId)).toEqual(["call_old"]);

    let { state, commands } = run(setup({ earlyDispatch: true }), [
      [0, { type: "started", takeover: true }],
      [5, { type: "progressRead", round: 1, handed }],
    ]);
    expect(commands.find((c) => c.kind === "askModel")).toMatchObject({ earlyDispatch: false });
    ({ state, commands } = run(state, [
      [
        60,
        {
          type: "modelAnswered",
          round: 1,
          answer: answer([
            ["call_new", { v: 1 }],
            ["call_more", { v: 2 }],
          ]),
        },
      ],
    ]));
    const turn = recordedTurn(state, commands);
    expect(turn.planned.map((c) => c.callId)).toEqual(["call_old", "call_more"]);
    ({ commands } = run(state, [[70, { type: "turnRecorded", turn }]]));
    expect(commands.find((c) => c.kind === "finishRound")).toMatchObject({ handed });
  });

  it("hands each streamed call on at once, in order, and seals the round with the rest", () => {
    const { state, commands } = run(setup({ earlyDispatch: true }), [
      [0, { type: "started", takeover: false }],
      [10, { type: "callStreamed", round: 1, call: { id: "call_a", name: "echo", arguments: "{}" } }],
      [20, { type: "callStreamed", round: 1, call: { id: "call_b", name: "echo", arguments: "{}" } }],
      [
        30,
        {
          type: "modelAnswered",
          round: 1,
          answer: answer([
            ["call_a", {}],
            ["call_b", {}],
            ["call_c", {}],
          ]),
        },
      ],
    ]);
    expect(commands.flatMap((c) => (c.kind === "handCall" ? [[c.call.callId, c.handedBefore]] : []))).toEqual([
      ["call_a", 0],
      ["call_b", 1],
    ]);
    const turn = recordedTurn(state, commands);
    const recorded = run(state, [[40, { type: "turnRecorded", turn }]]);
    const finishRound = recorded.commands.find((c) => c.kind === "finishRound");
    expect(finishRound).toMatchObject({ calls: turn.planned });
    expect(finishRound && "handed" in finishRound && finishRound.handed.map((c) => c.callId)).toEqual([
      "call_a",
      "call_b",
    ]);
  });

  it("after a cancel waits the grace period for the scheduler's records, then writes them itself", () => {
    const asked = run(setup(), [
      [0, { type: "started", takeover: false }],
      [10, { type: "modelAnswered", round: 1, answer: answer([["call_a", {}]]) }],
    ]);
    const turn = recordedTurn(asked.state, asked.commands);
    const { state, commands } = run(asked.state, [
      [20, { type: "turnRecorded", turn }],
      [1_000, { type: "cancelled", reason: CancelReason.client }],
    ]);
    expect(commands.at(-1)).toEqual({ kind: "setTimer", name: ROUND_GRACE_TIMER, at: 1_000 + ROUND_ABORT_GRACE_MS });
    const ended = run(state, [[3_500, { type: "timer", name: ROUND_GRACE_TIMER }]]).state;
    expect(loopResult(ended)).toMatchObject({
      status: "cancelled",
      toolCalls: [{ id: "call_a", status: "cancelled", error: { code: "CANCELLED" } }],
    });

    // Records that arrive within the grace period are the ones reported.
    const confirmed = run(state, [
      [1_200, { type: "roundDone", round: 1, outcome: { calls: turn.planned.map(succeeded) }, spilled: new Map() }],
    ]).state;
    expect(loopResult(confirmed)).toMatchObject({ status: "cancelled", toolCalls: [{ status: "succeeded" }] });
  });

  it("at the deadline broadcasts the timeout and stops the model turn in flight", () => {
    const { state, kinds } = run(setup(), [
      [0, { type: "started", takeover: false }],
      [DEADLINE, { type: "timer", name: DEADLINE_TIMER }],
    ]);
    expect(kinds.slice(-2)).toEqual(["broadcastTimeout", "abortModel"]);
    const ended = run(state, [
      [DEADLINE + 5, { type: "modelFailed", round: 1, error: { code: "PROVIDER_ERROR", message: "aborted" } }],
    ]).state;
    expect(loopResult(ended)).toMatchObject({ status: "timeout", error: { code: "TIMEOUT" } });
  });

  it("when its copy stops: lets the turn in flight be recorded, then hands back instead of running the round", () => {
    const { state, commands } = run(setup(), [
      [0, { type: "started", takeover: false }],
      [10, { type: "stopping" }],
      [20, { type: "modelAnswered", round: 1, answer: answer([["call_a", {}]]) }],
    ]);
    expect(commands.at(-1)?.kind).toBe("recordTurn");
    const handedBack = run(state, [[30, { type: "turnRecorded", turn: recordedTurn(state, commands) }]]);
    expect(handedBack.kinds).not.toContain("finishRound");
    expect(loopResult(handedBack.state)).toBe(HANDED_BACK);

    // During a round nothing needs finishing: it hands back at once.
    const inRound = run(setup(), [
      [0, { type: "started", takeover: false }],
      [10, { type: "modelAnswered", round: 1, answer: answer([["call_a", {}]]) }],
    ]);
    const waiting = run(inRound.state, [
      [20, { type: "turnRecorded", turn: recordedTurn(inRound.state, inRound.commands) }],
    ]);
    expect(loopResult(run(waiting.state, [[30, { type: "stopping" }]]).state)).toBe(HANDED_BACK);
  });

  it("fails with MAX_ROUNDS_EXCEEDED when the model still asks for tools after the last round", () => {
    const asked = run(setup({ maxRounds: 1 }), [
      [0, { type: "started", takeover: false }],
      [10, { type: "modelAnswered", round: 1, answer: answer([["call_a", {}]]) }],
    ]);
    const turn = recordedTurn(asked.state, asked.commands);
    const { state } = run(asked.state, [
      [20, { type: "turnRecorded", turn }],
      [30, { type: "roundDone", round: 1, outcome: { calls: turn.planned.map(succeeded) }, spilled: new Map() }],
    ]);
    expect(loopResult(state)).toMatchObject({ status: "failed", error: { code: "MAX_ROUNDS_EXCEEDED" }, rounds: 1 });
  });

  it("stops without a word when another run of the request recorded the turn first (its lease lapsed)", () => {
    const asked = run(setup(), [
      [0, { type: "started", takeover: false }],
      [10, { type: "modelAnswered", round: 1, answer: answer([["call_a", {}]]) }],
    ]);
    const ours = recordedTurn(asked.state, asked.commands);
    expect(ours.recordedBy).toBe("dispatcher-a:1");
    const theirs = { ...ours, recordedBy: "dispatcher-b:7" };
    const superseded = run(asked.state, [[20, { type: "turnRecorded", turn: theirs }]]);
    expect(loopResult(superseded.state)).toBe(SUPERSEDED);
    expect(superseded.kinds).toEqual([]); // no event, no round, no reply from this run
  });
});
