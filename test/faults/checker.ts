/**
 * The independent checker: judges a fault run only by what can be seen from outside the system — the
 * replies each publish got, the tools' own effect log, the model server's log of turns, and what the
 * nemesis did when. Pure: no NATS, so its rules have unit tests of their own.
 */
import { maxInAnyWindow } from "@toolformer/testing";
import type { Leftovers } from "./leftovers.ts";
import type { ClientOutage, RequestRecord } from "./load.ts";
import type { ModelAsk } from "./model.ts";
import { NemesisKind, type NemesisAction } from "./nemesis.ts";
import {
  attributeStarts,
  busiestAtExecutors,
  checkReplies,
  deliveryDelays,
  DELIVERY_JITTER_MS,
  describeStarts,
  executorKillExcuses,
  findReasks,
  findReruns,
  latencies,
  nodeKillExcuses,
  FRONT_DOORS_MOVE_MS,
  percentile,
  rollingWindow,
  timesOf,
  type Failure,
  type ReaskedTurn,
  type RerunCall,
  type UnansweredPublish,
  type WrongAnswer,
} from "./rules.ts";
import { WORK_TOOL } from "./scenario.ts";
import type { Effect } from "./tool-service.ts";

export interface FinalExit {
  target: string;
  code: number | null;
  signal: string | null;
  afterMs: number;
  forced: boolean;
}

