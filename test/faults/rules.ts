/**
 * The checker's rules, one per kind of promise: replies per publish, calls run more than once, model
 * turns asked more than once. Pure functions over what was observed from outside the system.
 */
import { REQUEST_ACK_WAIT_MS } from "@toolformer/dispatcher";
import { canonicalJson } from "@toolformer/protocol";
import type { ClientOutage, Reply, RequestRecord } from "./load.ts";
import type { ModelAsk } from "./model.ts";
import { NemesisKind, type NemesisAction } from "./nemesis.ts";
import { expectedAnswer } from "./scenario.ts";
import type { Effect } from "./tool-service.ts";

/** A model turn whose answer went out at most this long before a dispatcher was killed may be asked again. */
export const TURN_IN_FLIGHT_MS = 2_000;

/**
 * How long after a node's death a request may be delivered to a second dispatcher while the first
 * still runs it: the first one's in-progress acks are lost while the consumer elects a leader
 * (STREAM_ELECTION_MS), and the message comes back once its ack wait has passed without one.
 */
export const LEASE_LAPSE_MS = REQUEST_ACK_WAIT_MS + 10_000;

/**
 * Two runs of one request after its lease lapsed (LEASE_LAPSE_MS) ask a turn side by side; the first
 * turn recorded wins and the other run stops (docs/reliability.md). Such an ask comes while the one
 * before is still unanswered, within that time of a node's death.
 */
function askedBesideAfterLeaseLapsed(before: ModelAsk, ask: ModelAsk, nodeKills: number[]): boolean {
  const beside = before.respondedAt === undefined || ask.receivedAt < before.respondedAt;
  return beside && nodeKills.some((node) => node <= before.receivedAt && ask.receivedAt <= node + LEASE_LAPSE_MS);
}
/**
 * Time between the limiter's grant and the call reaching the tool service (two NATS hops on a loaded
 * two-core machine), the allowance of test/integration/remote-tool.test.ts. The fault run reports its
 * tool-side count in windows this much shorter, but judges the limit at the executors: the hop to the
 * tool was measured at up to 307 ms in CI (2026-12-04), bunching calls granted apart.
 */
export const DELIVERY_JITTER_MS = 100;
/** A publish sent this long before the client's own connection dropped may have been lost with it. */
export const CLIENT_OUTAGE_MARGIN_MS = 2_000;
/**
 * A publish sent this close to a dispatcher or node SIGKILL may have gone to the dying process (a core
 * NATS request is delivered at most once); if it was never accepted and the client sent it again, it is
 * counted apart, as the client's re-send is the documented way back.
 */
export const PUBLISH_AT_KILL_MS = 1_000;
/** A re-ask this long after the rolling restart ended still counts as caused by it (a redelivery after ack_wait). */
export const ROLLING_TAIL_MS = 35_000;

export interface RerunCall {
  requestId: string;
  tool: string;
  callIds: string[];
  starts: number[];
  /** Receipts after the first that no excuse explains. */
  unexcused: number;
  excused: boolean;
  why: string;
}

export interface ReaskedTurn {
  seed: string;
  turn: number;
  asks: number;
  firstReceivedAt: number;
  firstRespondedAt?: number;
  /** Asks after the first that no dispatcher kill explains… */
  unexcused: number;
  /** …of which this many came during the rolling restart. */
  duringRolling: number;
  excused: boolean;
  why: string;
}

export interface WrongAnswer {
  id: string;
  seed: string;
  got: string;
  expected: string;
  calls?: Reply["unsucceeded"];
}

export interface Failure {
  id: string;
  status: string;
  code?: string;
  message?: string;
  raw?: Reply["raw"];
}

/** A publish that got no reply and that no excuse explains: when, and how its request fared otherwise. */
export interface UnansweredPublish {
  requestId: string;
  /** Which publish of the request (0: the first). */
  publish: number;
  at: number;
  acceptedAt?: number;
  /** When the request's first reply came, on another publish. */
  answeredAt?: number;
}

export const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

export function latencies(requests: RequestRecord[]): number[] {
  return requests
    .flatMap((r) => {
      const first = r.publishes[0];
      const replies = r.publishes.flatMap((p) => p.replies.map((reply) => reply.at));
      return first && replies.length > 0 ? [Math.min(...replies) - first.at] : [];
    })
    .sort((a, b) => a - b);
}

