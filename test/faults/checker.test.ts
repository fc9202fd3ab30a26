import { describe, expect, it } from "vitest";
import type { NormalizedConversation, NormalizedMessage } from "@toolformer/fake-llm";
import { check, type Observations } from "./checker.ts";
import {
  attributeStarts,
  countedStarts,
  deliveryDelays,
  executorKillExcuses,
  findReasks,
  findReruns,
  nodeKillExcuses,
  type AttributedStart,
} from "./rules.ts";
import type { RequestRecord } from "./load.ts";
import type { Leftovers } from "./leftovers.ts";
import { NemesisKind, type NemesisAction } from "./nemesis.ts";
import { combine, expectedAnswer, faultTurn, PARTS, promptOf, WORK_TOOL, workValue } from "./scenario.ts";
import type { Effect } from "./tool-service.ts";

const T0 = 1_000_000;

function request(
  id: string,
  seed: string,
  replies: { status: string; answer?: string; at?: number }[][],
): RequestRecord {
  return {
    id,
    seed,
    phase: "faults",
    publishes: replies.map((list, n) => ({ at: T0 + n, replies: list.map((r) => ({ at: T0 + 500, ...r })) })),
  };
}

function observations(overrides: Partial<Observations>): Observations {
  return {
    requests: [],
    effects: [],
    speculativeCalls: new Set(),
    asks: [],
    actions: [],
    rateLimit: { limit: 2, intervalMs: 1_000 },
    promptExitMs: 10_000,
    ...overrides,
  };
}

const startTimes = (attributed: AttributedStart[]) => countedStarts(attributed).map(({ at }) => at);
const checkNamed = (report: ReturnType<typeof check>, start: string) =>
  report.checks.find((c) => c.name.startsWith(start))!;

const run = (callId: string, startedAt: number, finishedAt?: number, args: unknown = { part: 0 }): Effect => ({
  requestId: "r1",
  callId,
  tool: WORK_TOOL,
  args,
  startedAt,
  ...(finishedAt === undefined ? {} : { finishedAt }),
});

describe("the fault scenario", () => {
  const conversation = (messages: NormalizedMessage[]): NormalizedConversation => ({
    api: "openai",
    model: "faults",
    messages: [{ role: "user", content: promptOf("abc") }, ...messages],
    tools: [],
  });
  const workCalls = Array.from({ length: PARTS }, (_, part) => ({
    id: `w${part}`,
    name: WORK_TOOL,
    arguments: { seed: "abc", part },
  }));
  const workResults = (skip?: number): NormalizedMessage[] =>
    workCalls
      .filter((_, part) => part !== skip)
      .map((call, part) => ({
        role: "tool",
        callId: call.id,
        name: WORK_TOOL,
        content: JSON.stringify({ value: workValue("abc", part) }),
        isError: false,
      }));

  it("ends with the expected answer when every result is in the conversation", () => {
    const second = faultTurn(conversation([{ role: "assistant", toolCalls: workCalls }, ...workResults()]));
    const [last, combining] = second.toolCalls ?? [];
    expect(last).toMatchObject({ id: "w4", name: WORK_TOOL, arguments: { seed: "abc", part: 4 } });
    const copied = Array.from({ length: PARTS }, (_, part) => workValue("abc", part));
    expect(combining?.arguments).toEqual({ seed: "abc", values: [...copied, { $ref: "w4#/value" }] });
    const lastValue = workValue("abc", 4);
    const final = faultTurn(
      conversation([
        { role: "assistant", toolCalls: workCalls },
        ...workResults(),
        { role: "assistant", toolCalls: second.toolCalls!.map((c) => ({ ...c, id: c.id! })) },
        { role: "tool", callId: "w4", name: WORK_TOOL, content: JSON.stringify({ value: lastValue }), isError: false },
        {
          role: "tool",
          callId: "c",
          name: "fault_combine",
          content: JSON.stringify(combine("abc", [...copied, lastValue])),
          isError: false,
        },
      ]),
    );
    expect(final.text).toBe(expectedAnswer("abc"));
  });

  it("says what is missing instead of answering", () => {
    const turn = faultTurn(conversation([{ role: "assistant", toolCalls: workCalls }, ...workResults(2)]));
    expect(turn.text).toContain("missing work 2");
  });
});

