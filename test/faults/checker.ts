/**
 * The independent checker: judges a fault run only by what can be seen from outside the system — the
 * replies each publish got, the tools' own effect log, the model server's log of turns, and what the
 * nemesis did when. Pure: no NATS, so its rules have unit tests of their own.
 */
import { canonicalJson } from "@toolformer/protocol";
import { maxInAnyWindow } from "@toolformer/testing";
import type { Leftovers } from "./leftovers.ts";
import type { Reply, RequestRecord } from "./load.ts";
import type { ModelAsk } from "./model.ts";
import { NemesisKind, type NemesisAction } from "./nemesis.ts";
import { expectedAnswer, WORK_TOOL } from "./scenario.ts";
import type { Effect } from "./tool-service.ts";

/** A model turn whose answer went out at most this long before a dispatcher was killed may be asked again. */
export const TURN_IN_FLIGHT_MS = 2_000;
/**
 * Time between the limiter's grant and the call reaching the tool service (two NATS hops on a loaded
 * two-core machine), allowed when windows are counted at the tool: the same allowance as
 * test/integration/remote-tool.test.ts. The count over the full window is reported too.
 */
export const DELIVERY_JITTER_MS = 100;
/** A re-ask this long after the rolling restart ended still counts as caused by it (a redelivery after ack_wait). */
export const ROLLING_TAIL_MS = 35_000;

export interface FinalExit {
  target: string;
  code: number | null;
  signal: string | null;
  afterMs: number;
  forced: boolean;
}