export function timesOf(actions: NemesisAction[], kind: NemesisKind, actor?: string): number[] {
  return actions.filter((a) => a.kind === kind && (actor === undefined || a.actor === actor)).map((a) => a.at);
}

/** The rolling restart's window: from its first SIGTERM to the last replacement serving. */
export function rollingWindow(actions: NemesisAction[]): { startAt: number; endAt: number } | undefined {
  const start = actions.find((a) => a.kind === NemesisKind.phase && a.target === "rolling-restart");
  const end = actions.find((a) => a.kind === NemesisKind.phase && a.target === "rolling-restart-done");
  return start && end ? { startAt: start.at, endAt: end.at } : undefined;
}

/**
 * A reply heard again is excused when the dispatcher that sent the first was SIGKILLed before JetStream
 * confirmed the request done: its run comes back to another copy, which finds the stored reply and sends
 * it again (docs/protocol.md). The confirmation normally takes a round trip, or waits for the stream's
 * election when a node died just before; the second reply comes after the kill.
 */
function sentAgainAfterKill(firstAt: number, againAt: number, dispatcherKills: number[], nodeKills: number[]): boolean {
  return dispatcherKills.some(
    (kill) =>
      kill >= firstAt &&
      kill <= againAt &&
      (kill - firstAt <= REPLY_IN_TRANSIT_MS || heldUpByNodeDeath(firstAt, kill, nodeKills, REPLY_IN_TRANSIT_MS)),
  );
}

/**
 * How long after the answer a repeat's front door may take to see it: it follows the record through a
 * watch, and reads it every second besides (a watch made while a node died can stay silent), so one
 * killed within this of the answer may have died before it could send it on.
 */
export const REPEAT_NOTICE_MS = 1_000 + DELIVERY_JITTER_MS;

/**
 * How long one read or write of a front door may wait unanswered while a node's streams elect leaders:
 * the client's JetStream timeout (5 s by default). Front doors' logs in the quick runs of 2026-12-04
 * showed a publish's first read of the requests bucket taking 5.0 s after a node's death, and front
 * doors stalled on their publishes for up to 7 s: one killed then takes them with it, whenever the
 * other publish of the request is answered.
 */
export const FRONT_DOOR_TRY_MS = 5_000;

/**
 * How long after a node's SIGKILL a publish may be refused for want of a responder: when every front
 * door copy was connected to that node, none is subscribed until one has reconnected to another node
 * and its interest has reached the client's node (107 ms in the full run of 2026-12-03 15:29).
 */
export const FRONT_DOORS_MOVE_MS = 2_000;

/**
 * Replies per publish and what they say. A publish with no reply fails the check unless it was refused
 * ("no responders", counted apart; excused within FRONT_DOORS_MOVE_MS of a node's SIGKILL), sent as
 * the client's own connection dropped, still waiting when it dropped and sent again at the reconnect
 * (its reply may have come during the outage), sent right at a dispatcher or node SIGKILL and then sent
 * again because it was never accepted, or was a repeat of a request answered on another publish,
 * waiting at a front door that was killed before that answer came or within REPEAT_NOTICE_MS after it
 * (a repeat waits for the first one's reply in the memory of the dispatcher that took it, and
 * docs/protocol.md tells a client that heard nothing to send again). The first publish is such a
 * repeat too when the client's re-send was queued first (both retried through a node's death). A front
 * door kill excuses a publish later too while a node's death may still have stalled the front door it
 * waited at (heldUpByNodeDeath with FRONT_DOOR_TRY_MS): the checker cannot see which front door a
 * publish reached.
 */