export interface Observations {
  requests: RequestRecord[];
  /** When the client's own connection was down (its publishes then are not the system's to answer). */
  clientOutages?: ClientOutage[];
  effects: Effect[];
  /** `requestId callId` of speculative calls (from `speculation.started` events). */
  speculativeCalls: ReadonlySet<string>;
  /** `requestId callId` -> `at` of its `tool.started` events, when the client saw them. */
  toolStarts?: ReadonlyMap<string, number[]>;
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

export interface PublishInContext {
  requestId: string;
  publish: number;
  acceptedAfterMs: number | null;
  answeredAfterMs: number | null;
  nemesis: string[];
}

export interface Report {
  numbers: Record<string, number | string | null>;
  checks: Check[];
  wrongAnswers: WrongAnswer[];
  failed: Failure[];
  unanswered: string[];
  /** Publishes with no reply that no excuse explains, each in the context of the nemesis's actions. */
  unansweredPublishes: PublishInContext[];
  reruns: RerunCall[];
  /** Calls the tool received more than once (runs and repeats it answered from its record). */
  resent: RerunCall[];
  reasked: ReaskedTurn[];
}

export function check(observations: Observations): Report {
  const { requests, effects, asks, actions, rateLimit } = observations;
  const frontDoorKills = actions
    .filter((a) => (a.kind === NemesisKind.kill && a.actor === "dispatcher") || a.kind === NemesisKind.nodeKill)
    .map((a) => a.at);
  const executorKills = timesOf(actions, NemesisKind.kill, "executor");
  const dispatcherKills = timesOf(actions, NemesisKind.kill, "dispatcher");
  const rolling = rollingWindow(actions);
  const nodeKills = actions.filter((a) => a.kind === NemesisKind.nodeKill).map((a) => a.at);
  const replies = checkReplies(requests, observations.clientOutages ?? [], {
    frontDoor: frontDoorKills,
    dispatcher: dispatcherKills,
    node: nodeKills,
  });
  const runs = effects.filter((e) => e.answeredFrom === undefined);
  const { reruns, speculativeRuns, modelRuns } = findReruns(
    runs,
    observations.speculativeCalls,
    executorKillExcuses(executorKills, nodeKills),
  );
  const { reruns: resent } = findReruns(effects, observations.speculativeCalls, [
    ...executorKillExcuses(executorKills, nodeKills),
    ...nodeKillExcuses(nodeKills),
  ]);
  const reasked = findReasks(asks, dispatcherKills, rolling, nodeKills);
  const workEffects = effects.filter((e) => e.tool === WORK_TOOL);
  const workStarts = workEffects.map((e) => e.startedAt).sort((a, b) => a - b);
  const mostInWindow = maxInAnyWindow(workStarts, rateLimit.intervalMs);
  const mostInWindowLessJitter = maxInAnyWindow(workStarts, rateLimit.intervalMs - DELIVERY_JITTER_MS);
  const toolStarts = observations.toolStarts ?? new Map<string, number[]>();
  const attributed = attributeStarts(workEffects, toolStarts);
  const delays = deliveryDelays(attributed);
  const busiest = busiestAtExecutors(attributed, rateLimit.intervalMs, delays.at(-1) ?? 0);
  const mostAtExecutor = busiest.length;
  const overAdmitted =
    mostAtExecutor > rateLimit.limit
      ? `; the busiest window at the executors: ${describeStarts(busiest, attributed, toolStarts).join("; ")}`
      : "";
  const warmup = latencies(requests.filter((r) => r.phase === "warmup"));
  const faults = latencies(requests.filter((r) => r.phase === "faults"));
  const ratio = (a: number | null, b: number | null) =>
    a === null || b === null || b === 0 ? null : +(a / b).toFixed(2);
  const sum = <T>(items: T[], count: (item: T) => number) => items.reduce((total, item) => total + count(item), 0);
  const extra = (calls: RerunCall[], excused: boolean) =>
    sum(calls, (r) => (excused ? r.callIds.length - 1 - r.unexcused : r.unexcused));
  const extraRuns = (excused: boolean) => extra(reruns, excused);
  const extraSends = (excused: boolean) => extra(resent, excused);
  const extraAsks = (which: "excused" | "unexcused" | "duringRolling") =>
    sum(reasked, (t) =>
      which === "excused" ? t.asks - 1 - t.unexcused : which === "unexcused" ? t.unexcused : t.duringRolling,
    );
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
    repliesResentAtKill: replies.repliesResentAtKill,
    publishesUnanswered: replies.publishesUnanswered.length,
    publishesLostWithClient: replies.publishesLostWithClient,
    publishesLostAtKill: replies.publishesLostAtKill,
    repliesLostWithClient: replies.repliesLostWithClient,
    repeatsLostWithFrontDoor: replies.repeatsLostWithFrontDoor,
    clientOutages: observations.clientOutages?.length ?? 0,
    inconsistentReplies: replies.inconsistent,
    publishesRefusedNoResponders: replies.refused,
    publishesRefusedAtNodeDeath: replies.refusedAtNodeDeath,
    actorKills: actions.filter((a) => a.kind === NemesisKind.kill).length,
    dispatcherKills: dispatcherKills.length,
    executorKills: executorKills.length,
    nodeKills: nodeKills.length,
    rollingTerms: actions.filter((a) => a.kind === NemesisKind.term).length,
    toolRuns: runs.length,
    toolRepeatsAnsweredFromRecord: effects.length - runs.length,
    modelCallRuns: modelRuns,
    speculativeRuns,
    callsRunTwiceExcused: extraRuns(true),
    callsRunTwiceUnexcused: extraRuns(false),
    callsSentAgainExcused: extraSends(true),
    callsSentAgainUnexcused: extraSends(false),
    modelAsks: asks.length,
    turnsAskedTwiceExcused: extraAsks("excused"),
    turnsAskedTwiceUnexcused: extraAsks("unexcused"),
    turnsAskedTwiceDuringRolling: extraAsks("duringRolling"),
    rateLimit: `${rateLimit.limit}/${rateLimit.intervalMs}ms`,
    mostWorkStartsInWindow: mostInWindow,
    mostWorkStartsInWindowLessJitter: mostInWindowLessJitter,
    mostWorkStartsInWindowAtExecutor: mostAtExecutor,
    workDeliveryDelayP50Ms: percentile(delays, 50),
    workDeliveryDelayP99Ms: percentile(delays, 99),
    workDeliveryDelayMaxMs: delays.at(-1) ?? null,
    leakedConsumers: leftovers ? leftovers.leakedConsumers.length : null,
    consumersCountedNotListed: leftovers ? leftovers.leakedConsumerCount - leftovers.leakedConsumers.length : null,
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
      ok: replies.duplicateReplies === 0 && replies.publishesUnanswered.length === 0,
      detail: `${replies.duplicateReplies} extra replies (besides ${replies.repliesResentAtKill} sent again because their dispatcher was killed before the request was confirmed done); ${replies.publishesUnanswered.length} publishes never answered (besides ${replies.publishesLostWithClient} sent as the client's own connection dropped, ${replies.repliesLostWithClient} waiting when it dropped and sent again at the reconnect, ${replies.publishesLostAtKill} sent right at a kill and sent again, ${replies.repeatsLostWithFrontDoor} whose front door was killed while they waited for the answer another publish got, or while a node's death stalled it)`,
    },
    {
      name: "no publish refused for want of a responder",
      ok: replies.refused === 0,
      detail: `${replies.refused} publishes got "no responders" (a dispatcher copy was always running), besides ${replies.refusedAtNodeDeath} within ${FRONT_DOORS_MOVE_MS} ms of a node's SIGKILL, while the front doors connected to it moved`,
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
      name: "no call sent to its tool twice (except in flight at an executor or node kill)",
      ok: extraSends(false) === 0,
      detail: `${extraSends(false)} extra sends unexcused, ${extraSends(true)} excused; the tool answered ${numbers.toolRepeatsAnsweredFromRecord} repeats from its record of the call id`,
    },
    {
      name: "no model turn asked twice (except in flight at a dispatcher kill)",
      ok: extraAsks("unexcused") === 0,
      detail: `${extraAsks("unexcused")} re-asks unexcused, ${extraAsks("excused")} excused`,
    },
    {
      name: "no model turn asked twice during the rolling SIGTERM restart",
      ok: rolling !== undefined && extraAsks("duringRolling") === 0,
      detail: rolling ? `${extraAsks("duringRolling")} re-asks` : "no rolling restart ran",
    },
    {
      name: "the rate limit never over-admitted",
      ok: mostAtExecutor <= rateLimit.limit,
      detail: `at the executors at most ${mostAtExecutor} starts in ${rateLimit.intervalMs} ms, limit ${rateLimit.limit}; at the tool ${mostInWindow} in ${rateLimit.intervalMs} ms (${mostInWindowLessJitter} in ${rateLimit.intervalMs - DELIVERY_JITTER_MS} ms), tool.started to the tool p99 ${numbers.workDeliveryDelayP99Ms} ms, max ${numbers.workDeliveryDelayMaxMs} ms${overAdmitted}`,
    },
    {
      name: "no consumer leaked",
      // Judged on the consumers the server lists. nats-server counts a stream's consumers from its
      // assignment records (nats-server#2895), which after a node's death may hold an ephemeral
      // consumer it no longer has or lists: that count is reported, not judged.
      ok: leftovers !== undefined && leftovers.leakedConsumers.length === 0,
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
  const { publishesUnanswered, ...counted } = replies;
  const unansweredPublishes = publishesUnanswered.map((publish) => inContext(publish, actions));
  return { numbers, checks, ...counted, unansweredPublishes, reruns, resent, reasked };
}

/** What the nemesis did around an unanswered publish: enough to tell from a log's tail what it waited for. */
const CONTEXT_KINDS: ReadonlySet<NemesisKind> = new Set([
  NemesisKind.kill,
  NemesisKind.nodeKill,
  NemesisKind.nodeReady,
  NemesisKind.term,
]);

/** An unanswered publish, its request's times after it, and the nemesis's actions from 5 s before to 20 s after. */
function inContext(publish: UnansweredPublish, actions: NemesisAction[]): PublishInContext {
  const after = (at: number | undefined) => (at === undefined ? null : at - publish.at);
  const signed = (ms: number) => `${ms >= 0 ? "+" : ""}${ms} ms`;
  return {
    requestId: publish.requestId,
    publish: publish.publish,
    acceptedAfterMs: after(publish.acceptedAt),
    answeredAfterMs: after(publish.answeredAt),
    nemesis: actions
      .filter((a) => CONTEXT_KINDS.has(a.kind) && a.at >= publish.at - 5_000 && a.at <= publish.at + 20_000)
      .map((a) => `${a.kind} ${a.target} ${signed(a.at - publish.at)}`),
  };
}

function describeConsumers({ leakedConsumers, leakedConsumerCount, leakedByStream }: Leftovers): string {
  const shown = leakedConsumers
    .slice(0, 3)
    .map((c) => `${c.stream}/${c.name}${c.durable ? " (durable)" : ""} on ${c.filter || "everything"}`);
  const listed =
    leakedConsumers.length === 0
      ? "none listed"
      : `${leakedConsumers.length} listed: ${shown.join(", ")}${leakedConsumers.length > 3 ? ", …" : ""}`;
  if (leakedConsumerCount <= leakedConsumers.length) return listed;
  const counted = Object.entries(leakedByStream ?? {}).map(([stream, n]) => `${n} on ${stream}`);
  return `${listed}; the streams' consumer counts say ${leakedConsumerCount} (${counted.join(", ")}), not judged`;
}

function summarizeFailures(failed: Report["failed"]): string {
  const byKind = new Map<string, number>();
  for (const f of failed)
    byKind.set(`${f.status}/${f.code ?? "-"}`, (byKind.get(`${f.status}/${f.code ?? "-"}`) ?? 0) + 1);
  return (
    `${failed.length} failed` + (failed.length ? ` (${[...byKind].map(([k, n]) => `${k}: ${n}`).join(", ")})` : "")
  );
}