export interface Observations {
  requests: RequestRecord[];
  effects: Effect[];
  /** `requestId callId` of speculative calls (from `speculation.started` events). */
  speculativeCalls: ReadonlySet<string>;
  asks: ModelAsk[];
  actions: NemesisAction[];
  rateLimit: { limit: number; intervalMs: number };
  leftovers?: Leftovers;
  finalExits?: FinalExit[];
  promptExitMs: number;
  /** Actor copies expected at the end, and those running then. */
  copiesExpected?: number;
  copiesRunning?: number;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RerunCall {
  requestId: string;
  tool: string;
  callIds: string[];
  starts: number[];
  excused: boolean;
  why: string;
}

export interface ReaskedTurn {
  seed: string;
  turn: number;
  asks: number;
  firstReceivedAt: number;
  firstRespondedAt?: number;
  excused: boolean;
  duringRolling: boolean;
  why: string;
}

export interface Report {
  numbers: Record<string, number | string | null>;
  checks: Check[];
  wrongAnswers: { id: string; seed: string; got: string; expected: string; calls?: Reply["unsucceeded"] }[];
  failed: { id: string; status: string; code?: string; message?: string; raw?: Reply["raw"] }[];
  unanswered: string[];
  reruns: RerunCall[];
  reasked: ReaskedTurn[];
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

function latencies(requests: RequestRecord[]): number[] {
  return requests
    .flatMap((r) => {
      const first = r.publishes[0];
      const replies = r.publishes.flatMap((p) => p.replies.map((reply) => reply.at));
      return first && replies.length > 0 ? [Math.min(...replies) - first.at] : [];
    })
    .sort((a, b) => a - b);
}

function timesOf(actions: NemesisAction[], kind: NemesisKind, actor?: string): number[] {
  return actions.filter((a) => a.kind === kind && (actor === undefined || a.actor === actor)).map((a) => a.at);
}

/** The rolling restart's window: from its first SIGTERM to the last replacement serving. */
export function rollingWindow(actions: NemesisAction[]): { startAt: number; endAt: number } | undefined {
  const start = actions.find((a) => a.kind === NemesisKind.phase && a.target === "rolling-restart");
  const end = actions.find((a) => a.kind === NemesisKind.phase && a.target === "rolling-restart-done");
  return start && end ? { startAt: start.at, endAt: end.at } : undefined;
}

function checkReplies(requests: RequestRecord[]) {
  const wrongAnswers: Report["wrongAnswers"] = [];
  const failed: Report["failed"] = [];
  const unanswered: string[] = [];
  let correct = 0;
  let duplicateReplies = 0;
  let lastPublishUnanswered = 0;
  let earlierPublishUnanswered = 0;
  let refused = 0;
  let inconsistent = 0;
  for (const request of requests) {
    const replies = request.publishes.flatMap((p) => p.replies).sort((a, b) => a.at - b.at);
    request.publishes.forEach((publish, index) => {
      duplicateReplies += Math.max(0, publish.replies.length - 1);
      if (publish.refusedAt !== undefined) refused++;
      if (publish.replies.length > 0 || publish.refusedAt !== undefined) return;
      if (index === request.publishes.length - 1) lastPublishUnanswered++;
      else earlierPublishUnanswered++;
    });
    const first = replies[0];
    if (!first) {
      unanswered.push(request.id);
      continue;
    }
    if (replies.some((r) => r.status !== first.status || r.answer !== first.answer)) inconsistent++;
    const expected = expectedAnswer(request.seed);
    if (first.status !== "completed") {
      failed.push({
        id: request.id,
        status: first.status,
        ...(first.error?.code ? { code: first.error.code } : {}),
        ...(first.error?.message ? { message: first.error.message.slice(0, 200) } : {}),
        ...(first.raw ? { raw: first.raw } : {}),
      });
    } else if (first.answer !== expected) {
      wrongAnswers.push({
        id: request.id,
        seed: request.seed,
        got: first.answer ?? "",
        expected,
        ...(first.unsucceeded ? { calls: first.unsucceeded } : {}),
      });
    } else {
      correct++;
    }
  }
  return {
    wrongAnswers,
    failed,
    unanswered,
    correct,
    duplicateReplies,
    lastPublishUnanswered,
    earlierPublishUnanswered,
    inconsistent,
    refused,
  };
}

/**
 * Runs of the same call: the model's calls (not speculative ones) grouped by request, tool and canonical
 * arguments, which also catches a call run again under a new id. An extra run is excused only when an
 * earlier run of it was in flight (started, not finished) when an executor copy was SIGKILLed.
 */
export function findReruns(effects: Effect[], speculativeCalls: ReadonlySet<string>, executorKills: number[]) {
  const groups = new Map<string, Effect[]>();
  let speculativeRuns = 0;
  for (const effect of effects) {
    if (speculativeCalls.has(`${effect.requestId} ${effect.callId}`)) {
      speculativeRuns++;
      continue;
    }
    const key = `${effect.requestId}\n${effect.tool}\n${canonicalJson(effect.args)}`;
    groups.set(key, [...(groups.get(key) ?? []), effect]);
  }
  const reruns: RerunCall[] = [];
  for (const runs of groups.values()) {
    if (runs.length < 2) continue;
    runs.sort((a, b) => a.startedAt - b.startedAt);
    const first = runs[0]!;
    const inFlightKill = runs
      .slice(0, -1)
      .flatMap((run) =>
        executorKills.filter((at) => run.startedAt < at && (run.finishedAt === undefined || run.finishedAt > at)),
      );
    const nearest = executorKills
      .map((at) => ({ at, gap: Math.min(...runs.map((r) => Math.abs((r.finishedAt ?? r.startedAt) - at))) }))
      .sort((a, b) => a.gap - b.gap)[0];
    reruns.push({
      requestId: first.requestId,
      tool: first.tool,
      callIds: runs.map((r) => r.callId),
      starts: runs.map((r) => r.startedAt),
      excused: inFlightKill.length > 0,
      why:
        inFlightKill.length > 0
          ? `in flight at the executor kill at ${inFlightKill[0]}`
          : nearest
            ? `no executor kill while it ran (nearest ${nearest.gap} ms away)`
            : "no executor was killed",
    });
  }
  return { reruns, speculativeRuns, modelRuns: effects.length - speculativeRuns };
}

/**
 * Model turns (seed, turn index) asked more than once. A re-ask is excused only when the first ask was
 * in flight at a dispatcher SIGKILL: received before the kill, and answered at most TURN_IN_FLIGHT_MS
 * before it (or not at all). A re-ask counts as caused by the rolling SIGTERM restart when it came
 * during it (or up to ROLLING_TAIL_MS after) for a turn first asked after the last dispatcher SIGKILL,
 * so that no SIGKILL can have caused it.
 */
export function findReasks(
  asks: ModelAsk[],
  dispatcherKills: number[],
  rolling: { startAt: number; endAt: number } | undefined,
): ReaskedTurn[] {
  const groups = new Map<string, ModelAsk[]>();
  for (const ask of asks) {
    const key = `${ask.seed}\n${ask.turn}`;
    groups.set(key, [...(groups.get(key) ?? []), ask]);
  }
  const reasked: ReaskedTurn[] = [];
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    group.sort((a, b) => a.receivedAt - b.receivedAt);
    const first = group[0]!;
    const kill = dispatcherKills.find(
      (at) =>
        first.receivedAt <= at && (first.respondedAt === undefined || first.respondedAt >= at - TURN_IN_FLIGHT_MS),
    );
    const lastKill = Math.max(-Infinity, ...dispatcherKills);
    const duringRolling =
      rolling !== undefined &&
      first.receivedAt > lastKill &&
      group.slice(1).some((a) => a.receivedAt >= rolling.startAt && a.receivedAt <= rolling.endAt + ROLLING_TAIL_MS);
    const excused = kill !== undefined;
    reasked.push({
      seed: first.seed,
      turn: first.turn,
      asks: group.length,
      firstReceivedAt: first.receivedAt,
      ...(first.respondedAt === undefined ? {} : { firstRespondedAt: first.respondedAt }),
      excused,
      duringRolling,
      why: excused
        ? `in flight at the dispatcher kill at ${kill}`
        : `first answered at ${first.respondedAt ?? "never"}, not in flight at any dispatcher kill`,
    });
  }
  return reasked;
}

export function check(observations: Observations): Report {
  const { requests, effects, asks, actions, rateLimit } = observations;
  const replies = checkReplies(requests);
  const executorKills = timesOf(actions, NemesisKind.kill, "executor");
  const dispatcherKills = timesOf(actions, NemesisKind.kill, "dispatcher");
  const rolling = rollingWindow(actions);
  const { reruns, speculativeRuns, modelRuns } = findReruns(effects, observations.speculativeCalls, executorKills);
  const reasked = findReasks(asks, dispatcherKills, rolling);
  const workStarts = effects
    .filter((e) => e.tool === WORK_TOOL)
    .map((e) => e.startedAt)
    .sort((a, b) => a - b);
  const mostInWindow = maxInAnyWindow(workStarts, rateLimit.intervalMs);
  const mostInWindowLessJitter = maxInAnyWindow(workStarts, rateLimit.intervalMs - DELIVERY_JITTER_MS);
  const warmup = latencies(requests.filter((r) => r.phase === "warmup"));
  const faults = latencies(requests.filter((r) => r.phase === "faults"));
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || b === 0 ? null : +(a / b).toFixed(2);
  const extraRuns = (excused: boolean) =>
    reruns.filter((r) => r.excused === excused).reduce((sum, r) => sum + r.callIds.length - 1, 0);
  const extraAsks = (which: (t: ReaskedTurn) => boolean) =>
    reasked.filter(which).reduce((sum, t) => sum + t.asks - 1, 0);
  const publishes = requests.reduce((sum, r) => sum + r.publishes.length, 0);
  const finalExits = observations.finalExits ?? [];
  const rollingExits: FinalExit[] = actions.flatMap((a) =>
    a.kind === NemesisKind.exit && a.exit ? [{ target: `${a.target} (rolling)`, ...a.exit }] : [],
  );
  const exits = [...rollingExits, ...finalExits];
  const slowExits = exits.filter((e) => e.forced || e.code !== 0 || e.afterMs > observations.promptExitMs);
  const leftovers = observations.leftovers;
  const notServing = actions.filter((a) => a.kind === NemesisKind.notServing);
  const crashes = actions.filter((a) => a.kind === NemesisKind.crash);

  const numbers: Report["numbers"] = {
    requests: requests.length,
    warmupRequests: requests.filter((r) => r.phase === "warmup").length,
    faultRequests: requests.filter((r) => r.phase === "faults").length,
    publishes,
    resends: publishes - requests.length,
    requestsResent: requests.filter((r) => r.publishes.length > 1).length,
    completedCorrect: replies.correct,
    completedWrong: replies.wrongAnswers.length,
    failed: replies.failed.length,
    unanswered: replies.unanswered.length,
    duplicateReplies: replies.duplicateReplies,
    lastPublishUnanswered: replies.lastPublishUnanswered,
    earlierPublishUnanswered: replies.earlierPublishUnanswered,
    inconsistentReplies: replies.inconsistent,
    publishesRefusedNoResponders: replies.refused,
    actorKills: actions.filter((a) => a.kind === NemesisKind.kill).length,
    dispatcherKills: dispatcherKills.length,
    executorKills: executorKills.length,
    nodeKills: actions.filter((a) => a.kind === NemesisKind.nodeKill).length,
    rollingTerms: actions.filter((a) => a.kind === NemesisKind.term).length,
    toolRuns: effects.length,
    modelCallRuns: modelRuns,
    speculativeRuns,
    callsRunTwiceExcused: extraRuns(true),
    callsRunTwiceUnexcused: extraRuns(false),
    modelAsks: asks.length,
    turnsAskedTwiceExcused: extraAsks((t) => t.excused),
    turnsAskedTwiceUnexcused: extraAsks((t) => !t.excused),
    turnsAskedTwiceDuringRolling: extraAsks((t) => t.duringRolling && !t.excused),
    rateLimit: `${rateLimit.limit}/${rateLimit.intervalMs}ms`,
    mostWorkStartsInWindow: mostInWindow,
    mostWorkStartsInWindowLessJitter: mostInWindowLessJitter,
    leakedConsumers: leftovers ? leftovers.leakedConsumerCount : null,
    staleLedgerEntries: leftovers ? leftovers.staleLedgers.length : null,
    ledgerEntries: leftovers ? leftovers.ledgerEntries : null,
    slowOrFailedExits: exits.length > 0 ? slowExits.length : null,
    slowestExitMs: exits.length > 0 ? Math.max(...exits.map((e) => e.afterMs)) : null,
    warmupP50Ms: percentile(warmup, 50),
    warmupP99Ms: percentile(warmup, 99),
    faultsP50Ms: percentile(faults, 50),
    faultsP99Ms: percentile(faults, 99),
    p50Ratio: ratio(percentile(faults, 50), percentile(warmup, 50)),
    p99Ratio: ratio(percentile(faults, 99), percentile(warmup, 99)),
  };

  const checks: Check[] = [
    {
      name: "every request answered",
      ok: replies.unanswered.length === 0,
      detail: `${replies.unanswered.length} unanswered`,
    },
    {
      name: "exactly one reply per publish",
      ok: replies.duplicateReplies === 0 && replies.lastPublishUnanswered === 0,
      detail: `${replies.duplicateReplies} extra replies; ${replies.lastPublishUnanswered} last publishes unanswered (${replies.earlierPublishUnanswered} publishes followed by a re-send unanswered)`,
    },
    {
      name: "no publish refused for want of a responder",
      ok: replies.refused === 0,
      detail: `${replies.refused} publishes got "no responders" (a dispatcher copy was always running)`,
    },
    {
      name: "every completed answer is the fault-free one",
      ok: replies.wrongAnswers.length === 0,
      detail: `${replies.wrongAnswers.length} completed with a wrong answer`,
    },
    { name: "no request failed", ok: replies.failed.length === 0, detail: summarizeFailures(replies.failed) },
    {
      name: "no call ran twice (except in flight at an executor kill)",
      ok: extraRuns(false) === 0,
      detail: `${extraRuns(false)} extra runs unexcused, ${extraRuns(true)} excused`,
    },
    {
      name: "no model turn asked twice (except in flight at a dispatcher kill)",
      ok: extraAsks((t) => !t.excused) === 0,
      detail: `${extraAsks((t) => !t.excused)} re-asks unexcused, ${extraAsks((t) => t.excused)} excused`,
    },
    {
      name: "no model turn asked twice during the rolling SIGTERM restart",
      ok: rolling !== undefined && extraAsks((t) => t.duringRolling && !t.excused) === 0,
      detail: rolling ? `${extraAsks((t) => t.duringRolling && !t.excused)} re-asks` : "no rolling restart ran",
    },
    {
      name: "the rate limit never over-admitted",
      ok: mostInWindowLessJitter <= rateLimit.limit,
      detail: `at most ${mostInWindowLessJitter} starts in ${rateLimit.intervalMs - DELIVERY_JITTER_MS} ms (${mostInWindow} in ${rateLimit.intervalMs} ms); limit ${rateLimit.limit}`,
    },
    {
      name: "no consumer leaked",
      ok: leftovers !== undefined && leftovers.leakedConsumerCount === 0,
      detail: leftovers ? describeConsumers(leftovers) : "not looked at",
    },
    {
      name: "no stale speculation ledger entry",
      ok: leftovers !== undefined && leftovers.staleLedgers.length === 0,
      detail: leftovers ? `${leftovers.staleLedgers.length} of ${leftovers.ledgerEntries} entries` : "not looked at",
    },
    {
      name: "every restarted copy served again, none crashed",
      ok: notServing.length === 0 && crashes.length === 0 && observations.copiesRunning === observations.copiesExpected,
      detail: `${notServing.length} not serving, ${crashes.length} crashes; ${observations.copiesRunning}/${observations.copiesExpected} copies running at the end`,
    },
    {
      name: "every actor copy exits promptly on SIGTERM (rolling restart and final)",
      ok: finalExits.length > 0 && slowExits.length === 0,
      detail:
        slowExits.map((e) => `${e.target}: ${e.signal ?? `code ${e.code}`} after ${e.afterMs} ms`).join(", ") ||
        `${exits.length} exited, slowest ${numbers.slowestExitMs} ms`,
    },
  ];
  return { numbers, checks, ...replies, reruns, reasked };
}

function describeConsumers({ leakedConsumers, leakedConsumerCount }: Leftovers): string {
  const shown = leakedConsumers
    .slice(0, 3)
    .map((c) => `${c.stream}/${c.name}${c.durable ? " (durable)" : ""} on ${c.filter || "everything"}`);
  if (leakedConsumerCount === 0) return "none";
  return `${leakedConsumerCount} left: ${shown.join(", ")}${leakedConsumerCount > 3 ? ", …" : ""}`;
}

function summarizeFailures(failed: Report["failed"]): string {
  const byKind = new Map<string, number>();
  for (const f of failed)
    byKind.set(`${f.status}/${f.code ?? "-"}`, (byKind.get(`${f.status}/${f.code ?? "-"}`) ?? 0) + 1);
  return (
    `${failed.length} failed` + (failed.length ? ` (${[...byKind].map(([k, n]) => `${k}: ${n}`).join(", ")})` : "")
  );
}
