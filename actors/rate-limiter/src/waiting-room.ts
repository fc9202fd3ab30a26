import { setImmediate as endOfTurn } from "node:timers/promises";
import type { AcquireReply, AcquireRequest } from "@toolformer/protocol";
import { Coalescer } from "./coalescer.ts";
import { FairQueue, type Queued } from "./fair-queue.ts";
import type { AttemptOutcome } from "./limiter.ts";

export interface WaitingRoomDeps {
  /** One try against the shared state for calls asking for the same scopes, each all or nothing. */
  tryAcquire(batch: AcquireRequest[]): Promise<AttemptOutcome[]>;
  onCancel(requestId: string, listener: () => void): () => void;
  now(): number;
  /** The longest a request is held before its caller is told to ask again. */
  holdMs: number;
  /** Waiting this long counts as one priority level more. */
  agingMs: number;
  /** Pause before a line tries again after the shared state could not be reached. */
  retryMs: number;
  onError(error: unknown): void;
}

/** The most calls one try admits (one KV write per scope for all of them). */
const MAX_BATCH = 64;
/** Promotions remembered (for calls that ask again after a hold); beyond it, the oldest are forgotten. */
const PROMOTIONS_KEPT = 10_000;

const callKey = (requestId: string, callId: string) => JSON.stringify([requestId, callId]);

const scopeSignature = (request: AcquireRequest) =>
  request.scopes
    .map((scope) => scope.key)
    .sort()
    .join("\n");

interface Waiter extends Queued {
  request: AcquireRequest;
  receivedAt: number;
  respond(reply: AcquireReply): void;
  line?: Line;
  /** The scopes whose lines it waited in: refused by them, or queued behind a line that sleeps. */
  waitedFor: Set<string>;
  done: boolean;
  cleanups: (() => void)[];
}

interface Line {
  key: string;
  queue: FairQueue<Waiter>;
  pumping: boolean;
  /** When this line next tries its first waiter, epoch ms (for failing a hopeless newcomer fast). */
  nextTryAt: number;
}

/**
 * This copy's waiting lines, one per scope: a call joins the line of its first scope and moves to the
 * line of any scope that refuses it. Each line tries its next waiters (in fair order, batched) against
 * the shared state one try at a time, and sleeps until the scope said room appears, so a copy never
 * races itself for a key and a newcomer never overtakes the line. The caller gets an answer when granted, when it can no longer be in time,
 * when its request is cancelled, or after `holdMs` (then it asks again, keeping its place by `since`).
 */
export class WaitingRoom {
  readonly #lines = new Map<string, Line>();
  readonly #deps: WaitingRoomDeps;
  #closed = false;
  /** Tries and give-backs against the shared state that have not finished: stopping waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>();
  /** Calls whose priority was raised after they first asked, by call. */
  readonly #promoted = new Map<string, number>();
  /** Late grants to confirm, by the scopes they ask for. */
  readonly #confirmations = new Coalescer<Waiter>((_, batch) => this.#confirm(batch), MAX_BATCH);

  constructor(deps: WaitingRoomDeps) {
    this.#deps = deps;
  }

  /** Calls waiting in this copy's lines. */
  get waiting(): number {
    let count = 0;
    for (const line of this.#lines.values()) count += line.queue.size;
    return count;
  }

  /** Each line of this copy: its scope's key, how many wait in it, and since when the longest has asked. */
  lines(): { key: string; waiting: number; oldestSince?: number }[] {
    return [...this.#lines.values()].map((line) => {
      const since = [...line.queue].map((waiter) => waiter.since);
      return {
        key: line.key,
        waiting: line.queue.size,
        ...(since.length > 0 ? { oldestSince: Math.min(...since) } : {}),
      };
    });
  }