describe("the checker", () => {
  it("passes a clean run and counts wrong, failed, unanswered and duplicate replies apart", () => {
    const clean = check(
      observations({ requests: [request("a", "s1", [[{ status: "completed", answer: expectedAnswer("s1") }]])] }),
    );
    expect(clean.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual([
      "no model turn asked twice during the rolling SIGTERM restart",
      "no consumer leaked",
      "no stale speculation ledger entry",
      "every actor copy exits promptly on SIGTERM (rolling restart and final)",
    ]);
    const report = check(
      observations({
        requests: [
          request("wrong", "s1", [[{ status: "completed", answer: "s1: missing combine" }]]),
          request("failed", "s2", [[{ status: "timeout" }]]),
          request("lost", "s3", [[], []]),
          request("twice", "s4", [
            [
              { status: "completed", answer: expectedAnswer("s4") },
              { status: "completed", answer: expectedAnswer("s4") },
            ],
          ]),
          request("resent", "s5", [[], [{ status: "completed", answer: expectedAnswer("s5") }]]),
        ],
      }),
    );
    const refused = request("refused", "s6", [[], [{ status: "completed", answer: expectedAnswer("s6") }]]);
    refused.publishes[0]!.refusedAt = T0 + 3;
    const refusals = check(observations({ requests: [refused] }));
    expect(refusals.numbers).toMatchObject({ publishesRefusedNoResponders: 1, publishesUnanswered: 0 });
    expect(checkNamed(refusals, "no publish refused").ok).toBe(false);
    // Refused 107 ms after a node's SIGKILL (every front door was connected to it): excused; 5 s after, not.
    const refusedAfterNodeKill = (killAt: number) =>
      check(
        observations({
          requests: [refused],
          actions: [{ at: killAt, kind: NemesisKind.nodeKill, target: "node0" }],
        }),
      );
    expect(refusedAfterNodeKill(T0 + 3 - 107).numbers).toMatchObject({
      publishesRefusedNoResponders: 0,
      publishesRefusedAtNodeDeath: 1,
    });
    expect(checkNamed(refusedAfterNodeKill(T0 + 3 - 107), "no publish refused").ok).toBe(true);
    expect(checkNamed(refusedAfterNodeKill(T0 + 3 - 5_000), "no publish refused").ok).toBe(false);
    expect(report.numbers).toMatchObject({
      completedWrong: 1,
      failed: 1,
      unanswered: 1,
      duplicateReplies: 1,
      resends: 2,
    });
    expect(report.numbers).toMatchObject({ publishesUnanswered: 3 });
    const lostWithClient = check(
      observations({
        requests: [request("resent", "s5", [[], [{ status: "completed", answer: expectedAnswer("s5") }]])],
        clientOutages: [{ from: T0 + 500, to: T0 + 900 }],
      }),
    );
    expect(lostWithClient.numbers).toMatchObject({ publishesUnanswered: 0, publishesLostWithClient: 1 });
    // Sent long before the client's connection dropped, still waiting then: its reply may have come
    // during the outage, excused only if the client sent the request again at the reconnect.
    const waitingAtOutage = (onReconnect: boolean) => {
      const resent = request("resent", "s5", [[], [{ status: "completed", answer: expectedAnswer("s5") }]]);
      resent.acceptedAt = T0;
      resent.publishes[1]!.at = T0 + 4_000;
      if (onReconnect) resent.publishes[1]!.onReconnect = true;
      return check(observations({ requests: [resent], clientOutages: [{ from: T0 + 3_000, to: T0 + 3_990 }] })).numbers;
    };
    expect(waitingAtOutage(true)).toMatchObject({ publishesUnanswered: 0, repliesLostWithClient: 1 });
    expect(waitingAtOutage(false)).toMatchObject({ publishesUnanswered: 1, repliesLostWithClient: 0 });
    const atKill = (at: number) =>
      check(
        observations({
          requests: [request("resent", "s5", [[], [{ status: "completed", answer: expectedAnswer("s5") }]])],
          actions: [{ at, kind: NemesisKind.kill, target: "dispatcher#1", actor: "dispatcher" }],
        }),
      ).numbers;
    expect(atKill(T0 - 300)).toMatchObject({ publishesUnanswered: 0, publishesLostAtKill: 1 });
    expect(atKill(T0 - 5_000)).toMatchObject({ publishesUnanswered: 1, publishesLostAtKill: 0 });
    // The first reply at T0+500, the same reply again at T0+7000: excused only by a dispatcher killed
    // after the first, before its request was confirmed done.
    const heardTwice = (actions: NemesisAction[]) =>
      check(
        observations({
          requests: [
            request("twice", "s4", [
              [
                { status: "completed", answer: expectedAnswer("s4") },
                { status: "completed", answer: expectedAnswer("s4"), at: T0 + 7_000 },
              ],
            ]),
          ],
          actions,
        }),
      ).numbers;
    const dispatcherKill = (at: number): NemesisAction => ({
      at,
      kind: NemesisKind.kill,
      target: "dispatcher#1",
      actor: "dispatcher",
    });
    const nodeKill = (at: number): NemesisAction => ({ at, kind: NemesisKind.nodeKill, target: "node1" });
    expect(heardTwice([dispatcherKill(T0 + 900)])).toMatchObject({ duplicateReplies: 0, repliesResentAtKill: 1 });
    expect(heardTwice([dispatcherKill(T0 + 3_500)])).toMatchObject({ duplicateReplies: 1, repliesResentAtKill: 0 });
    expect(heardTwice([nodeKill(T0 - 1_500), dispatcherKill(T0 + 3_500)])).toMatchObject({
      duplicateReplies: 0,
      repliesResentAtKill: 1,
    });
    expect(heardTwice([dispatcherKill(T0 + 100)])).toMatchObject({ duplicateReplies: 1 });
    // The first publish went unanswered while the re-send, queued first, got the answer: its front
    // door waited for that answer, and is excused only if it was killed while it waited.
    const firstUnanswered = (actions: NemesisAction[]) => {
      const resent = request("resent", "s5", [[], [{ status: "completed", answer: expectedAnswer("s5") }]]);
      resent.acceptedAt = T0;
      return check(observations({ requests: [resent], actions })).numbers;
    };
    expect(firstUnanswered([dispatcherKill(T0 + 200)])).toMatchObject({
      publishesUnanswered: 0,
      repeatsLostWithFrontDoor: 1,
    });
    expect(firstUnanswered([])).toMatchObject({ publishesUnanswered: 1, repeatsLostWithFrontDoor: 0 });
    // Killed 300 ms after the answer came on the other publish, before its poll of the record could see it.
    expect(firstUnanswered([dispatcherKill(T0 + 800)])).toMatchObject({
      publishesUnanswered: 0,
      repeatsLostWithFrontDoor: 1,
    });
    expect(firstUnanswered([dispatcherKill(T0 + 3_500)])).toMatchObject({
      publishesUnanswered: 1,
      repeatsLostWithFrontDoor: 0,
    });
    // Killed 3 s after the answer, but sent 2 s after a node's death: its front door may still have
    // been stalled on the elections (a read waits 5 s unanswered), so the publish may have died with it.
    expect(firstUnanswered([nodeKill(T0 - 2_000), dispatcherKill(T0 + 3_500)])).toMatchObject({
      publishesUnanswered: 0,
      repeatsLostWithFrontDoor: 1,
    });
    // Each unexcused one is listed with its request's times and what the nemesis did around it.
    const listed = request("resent", "s5", [[], [{ status: "completed", answer: expectedAnswer("s5") }]]);
    listed.acceptedAt = T0 + 200;
    expect(
      check(observations({ requests: [listed], actions: [dispatcherKill(T0 + 3_500)] })).unansweredPublishes,
    ).toEqual([
      {
        requestId: "resent",
        publish: 0,
        acceptedAfterMs: 200,
        answeredAfterMs: 500,
        nemesis: ["kill dispatcher#1 +3500 ms"],
      },
    ]);
    // The node died 20 s before: its streams had leaders again long before the kill.
    expect(firstUnanswered([nodeKill(T0 - 20_000), dispatcherKill(T0 + 3_500)])).toMatchObject({
      publishesUnanswered: 1,
      repeatsLostWithFrontDoor: 0,
    });
    expect(checkNamed(report, "exactly one reply").ok).toBe(false);
  });

  it("judges the consumers the server lists, and reports a consumer count it cannot list", () => {
    const leftovers = (listed: number, counted: number): Leftovers => ({
      leakedConsumerCount: counted,
      leakedByStream: counted > 0 ? { TF_ROUNDS: counted } : {},
      leakedConsumers: Array.from({ length: listed }, (_, i) => ({
        stream: "TF_ROUNDS",
        name: `ordered_${i}`,
        durable: false,
        numPending: 0,
        numAckPending: 0,
        filter: "tf.round.add.r1.1",
      })),
      declaredConsumers: [],
      storeConsumers: 0,
      ledgerEntries: 0,
      staleLedgers: [],
    });
    const leak = (listed: number, counted: number) =>
      checkNamed(check(observations({ leftovers: leftovers(listed, counted) })), "no consumer leaked");
    expect(leak(0, 0)).toMatchObject({ ok: true, detail: "none listed" });
    expect(leak(1, 1)).toMatchObject({ ok: false });
    expect(leak(0, 2)).toMatchObject({ ok: true });
    expect(leak(0, 2).detail).toMatch(/counts say 2 \(2 on TF_ROUNDS\), not judged/);
  });

  it("excuses a call run again only when it was in flight at an executor kill", () => {
    const kills = executorKillExcuses([T0 + 100]);
    expect(
      findReruns([run("w0", T0, T0 + 300), run("w0", T0 + 11_000, T0 + 11_300)], new Set(), kills).reruns[0],
    ).toMatchObject({ excused: true });
    // Answered 1 ms before the kill: the answer may not have been recorded yet.
    expect(findReruns([run("w0", T0, T0 + 99), run("w0", T0 + 11_000)], new Set(), kills).reruns[0]).toMatchObject({
      excused: true,
    });
    // Received by the tool the very millisecond of the kill: sent by the copy just before it died.
    expect(
      findReruns([run("w0", T0 + 100, T0 + 400), run("w0", T0 + 10_000)], new Set(), kills).reruns[0],
    ).toMatchObject({ excused: true });
    // Answered 1.6 s before the kill: nothing explains the second run.
    const answeredLongBefore = [run("w0", T0 - 2_000, T0 - 1_500), run("w0", T0 + 11_000)];
    expect(findReruns(answeredLongBefore, new Set(), kills).reruns[0]).toMatchObject({ excused: false });
    // Answered 4.5 s before the kill, 0.5 s before a node died: its result may still have waited for the
    // node's streams to elect leaders (up to STREAM_ELECTION_MS), so the killed copy never stored it.
    const heldUp = executorKillExcuses([T0 + 100], [T0 - 4_000]);
    const answeredBeforeNodeDeath = [run("w0", T0 - 4_700, T0 - 4_400), run("w0", T0 + 9_000)];
    expect(findReruns(answeredBeforeNodeDeath, new Set(), heldUp).reruns[0]).toMatchObject({ excused: true });
    // The same with the node's death 13 s and more before the kill: its streams had led again.
    const longAfter = executorKillExcuses([T0 + 100], [T0 - 14_000]);
    const answeredAfterElection = [run("w0", T0 - 4_700, T0 - 4_400), run("w0", T0 + 9_000)];
    expect(findReruns(answeredAfterElection, new Set(), longAfter).reruns[0]).toMatchObject({ excused: false });
    // Run again under a new id (a re-asked turn): same request, tool and arguments.
    expect(
      findReruns([run("w0", T0 + 200, T0 + 500), run("r1-c0", T0 + 900)], new Set(), kills).reruns[0],
    ).toMatchObject({
      callIds: ["w0", "r1-c0"],
      excused: false,
    });
    // Each run after the first needs its own kill: the third run here has none.
    const third = findReruns(
      [run("w0", T0, T0 + 300), run("w0", T0 + 11_000, T0 + 11_300), run("w0", T0 + 20_000)],
      new Set(),
      kills,
    ).reruns[0];
    expect(third).toMatchObject({ excused: false, unexcused: 1 });
    // A speculative call and the model's call it stood in for are not a rerun.
    expect(findReruns([run("spec-1", T0), run("w0", T0 + 400)], new Set(["r1 spec-1"]), []).reruns).toEqual([]);
    expect(findReruns([run("s1-abc", T0), run("w0", T0 + 400)], new Set(), []).reruns).toEqual([]);
  });

  it("excuses a call sent again after a node kill only when its answer may have been lost with the node", () => {
    const kills = nodeKillExcuses([T0 + 2_000]);
    // Answered 800 ms before the kill: the reply may have been on its way to an executor of that node.
    expect(findReruns([run("w0", T0, T0 + 1_200), run("w0", T0 + 2_400)], new Set(), kills).reruns[0]).toMatchObject({
      excused: true,
    });
    // Answered 1.7 s before the kill: nothing explains the second send.
    expect(findReruns([run("w0", T0, T0 + 300), run("w0", T0 + 2_400)], new Set(), kills).reruns[0]).toMatchObject({
      excused: false,
    });
    // Sent 12 ms after the node died, before the executor heard of it: it sends it again to be safe.
    expect(
      findReruns([run("w0", T0 + 2_012, T0 + 2_312), run("w0", T0 + 2_090)], new Set(), kills).reruns[0],
    ).toMatchObject({ excused: true });
    // Sent 1.5 s after the node died: the executor knew.
    expect(
      findReruns([run("w0", T0 + 3_500, T0 + 3_800), run("w0", T0 + 3_600)], new Set(), kills).reruns[0],
    ).toMatchObject({ excused: false });
  });

  it("excuses a re-asked turn only when it was in flight at a dispatcher kill, never in the rolling restart", () => {
    const ask = (receivedAt: number, respondedAt?: number) => ({
      seed: "s",
      turn: 1,
      receivedAt,
      ...(respondedAt ? { respondedAt } : {}),
    });
    const kill = T0 + 10_000;
    expect(findReasks([ask(T0 + 9_000, T0 + 9_100), ask(T0 + 40_000)], [kill], undefined)[0]).toMatchObject({
      excused: true,
    });
    // Received 1 ms after the kill (full run of 2026-12-03 07:23): sent by the dispatcher just before it died.
    expect(findReasks([ask(kill + 1, kill + 800), ask(T0 + 24_000)], [kill], undefined)[0]).toMatchObject({
      excused: true,
    });
    // Received well after the kill: another dispatcher asked it, and its answer was not lost.
    expect(findReasks([ask(kill + 500, kill + 1_300), ask(T0 + 24_000)], [kill], undefined)[0]).toMatchObject({
      excused: false,
    });
    expect(findReasks([ask(T0 + 5_000, T0 + 5_100), ask(T0 + 40_000)], [kill], undefined)[0]).toMatchObject({
      excused: false,
    });
    // Two runs side by side after a node's death lapsed the first one's lease: asked 12 ms apart.
    expect(findReasks([ask(T0 + 20_000, T0 + 20_800), ask(T0 + 20_012)], [], undefined, [T0 + 5_000])[0]).toMatchObject(
      { excused: true },
    );
    // The same asks with no node death, or one after the first ask, or once the first was answered: not excused.
    expect(findReasks([ask(T0 + 20_000, T0 + 20_800), ask(T0 + 20_012)], [], undefined, [])[0]).toMatchObject({
      excused: false,
    });
    expect(
      findReasks([ask(T0 + 20_000, T0 + 20_800), ask(T0 + 20_012)], [], undefined, [T0 + 20_005])[0],
    ).toMatchObject({ excused: false });
    expect(findReasks([ask(T0 + 20_000, T0 + 20_800), ask(T0 + 21_000)], [], undefined, [T0 + 5_000])[0]).toMatchObject(
      { excused: false },
    );
    const rolling = { startAt: T0 + 100_000, endAt: T0 + 150_000 };
    expect(findReasks([ask(T0 + 120_000, T0 + 120_060), ask(T0 + 121_000)], [kill], rolling)[0]).toMatchObject({
      excused: false,
      duringRolling: 1,
    });
    // Asked before the last dispatcher SIGKILL and re-asked during the rolling restart: the kill's doing.
    expect(findReasks([ask(T0 + 5_000, T0 + 5_100), ask(T0 + 110_000)], [kill], rolling)[0]).toMatchObject({
      excused: false,
      duringRolling: 0,
    });
    // A third ask is excused only by a kill the second was in flight at.
    const kills = [kill, T0 + 45_000];
    const asks = [ask(T0 + 9_000, T0 + 9_100), ask(T0 + 40_000, T0 + 40_800), ask(T0 + 75_000)];
    expect(findReasks(asks, kills, undefined)[0]).toMatchObject({ excused: false, unexcused: 1 });
    expect(findReasks(asks.slice(0, 2).concat(ask(T0 + 75_000)), [kill, T0 + 41_000], undefined)[0]).toMatchObject({
      excused: true,
    });
    // Answered 4.9 s before the dispatcher kill, but just after a node died: its record waited for the election.
    const afterNodeDeath = [ask(T0 + 4_000, T0 + 5_100), ask(T0 + 40_000)];
    expect(findReasks(afterNodeDeath, [kill], undefined, [T0 + 5_000])[0]).toMatchObject({ excused: true });
    // The same with the node's streams long since led again: unexcused.
    expect(findReasks(afterNodeDeath, [kill], undefined, [T0 - 20_000])[0]).toMatchObject({ excused: false });
  });

  it("sees a rate limit over-admitted at the tool", () => {
    const effects = [0, 10, 20].map((t) => run(`w${t}`, T0 + t, T0 + t + 300, { part: t }));
    const report = check(observations({ effects }));
    expect(checkNamed(report, "the rate limit").ok).toBe(false);
    const spread = [0, 10, 1_200].map((t) => run(`w${t}`, T0 + t, T0 + t + 300, { part: t }));
    expect(checkNamed(check(observations({ effects: spread })), "the rate limit").ok).toBe(true);
  });

  it("judges the limit where it grants: a bunch at the tool that a slow hop made is not an over-admission", () => {
    // Limit 2 per 1 s. Three calls reach the tool within 300 ms.
    const effects = [0, 100, 300].map((t) => run(`w${t}`, T0 + t));
    const startedAt = (at: Record<string, number>) => new Map(Object.entries(at).map(([id, t]) => [`r1 ${id}`, [t]]));
    const judge = (toolStarts: Map<string, number[]>) =>
      checkNamed(check(observations({ effects, toolStarts })), "the rate limit");
    // Granted 1.1 s apart, the first one 1.1 s late on its way to the tool: a slow hop, not the limiter.
    expect(judge(startedAt({ w0: T0 - 1_100, w100: T0 + 90, w300: T0 + 290 })).ok).toBe(true);
    // The same bunch delivered on time (each within 100 ms of its tool.started): over-admitted.
    expect(judge(startedAt({ w0: T0 - 50, w100: T0 + 90, w300: T0 + 290 })).ok).toBe(false);
    // Late deliveries do not excuse three starts within one window at the executors.
    expect(judge(startedAt({ w0: T0 - 400, w100: T0 - 300, w300: T0 + 290 })).ok).toBe(false);
  });

  it("measures from the executor's tool.started to the run at the tool, for the attempt that led to it", () => {
    const starts = new Map([["r1 w0", [T0 - 500, T0 + 900]]]);
    const runs = [run("w0", T0), run("w0", T0 + 1_000), run("w1", T0)];
    expect(deliveryDelays(attributeStarts(runs, starts))).toEqual([100, 500]);
    expect(startTimes(attributeStarts([run("w0", T0 + 1_000), run("w1", T0)], starts))).toEqual([T0, T0 + 900]);
  });

  it("counts each tool.started once: a second attempt that started before the first one's run arrived", () => {
    // Limit 2 per 1 s. w0's first attempt started at T0 - 1 100 and reached the tool only at T0 + 50
    // (a slow hop), after its second attempt had started at T0; w1 started at T0 + 100.
    const starts = new Map([
      ["r1 w0", [T0 - 1_100, T0]],
      ["r1 w1", [T0 + 100]],
    ]);
    const runs = [run("w0", T0 + 50), run("w0", T0 + 60), run("w1", T0 + 150)];
    expect(startTimes(attributeStarts(runs, starts))).toEqual([T0 - 1_100, T0, T0 + 100]);
    expect(checkNamed(check(observations({ effects: runs, toolStarts: starts })), "the rate limit").ok).toBe(true);
    // Three starts within one second are an over-admission, and the report names them.
    const crowded = new Map([...starts, ["r1 w0", [T0 - 800, T0]]]);
    const judged = checkNamed(check(observations({ effects: runs, toolStarts: crowded })), "the rate limit");
    expect(judged.ok).toBe(false);
    expect(judged.detail).toContain("r1 w0 +0 ms tool.started");
    expect(judged.detail).toContain("r1 w1 +900 ms tool.started");
  });

  it("counts a call sent again within its attempt once: one permit, one tool.started", () => {
    // Limit 2 per 1 s. w0 started once and reached the tool twice (its request sent again after a lost
    // reply, the second answered from the tool's record of the run); w1 started 100 ms later.
    const starts = new Map([
      ["r1 w0", [T0]],
      ["r1 w1", [T0 + 100]],
    ]);
    const runs = [run("w0", T0 + 5), { ...run("w0", T0 + 280), answeredFrom: "running" as const }, run("w1", T0 + 105)];
    expect(startTimes(attributeStarts(runs, starts))).toEqual([T0, T0 + 100]);
    expect(checkNamed(check(observations({ effects: runs, toolStarts: starts })), "the rate limit").ok).toBe(true);
    expect(deliveryDelays(attributeStarts(runs, starts))).toEqual([5, 5]);
  });

  it("counts a start with no tool.started only where every moment it may have been granted falls", () => {
    // Limit 2 per 1 s. w0 and w1 started at the executors at T0 and T0 + 900, and the longest delivery
    // seen is w0's 200 ms. A speculative call (no tool.started) reached the tool at T0 + 50: it may have
    // been granted at T0 - 150, so it does not prove three in T0's window.
    const starts = new Map([
      ["r1 w0", [T0]],
      ["r1 w1", [T0 + 900]],
    ]);
    const runs = (speculativeAt: number) => [run("w0", T0 + 200), run("w1", T0 + 905), run("s1-w", speculativeAt)];
    const judge = (speculativeAt: number) =>
      checkNamed(check(observations({ effects: runs(speculativeAt), toolStarts: starts })), "the rate limit");
    expect(judge(T0 + 50).ok).toBe(true);
    // Reaching the tool at T0 + 950, it was granted within T0's window whatever its delivery took.
    const judged = judge(T0 + 950);
    expect(judged.ok).toBe(false);
    expect(judged.detail).toContain("r1 s1-w +950 ms at the tool");
  });

  it("counts what the nemesis did", () => {
    const actions: NemesisAction[] = [
      { at: T0, kind: NemesisKind.kill, target: "executor#1", actor: "executor" },
      { at: T0 + 1, kind: NemesisKind.nodeKill, target: "node0" },
      { at: T0 + 2, kind: NemesisKind.phase, target: "rolling-restart" },
      { at: T0 + 3, kind: NemesisKind.term, target: "dispatcher#1", actor: "dispatcher" },
      { at: T0 + 4, kind: NemesisKind.phase, target: "rolling-restart-done" },
    ];
    expect(check(observations({ actions })).numbers).toMatchObject({ executorKills: 1, nodeKills: 1, rollingTerms: 1 });
  });
});