export function checkReplies(
  requests: RequestRecord[],
  outages: ClientOutage[],
  kills: { frontDoor: number[]; dispatcher: number[]; node: number[] },
) {
  const frontDoorKills = kills.frontDoor;
  const duringOutage = (at: number) =>
    outages.some((o) => at >= o.from - CLIENT_OUTAGE_MARGIN_MS && (o.to === undefined || at <= o.to));
  const atKill = (at: number) => frontDoorKills.some((kill) => Math.abs(at - kill) <= PUBLISH_AT_KILL_MS);
  const wrongAnswers: WrongAnswer[] = [];
  const failed: Failure[] = [];
  const unanswered: string[] = [];
  let correct = 0;
  let duplicateReplies = 0;
  let repliesResentAtKill = 0;
  const publishesUnanswered: UnansweredPublish[] = [];
  let publishesLostWithClient = 0;
  let publishesLostAtKill = 0;
  let repliesLostWithClient = 0;
  let repeatsLostWithFrontDoor = 0;
  let refused = 0;
  let refusedAtNodeDeath = 0;
  let inconsistent = 0;
  const frontDoorsMoving = (at: number) => kills.node.some((kill) => at >= kill && at - kill <= FRONT_DOORS_MOVE_MS);
  for (const request of requests) {
    const replies = request.publishes.flatMap((p) => p.replies).sort((a, b) => a.at - b.at);
    const answeredAt = replies[0]?.at;
    const frontDoorKilledWhileWaiting = (at: number) =>
      answeredAt !== undefined &&
      frontDoorKills.some(
        (kill) =>
          at < kill &&
          (kill < answeredAt + REPEAT_NOTICE_MS || heldUpByNodeDeath(at, kill, kills.node, FRONT_DOOR_TRY_MS)),
      );
    request.publishes.forEach((publish, index) => {
      for (const again of publish.replies.slice(1)) {
        if (sentAgainAfterKill(publish.replies[0]!.at, again.at, kills.dispatcher, kills.node)) repliesResentAtKill++;
        else duplicateReplies++;
      }
      if (publish.refusedAt !== undefined) {
        if (frontDoorsMoving(publish.refusedAt)) refusedAtNodeDeath++;
        else refused++;
      }
      if (publish.replies.length > 0 || publish.refusedAt !== undefined) return;
      const next = request.publishes[index + 1];
      const resentUnaccepted = next !== undefined && (request.acceptedAt === undefined || request.acceptedAt > next.at);
      const resentOnReconnect = request.publishes
        .slice(index + 1)
        .some((later) => later.onReconnect && outages.some((o) => o.from > publish.at && o.from <= later.at));
      if (duringOutage(publish.at)) publishesLostWithClient++;
      else if (resentOnReconnect) repliesLostWithClient++;
      else if (resentUnaccepted && atKill(publish.at)) publishesLostAtKill++;
      else if (frontDoorKilledWhileWaiting(publish.at)) repeatsLostWithFrontDoor++;
      else
        publishesUnanswered.push({
          requestId: request.id,
          publish: index,
          at: publish.at,
          ...(request.acceptedAt === undefined ? {} : { acceptedAt: request.acceptedAt }),
          ...(answeredAt === undefined ? {} : { answeredAt }),
        });
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
    repliesResentAtKill,
    publishesUnanswered,
    publishesLostWithClient,
    publishesLostAtKill,
    repliesLostWithClient,
    repeatsLostWithFrontDoor,
    inconsistent,
    refused,
    refusedAtNodeDeath,
  };
}

/**
 * Speculative calls' ids as the engine makes them (`s<round>-<match key>`): the fallback for a call whose
 * `speculation.started` event the client missed (its connection dropped), so it is not taken for a
 * call of the model.
 */
const SPECULATIVE_CALL_ID = /^s\d+-[0-9a-f]+$/;

/**
 * How long after a node's death a record may wait to be stored. nats-server's raft: a follower waits
 * 4–9 s for a lost leader before it campaigns (minElectionTimeoutDefault..maxElectionTimeoutDefault in
 * server/raft.go); measured on a 3-node cluster, a SIGKILLed leader's stream had none for 4.2–8.4 s
 * (2.9.10), 5.9–7.0 s (2.10.27), 4.4–6.6 s (2.15.1), and every write meanwhile was refused at once and
 * tried again (backoff up to 1 s). A try in flight to the dying node, or (2.9) through the new leader
 * in its first 10–20 ms, is lost and waits its 2 s try timeout (packages/runtime/src/try-timeout.ts).
 * The slowest write measured was stored 10.9 s after its leader's death: an election, a backoff, a lost
 * try, another backoff and the ack.
 */
export const STREAM_ELECTION_MS = 13_000;

/**
 * Whether the record of work done at `doneAt` may still have been waiting for a stream election at
 * `killAt`: the work ended at most `inFlightMs` before a node died or after, and the kill came before
 * that node's streams could have elected new leaders.
 */
export function heldUpByNodeDeath(doneAt: number, killAt: number, nodeKills: number[], inFlightMs: number): boolean {
  return nodeKills.some((node) => doneAt >= node - inFlightMs && killAt <= node + STREAM_ELECTION_MS + inFlightMs);
}

/** A fault that excuses a call received again: the receipt before it was in flight at `at`. */
export interface Excuse {
  at: number;
  what: string;
  /** The receipt before may have finished this long before `at` (its answer still on the way back). */
  answerInTransitMs: number;
  /** Node deaths that may have held the result's record up past `at` (heldUpByNodeDeath). */
  heldUpBy: number[];
  /** The receipt before may have started this long after `at`: sent before its sender heard of the fault. */
  noticeMs: number;
}

/**
 * How long after a tool answered its answer may still be on its way to the executor, or being recorded:
 * a reply to an executor whose server was killed is lost, and the executor sends the call again once it
 * has reconnected (docs/tools.md); a killed executor's call is delivered to another.
 */
export const REPLY_IN_TRANSIT_MS = 1_000;

/**
 * Executor SIGKILLs: a call running on the killed copy, whose answer was on its way to it or being
 * recorded, or whose record waited for a node's streams to elect leaders, is delivered to another.
 */
export const executorKillExcuses = (kills: number[], nodeKills: number[] = []): Excuse[] =>
  kills.map((at) => ({
    at,
    what: "executor kill",
    answerInTransitMs: REPLY_IN_TRANSIT_MS,
    heldUpBy: nodeKills,
    // A call the copy sent right before it died reaches the tool a moment after the kill.
    noticeMs: DELIVERY_JITTER_MS,
  }));

/**
 * How long after a node's death an executor may still send a call through the cluster before it hears
 * of it (the servers' INFO update of the cluster's URLs); it sends such a call again too, to be safe.
 */
export const NODE_DEATH_NOTICE_MS = 1_000;

/** NATS node SIGKILLs: the executors connected to the node lose their connection, and replies with it. */
export const nodeKillExcuses = (kills: number[]): Excuse[] =>
  kills.map((at) => ({
    at,
    what: "node kill",
    answerInTransitMs: REPLY_IN_TRANSIT_MS,
    heldUpBy: [],
    noticeMs: NODE_DEATH_NOTICE_MS,
  }));

/**
 * Receipts of the same call at the tool (runs, or also repeats answered from the tool's record): the
 * model's calls (not speculative ones) grouped by request, tool and canonical arguments, which also
 * catches a call run again under a new id. A receipt after the first is excused only when the one
 * before it was in flight at one of `excuses` that came before it.
 */
export function findReruns(effects: Effect[], speculativeCalls: ReadonlySet<string>, excuses: Excuse[]) {
  const groups = new Map<string, Effect[]>();
  let speculativeRuns = 0;
  for (const effect of effects) {
    if (speculativeCalls.has(callOf(effect)) || SPECULATIVE_CALL_ID.test(effect.callId)) {
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
    const why: string[] = [];
    let unexcused = 0;
    for (let i = 1; i < runs.length; i++) {
      const before = runs[i - 1]!;
      const excuse = excuses.find(
        ({ at, answerInTransitMs, heldUpBy, noticeMs }) =>
          before.startedAt < at + noticeMs &&
          (before.finishedAt === undefined ||
            before.finishedAt + answerInTransitMs > at ||
            heldUpByNodeDeath(before.finishedAt, at, heldUpBy, REPLY_IN_TRANSIT_MS)) &&
          at <= runs[i]!.startedAt,
      );
      if (excuse !== undefined) {
        why.push(`run ${i + 1}: the run before was in flight at the ${excuse.what} at ${excuse.at}`);
        continue;
      }
      unexcused++;
      const gaps = excuses.map(({ at }) => Math.abs((before.finishedAt ?? before.startedAt) - at));
      why.push(
        `run ${i + 1}: ${gaps.length ? `no ${[...new Set(excuses.map((e) => e.what))].join(" or ")} while the run before ran (nearest ${Math.min(...gaps)} ms away)` : "nothing was killed"}`,
      );
    }
    reruns.push({
      requestId: runs[0]!.requestId,
      tool: runs[0]!.tool,
      callIds: runs.map((r) => r.callId),
      starts: runs.map((r) => r.startedAt),
      unexcused,
      excused: unexcused === 0,
      why: why.join("; "),
    });
  }
  return { reruns, speculativeRuns, modelRuns: effects.length - speculativeRuns };
}

/**
 * Model turns (seed, turn index) asked more than once. An ask after the first is excused only when the
 * ask before it was in flight at a dispatcher SIGKILL that came before it: received before the kill,
 * and answered at most TURN_IN_FLIGHT_MS before it (or not at all), or answered while a node's death
 * kept the turn's record from being stored until after the kill (heldUpByNodeDeath). An unexcused re-ask counts as
 * caused by the rolling SIGTERM restart when it came during it (or up to ROLLING_TAIL_MS after) and the
 * ask before it came after the last dispatcher SIGKILL, so that no SIGKILL can have caused it.
 */
export function findReasks(
  asks: ModelAsk[],
  dispatcherKills: number[],
  rolling: { startAt: number; endAt: number } | undefined,
  nodeKills: number[] = [],
): ReaskedTurn[] {
  const groups = new Map<string, ModelAsk[]>();
  for (const ask of asks) {
    const key = `${ask.seed}\n${ask.turn}`;
    groups.set(key, [...(groups.get(key) ?? []), ask]);
  }
  const lastKill = Math.max(-Infinity, ...dispatcherKills);
  const reasked: ReaskedTurn[] = [];
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    group.sort((a, b) => a.receivedAt - b.receivedAt);
    const why: string[] = [];
    let unexcused = 0;
    let duringRolling = 0;
    for (let i = 1; i < group.length; i++) {
      const before = group[i - 1]!;
      const ask = group[i]!;
      const kill = dispatcherKills.find(
        (at) =>
          // An ask the dispatcher sent right before its SIGKILL reaches the model a moment after it.
          before.receivedAt <= at + DELIVERY_JITTER_MS &&
          at <= ask.receivedAt &&
          (before.respondedAt === undefined ||
            before.respondedAt >= at - TURN_IN_FLIGHT_MS ||
            heldUpByNodeDeath(before.respondedAt, at, nodeKills, TURN_IN_FLIGHT_MS)),
      );
      if (kill !== undefined) {
        why.push(`ask ${i + 1}: the ask before was in flight at the dispatcher kill at ${kill}`);
        continue;
      }
      if (askedBesideAfterLeaseLapsed(before, ask, nodeKills)) {
        why.push(`ask ${i + 1}: asked while the ask before was in flight, by a second run after a node's death`);
        continue;
      }
      unexcused++;
      const inRolling =
        rolling !== undefined &&
        before.receivedAt > lastKill &&
        ask.receivedAt >= rolling.startAt &&
        ask.receivedAt <= rolling.endAt + ROLLING_TAIL_MS;
      if (inRolling) duringRolling++;
      why.push(
        `ask ${i + 1}: the ask before was answered at ${before.respondedAt ?? "never"}, not in flight at a dispatcher kill${inRolling ? " (during the rolling restart)" : ""}`,
      );
    }
    const first = group[0]!;
    reasked.push({
      seed: first.seed,
      turn: first.turn,
      asks: group.length,
      firstReceivedAt: first.receivedAt,
      ...(first.respondedAt === undefined ? {} : { firstRespondedAt: first.respondedAt }),
      unexcused,
      duringRolling,
      excused: unexcused === 0,
      why: why.join("; "),
    });
  }
  return reasked;
}

/**
 * From the executor's `tool.started` (after the permit) to the run's start at the tool, for the model's
 * calls whose event the client saw: the delay a tool-side window count has to allow for.
 */
export function deliveryDelays(attributed: AttributedStart[]): number[] {
  return attributed
    .flatMap(({ effect, startedAt }) => (startedAt === undefined ? [] : [effect.startedAt - startedAt]))
    .sort((a, b) => a - b);
}

/** One run at the tool and the executor's `tool.started` of the attempt that led to it, if seen. */
export interface AttributedStart {
  effect: Effect;
  startedAt: number | undefined;
  /**
   * Every start of its call before it had been taken by an earlier run: the same attempt sent the
   * call again after a lost request or reply (the executor's invokers.ts does, with no new permit and
   * no new `tool.started`), so its start is counted once, with that earlier run.
   */
  resent: boolean;
}

/**
 * Pairs each run at the tool with the `tool.started` of the attempt that led to it: a call's runs, the
 * earliest first, each take the latest of its starts not yet taken that came before it. One to one,
 * because each start is one permit: a call delivered twice, whose second attempt started before the
 * first one's run reached the tool, would otherwise have both runs counted at the second start and
 * the first start not at all; and a call sent again within one attempt would have its start counted
 * twice. (A `tool.started` the client missed, as a node died, makes its run look like a resend of an
 * earlier attempt's: counted once where it was twice.)
 */
export function attributeStarts(effects: Effect[], toolStarts: ReadonlyMap<string, number[]>): AttributedStart[] {
  const untaken = new Map<string, number[]>();
  const attributed = new Map<Effect, AttributedStart>();
  for (const effect of [...effects].sort((a, b) => a.startedAt - b.startedAt)) {
    const call = callOf(effect);
    const all = toolStarts.get(call) ?? [];
    const starts = untaken.get(call) ?? [...all].sort((a, b) => a - b);
    untaken.set(call, starts);
    const index = starts.findLastIndex((at) => at <= effect.startedAt);
    const startedAt = index < 0 ? undefined : starts.splice(index, 1)[0];
    const resent = startedAt === undefined && all.some((at) => at <= effect.startedAt);
    attributed.set(effect, { effect, startedAt, resent });
  }
  return effects.map((effect) => attributed.get(effect)!);
}

/** A start the rate limit is judged by: its run, and its time at the executor if its `tool.started` was seen. */
export interface CountedStart {
  effect: Effect;
  /** The executor's `tool.started` (just after the permit), or else when the run reached the tool. */
  at: number;
  seen: boolean;
}

/** Each attempt's start, in order: a run the same attempt sent again is no start of its own. */
export function countedStarts(attributed: AttributedStart[]): CountedStart[] {
  return attributed
    .filter(({ resent }) => !resent)
    .map(({ effect, startedAt }) => ({ effect, at: startedAt ?? effect.startedAt, seen: startedAt !== undefined }))
    .sort((a, b) => a.at - b.at);
}

/**
 * The starts of the busiest window of `intervalMs` at the executors, where the rate limit is judged, as
 * the limiter's grants take effect there. A start whose `tool.started` was seen counts at it. One that
 * was not (a speculative call has none; a node's death can lose one) was granted up to `slackMs` (the
 * longest delivery seen) before its run reached the tool, and a window counts it only if it holds every
 * moment the grant may have been: counted where it reached the tool, a speculative call granted just
 * before a window and delivered inside it made one start too many, two clocks mixed. So a count over
 * the limit is starts the limiter really admitted.
 */
export function busiestAtExecutors(attributed: AttributedStart[], intervalMs: number, slackMs: number): CountedStart[] {
  const starts = countedStarts(attributed);
  const seen = starts.filter((start) => start.seen);
  const unseen = starts.filter((start) => !start.seen);
  // The sorted starts whose time is in [low, high).
  const within = (list: CountedStart[], low: number, high: number) =>
    list.slice(firstAtOrAfter(list, low), firstAtOrAfter(list, high));
  let best: CountedStart[] = [];
  for (const from of [...seen.map(({ at }) => at), ...unseen.map(({ at }) => at - slackMs)]) {
    const window = [...within(seen, from, from + intervalMs), ...within(unseen, from + slackMs, from + intervalMs)];
    if (window.length > best.length) best = window.sort((a, b) => a.at - b.at);
  }
  return best;
}

/** The index of the first of the sorted `starts` at or after `at`. */
function firstAtOrAfter(starts: CountedStart[], at: number): number {
  let low = 0;
  let high = starts.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (starts[middle]!.at < at) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * A window's starts, one line each, so that a failed rate-limit check can be read from its report alone:
 * the call, when it started and where that was seen, and how many runs and `tool.started` events the
 * call had in all.
 */
export function describeStarts(
  window: CountedStart[],
  attributed: AttributedStart[],
  toolStarts: ReadonlyMap<string, number[]>,
): string[] {
  const runsOf = (call: string) => attributed.filter(({ effect }) => callOf(effect) === call).length;
  const first = window[0]?.at ?? 0;
  return window.map(({ effect, at, seen }) => {
    const call = callOf(effect);
    return `${call} +${at - first} ms ${seen ? "tool.started" : "at the tool"} (tool +${effect.startedAt - first} ms${effect.answeredFrom ? `, answered from ${effect.answeredFrom}` : ""}; ${runsOf(call)} runs, ${toolStarts.get(call)?.length ?? 0} tool.started)`;
  });
}

/** A run's call as the client's `toolStarts` and the speculative calls name it: request id and call id. */
function callOf(effect: Effect): string {
  return `${effect.requestId} ${effect.callId}`;
}