  /**
   * Lets every held call go with "ask again", and every later one (this copy is stopping; another copy
   * takes them). Resolves once the tries already under way have finished, so none writes to the shared
   * state after the connection closes; a grant they made for a caller let go here stays with its holder
   * (see `#settle`).
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const line of [...this.#lines.values()])
      for (const waiter of [...line.queue]) this.#finish(waiter, this.#refusal(waiter, "again", 0));
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * A call now matters more (a speculative call that a call of the model took over): it moves up to
   * `priority` in the line it waits in, and keeps that priority when it asks again after a hold.
   */
  promote(requestId: string, callId: string, priority: number): void {
    const key = callKey(requestId, callId);
    this.#promoted.delete(key);
    this.#promoted.set(key, priority);
    if (this.#promoted.size > PROMOTIONS_KEPT) this.#promoted.delete(this.#promoted.keys().next().value!);
    for (const line of this.#lines.values())
      for (const waiter of line.queue)
        if (waiter.request.requestId === requestId && waiter.request.callId === callId)
          waiter.priority = Math.max(waiter.priority, priority);
  }

  enter(request: AcquireRequest, respond: (reply: AcquireReply) => void): void {
    const waiter: Waiter = {
      request,
      tenant: request.tenant,
      priority: Math.max(request.priority, this.#promoted.get(callKey(request.requestId, request.callId)) ?? 0),
      since: request.since,
      receivedAt: this.#deps.now(),
      respond,
      waitedFor: new Set(),
      done: false,
      cleanups: [],
    };
    if (this.#closed) return respond({ granted: false, reason: "again", retryAfterMs: 0, scope: "" });
    this.#hold(waiter);
    if (waiter.done) return; // already cancelled
    // A late grant asking to be counted from now is answered at once, never queued behind the line.
    if (request.confirm) return this.#confirmations.add(scopeSignature(request), waiter);
    this.#line(waiter);
  }

  /** Joins the line of the request's first scope, where it is tried when that line next tries. */
  #line(waiter: Waiter): void {
    const first = waiter.request.scopes.map((scope) => scope.key).sort()[0];
    if (first === undefined) return this.#finish(waiter, { granted: true, heldMs: 0 });
    const sleepsMs = Math.max(0, (this.#lines.get(first)?.nextTryAt ?? 0) - this.#deps.now());
    if (sleepsMs > 0) waiter.waitedFor.add(first);
    this.#wait(waiter, first, sleepsMs);
  }

  /**
   * Counts late grants again from now, all that asked for the same scopes in one try: after a burst of
   * grants many come back at once, and one write each, one after another on the same keys, held the
   * last of them and the line's own next try for tens of ms. One that cannot be tried waits in line.
   */
  async #confirm(batch: Waiter[]): Promise<void> {
    const waiting = batch.filter((waiter) => !waiter.done);
    if (waiting.length === 0) return;
    if (this.#closed) return waiting.forEach((waiter) => this.#finish(waiter, this.#refusal(waiter, "again", 0)));
    try {
      const outcomes = await this.#track(this.#deps.tryAcquire(waiting.map((waiter) => waiter.request)));
      waiting.forEach((waiter, i) => this.#settle(waiter, outcomes[i]!, undefined));
    } catch (error) {
      if (this.#closed) return;
      this.#deps.onError(error);
      waiting.forEach((waiter) => this.#line(waiter));
    }
  }

  /** Answers after the hold time or at the deadline, and at once when the request is cancelled. */
  #hold(waiter: Waiter): void {
    const { deadline, requestId } = waiter.request;
    const releaseAt = Math.min(deadline, waiter.receivedAt + this.#deps.holdMs);
    const timer = setTimeout(
      () => this.#finish(waiter, this.#refusal(waiter, this.#deps.now() >= deadline ? "deadline" : "again", 0)),
      Math.max(0, releaseAt - this.#deps.now()),
    );
    waiter.cleanups.push(() => clearTimeout(timer));
    waiter.cleanups.push(
      this.#deps.onCancel(requestId, () => this.#finish(waiter, this.#refusal(waiter, "cancelled", 0))),
    );
  }

  /** Acts on one try: granted, or wait in the line of the scope that refused. */
  #settle(waiter: Waiter, outcome: AttemptOutcome, current: Line | undefined): void {
    // A grant its caller never heard (let go by the hold, a cancel, or this copy stopping) is not given
    // back: the holder asks again, here or at another copy, and is granted this same entry again (its
    // start moved to then). Another copy may have done so already, and the call be running: giving the
    // entry back then left a started call uncounted, one more admitted than the limit (docs/adr/0036).
    // Left unasked for, the entry counts until its window passes, a concurrency place until its lease.
    if (waiter.done) return;
    if (outcome.granted) {
      current?.queue.served(waiter);
      const now = this.#deps.now();
      const counted = outcome.countedAt === undefined ? {} : { countedAgoMs: Math.max(0, now - outcome.countedAt) };
      const waited = waiter.waitedFor.size === 0 ? {} : { waitedFor: [...waiter.waitedFor] };
      return this.#finish(waiter, { granted: true, heldMs: now - waiter.receivedAt, ...counted, ...waited });
    }
    waiter.waitedFor.add(outcome.scope);
    if (current?.key !== outcome.scope) {
      current?.queue.remove(waiter);
      return this.#wait(waiter, outcome.scope, outcome.retryAfterMs);
    }
    // Stays in its line, which sleeps until the scope has room: unless that is too late for it.
    if (this.#deps.now() + outcome.retryAfterMs > waiter.request.deadline)
      this.#finish(waiter, this.#refusal(waiter, "deadline", outcome.retryAfterMs));
  }

  /** Joins the line of scope `key`, where room appears in `retryAfterMs` at the earliest. */
  #wait(waiter: Waiter, key: string, retryAfterMs: number): void {
    if (this.#deps.now() + retryAfterMs > waiter.request.deadline) {
      return this.#finish(waiter, { granted: false, reason: "deadline", retryAfterMs, scope: key });
    }
    let line = this.#lines.get(key);
    if (!line) {
      line = { key, queue: new FairQueue(this.#deps.agingMs), pumping: false, nextTryAt: 0 };
      this.#lines.set(key, line);
    }
    waiter.line = line;
    line.queue.add(waiter);
    if (!line.pumping) void this.#pump(line, retryAfterMs);
  }

  /**
   * Tries the line's next waiters whenever its scope may have room, until the line is empty: a batch of
   * up to MAX_BATCH in serving order that ask for the same scopes as the first, in one try. A try waits
   * for the end of the turn it became possible in, so that the acquires one read of the socket brings
   * join it: tried as they came, the first of a burst went alone and the rest waited for its write
   * (docs/adr/0044).
   */
  async #pump(line: Line, firstPauseMs: number): Promise<void> {
    line.pumping = true;
    let pauseMs = firstPauseMs;
    try {
      while (line.queue.size > 0) {
        if (pauseMs > 0) {
          line.nextTryAt = this.#deps.now() + pauseMs;
          await new Promise((resolve) => setTimeout(resolve, pauseMs));
        } else await endOfTurn();
        pauseMs = 0;
        const next = line.queue.peekMany(this.#deps.now(), MAX_BATCH);
        if (next[0] === undefined) break; // the last waiters left while the line slept
        // The run of waiters in serving order that ask for the same scopes as the first: a batch never
        // takes a place past another tenant's turn (a tenant's own scopes make its signature its own).
        const signature = scopeSignature(next[0].request);
        const differs = next.findIndex((waiter) => scopeSignature(waiter.request) !== signature);
        const batch = differs < 0 ? next : next.slice(0, differs);
        const busy = this.#earlierBusyLine(line, next[0].request);
        if (busy !== undefined) {
          for (const waiter of batch) {
            line.queue.remove(waiter);
            waiter.waitedFor.add(busy);
            this.#wait(waiter, busy, 0);
          }
          continue;
        }
        try {
          const outcomes = await this.#track(this.#deps.tryAcquire(batch.map((waiter) => waiter.request)));
          batch.forEach((waiter, i) => {
            const outcome = outcomes[i]!;
            this.#settle(waiter, outcome, line);
            if (outcome.granted || waiter.done || waiter.line !== line) return;
            pauseMs = pauseMs === 0 ? outcome.retryAfterMs : Math.min(pauseMs, outcome.retryAfterMs);
          });
        } catch (error) {
          if (this.#closed) break;
          this.#deps.onError(error);
          pauseMs = this.#deps.retryMs;
        }
      }
    } finally {
      line.pumping = false;
      if (line.queue.size === 0 && this.#lines.get(line.key) === line) this.#lines.delete(line.key);
    }
  }

  /**
   * The line of a concurrency scope the request also asks for, earlier in the order, where others wait
   * on this copy. A place a release frees there is theirs in turn: a call held by its own cap (a
   * tenant's) that tried from here when that cap freed too would take it first. It joins their line
   * instead. Only earlier lines, so two lines never send a call back and forth without a try between.
   */
  #earlierBusyLine(line: Line, request: AcquireRequest): string | undefined {
    return request.scopes
      .filter((scope) => scope.concurrent && scope.key < line.key && (this.#lines.get(scope.key)?.queue.size ?? 0) > 0)
      .map((scope) => scope.key)
      .sort()[0];
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#inFlight.add(work);
    void work.then(
      () => this.#inFlight.delete(work),
      () => this.#inFlight.delete(work),
    );
    return work;
  }

  #refusal(waiter: Waiter, reason: "deadline" | "cancelled" | "again", retryAfterMs: number): AcquireReply {
    return { granted: false, reason, retryAfterMs, scope: waiter.line?.key ?? waiter.request.scopes[0]?.key ?? "" };
  }

  #finish(waiter: Waiter, reply: AcquireReply): void {
    if (waiter.done) return;
    waiter.done = true;
    waiter.line?.queue.remove(waiter);
    for (const cleanup of waiter.cleanups) cleanup();
    waiter.respond(reply);
  }
}
