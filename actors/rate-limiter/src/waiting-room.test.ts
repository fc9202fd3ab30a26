import { afterEach, describe, expect, it } from "vitest";
import { permitRequest } from "@toolformer/testing";
import { concurrencyScope, type AcquireReply, type AcquireRequest, type RateLimitScope } from "@toolformer/protocol";
import { releaseAll, tryAcquire } from "./limiter.ts";
import type { WindowState } from "./sliding-window.ts";
import { WaitingRoom } from "./waiting-room.ts";
import type { WindowStore } from "./window-store.ts";

/**
 * The shared state in memory: the limiter's own batch logic over a store without NATS. It records when
 * each entry was admitted, the time the limit is about (a reply callback may run later on a busy machine).
 */
function memoryState(states = new Map<string, WindowState>()) {
  const admissions: { key: string; at: number }[] = [];
  const store = {
    async update<T>(scope: RateLimitScope, change: (state: WindowState) => { next?: WindowState; result: T }) {
      const before = states.get(scope.key) ?? { starts: [] };
      const { next, result } = change(before);
      if (next) {
        const known = new Set(before.starts);
        const added = next.starts.filter((entry) => !known.has(entry));
        admissions.push(...added.map(([at]) => ({ key: scope.key, at })));
        states.set(scope.key, next);
      }
      return result;
    },
  } as WindowStore;
  return {
    admittedAt: (key: string) => admissions.filter((entry) => entry.key === key).map((entry) => entry.at),
    tryAcquire: (batch: AcquireRequest[]) => tryAcquire(store, batch, Date.now),
    release: (request: AcquireRequest) => releaseAll(store, request, Date.now),
    states,
  };
}

/** Waits (bounded) for the room to reach a state, instead of guessing how long that takes. */
async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const giveUpAt = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > giveUpAt) throw new Error("the waiting room never got there");
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const rooms: WaitingRoom[] = [];
afterEach(() => Promise.all(rooms.splice(0).map((room) => room.close())));

/**
 * A limiter copy's room over the state in memory: its own, or `states` shared with other copies.
 * `gate`, when given, holds each try until it opens (a write stuck while the state's bucket elects).
 */
function room(
  options: {
    holdMs?: number;
    agingMs?: number;
    states?: Map<string, WindowState>;
    gate?: () => Promise<void>;
  } = {},
) {
  const cancels = new Map<string, Set<() => void>>();
  const { admittedAt, tryAcquire: tryNow, release, states } = memoryState(options.states);
  const gate = options.gate;
  const waitingRoom = new WaitingRoom({
    tryAcquire: gate ? (batch) => gate().then(() => tryNow(batch)) : tryNow,
    onCancel: (requestId, listener) => {
      const listeners = cancels.get(requestId) ?? new Set();
      cancels.set(requestId, listeners.add(listener));
      return () => listeners.delete(listener);
    },
    now: Date.now,
    holdMs: options.holdMs ?? 10_000,
    agingMs: options.agingMs ?? 60_000,
    retryMs: 10,
    onError: (error) => {
      throw error;
    },
  });
  rooms.push(waitingRoom);
  const ask = (request: Partial<AcquireRequest> & { callId: string; scopes: RateLimitScope[] }) =>
    new Promise<AcquireReply & { at: number }>((resolve) => {
      void waitingRoom.enter(
        {
          ...permitRequest({ requestId: "r1", deadline: Date.now() + 10_000, ...request }),
          since: Date.now(),
          confirm: false,
          ...request,
        },
        (reply) => resolve({ ...reply, at: Date.now() }),
      );
    });
  return {
    waitingRoom,
    admittedAt,
    states,
    ask,
    /** The call ended: its places are free again (as the executor's release feedback frees them). */
    end: (request: Pick<AcquireRequest, "requestId" | "callId" | "scopes">) =>
      release({ ...permitRequest({ deadline: 0, ...request }), since: 0, confirm: false }),
    cancel: (requestId: string) => [...(cancels.get(requestId) ?? [])].forEach((listener) => listener()),
  };
}

const oneEvery50: RateLimitScope = { key: "tool:slow", limit: 1, intervalMs: 50 };

/** A room whose tries against the shared state end (granting all they try) only when the test says. */
function manualRoom() {
  const tries: { batch: AcquireRequest[]; grant(): void }[] = [];
  const waitingRoom = new WaitingRoom({
    tryAcquire: (batch) =>
      new Promise((resolve) => tries.push({ batch, grant: () => resolve(batch.map(() => ({ granted: true }))) })),
    onCancel: () => () => {},
    now: Date.now,
    holdMs: 10_000,
    agingMs: 60_000,
    retryMs: 10,
    onError: (error) => {
      throw error;
    },
  });
  const enter = (callId: string, confirm: boolean) =>
    new Promise<AcquireReply>(
      (resolve) =>
        void waitingRoom.enter(
          {
            ...permitRequest({ callId, scopes: [oneEvery50], requestId: "r1", deadline: Date.now() + 10_000 }),
            since: Date.now(),
            confirm,
          },
          resolve,
        ),
    );
  return { waitingRoom, tries, enter };
}

describe("waiting room", () => {
  it("holds calls until their turn and grants them first come, first served", async () => {
    const { ask, admittedAt } = room();
    const order: string[] = [];
    const calls = ["a", "b", "c", "d"].map((id, i) =>
      ask({ callId: id, scopes: [oneEvery50], since: 1000 + i }).then((reply) => {
        order.push(id);
        return reply;
      }),
    );
    const replies = await Promise.all(calls);
    expect(replies.every((reply) => reply.granted)).toBe(true);
    expect(order).toEqual(["a", "b", "c", "d"]);
    const times = admittedAt(oneEvery50.key);
    expect(times).toHaveLength(4);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(50);
  });

  it("moves a promoted call up its line (a speculative call the model's call took over)", async () => {
    const { ask, waitingRoom } = room();
    const order: string[] = [];
    const track = (callId: string, priority: number) =>
      ask({ callId, priority, scopes: [oneEvery50] }).then(() => order.push(callId));
    const holder = track("holder", 5);
    await until(() => order.length === 1);
    const speculative = track("speculative", 0);
    const real = [1, 2].map((i) => track(`real${i}`, 5));
    await until(() => waitingRoom.waiting === 3);
    waitingRoom.promote("r1", "speculative", 9);
    await Promise.all([holder, speculative, ...real]);
    expect(order).toEqual(["holder", "speculative", "real1", "real2"]);
  });

  it("keeps a promotion for a call that asks again after a hold", async () => {
    const { ask, waitingRoom } = room();
    waitingRoom.promote("r1", "later", 7);
    const order: string[] = [];
    await ask({ callId: "holder", scopes: [oneEvery50] });
    const calls = [
      ask({ callId: "early", priority: 5, scopes: [oneEvery50] }).then(() => order.push("early")),
      ask({ callId: "later", priority: 0, scopes: [oneEvery50], since: Date.now() + 1 }).then(() =>
        order.push("later"),
      ),
    ];
    await Promise.all(calls);
    expect(order).toEqual(["later", "early"]);
  });

  it("alternates tenants while one floods the scope", async () => {
    const { ask, waitingRoom } = room();
    const order: string[] = [];
    const track = (tenant: string, i: number) =>
      ask({ callId: `${tenant}${i}`, requestId: tenant, tenant, scopes: [oneEvery50] }).then(() => order.push(tenant));
    const flood = Array.from({ length: 6 }, (_, i) => track("flood", i));
    await until(() => order.length === 1 && waitingRoom.waiting === 5);
    const quiet = [0, 1].map((i) => track("quiet", i));
    await Promise.all([...flood, ...quiet]);
    // The flood's first call was granted at once; from then on the quiet tenant gets every other turn.
    expect(order.slice(0, 5)).toEqual(["flood", "flood", "quiet", "flood", "quiet"]);
  });

  it("lets tenants take turns for a full shared cap, each held to its own cap", async () => {
    const { ask, end, waitingRoom } = room();
    const shared = concurrencyScope("concurrency:all", 4);
    const order: string[] = [];
    const call = (tenant: string, places: number, i: number) => {
      const request = {
        callId: `${tenant}${i}`,
        requestId: tenant,
        tenant,
        scopes: [shared, concurrencyScope(`concurrency:config:calls:${tenant}`, places)],
      };
      void ask(request).then(() => order.push(tenant));
      return request;
    };
    const flood = Array.from({ length: 8 }, (_, i) => call("flood", 3, i));
    await until(() => order.length === 3 && waitingRoom.waiting === 5);
    const quiet = Array.from({ length: 4 }, (_, i) => call("quiet", 3, i));
    // The flood's 3 and the quiet tenant's first fill the shared cap. A flood call ends at once, while the
    // flood's waiters still wait in the line of their own cap, which frees with the shared place.
    await until(() => order.length === 4 && waitingRoom.waiting === 8);
    await end(flood[0]!);
    await until(() => order.length === 5);
    // Two places free at once: one each, not both to the tenant whose turn it is.
    await Promise.all([end(flood[1]!), end(flood[2]!)]);
    await until(() => order.length === 7);
    await end(quiet[0]!);
    await until(() => order.length === 8);
    expect(order.slice(4)).toEqual(["quiet", "flood", "quiet", "flood"]);
  });

  it("says which scopes a granted call waited for", async () => {
    const { ask, end, waitingRoom } = room();
    const roomy: RateLimitScope = { key: "tool:roomy", limit: 100, intervalMs: 1_000 };
    const cap = concurrencyScope("concurrency:config:calls:acme", 1);
    const first = { callId: "first", scopes: [roomy, cap] };
    expect(await ask(first)).not.toHaveProperty("waitedFor");
    const second = ask({ callId: "second", scopes: [roomy, cap] });
    await until(() => waitingRoom.waiting === 1);
    // Its line tries it at the end of the turn it came in: refused by the cap, it waits for it.
    await new Promise((resolve) => setImmediate(resolve));
    await end({ requestId: "r1", ...first });
    expect(await second).toMatchObject({ granted: true, waitedFor: [cap.key] });
  });

  it("fails fast, with a retry-after, a call that cannot start before its deadline", async () => {
    const { ask } = room();
    const minute: RateLimitScope = { key: "tool:rare", limit: 1, intervalMs: 60_000 };
    expect((await ask({ callId: "first", scopes: [minute] })).granted).toBe(true);
    const startedAt = Date.now();
    const refused = await ask({ callId: "second", scopes: [minute], deadline: Date.now() + 1_000 });
    expect(refused).toMatchObject({ granted: false, reason: "deadline", scope: "tool:rare" });
    expect(!refused.granted && refused.retryAfterMs).toBeGreaterThan(58_000);
    expect(Date.now() - startedAt).toBeLessThan(500);
  });

  it("drops the waiters of a cancelled request at once, and the others keep their turn", async () => {
    const { ask, cancel, waitingRoom } = room();
    const minute: RateLimitScope = { key: "tool:rare", limit: 1, intervalMs: 60_000 };
    await ask({ callId: "holder", scopes: [minute] });
    const later = Date.now() + 120_000;
    const waiting = ["w1", "w2"].map((callId) =>
      ask({ callId, requestId: "doomed", scopes: [minute], deadline: later }),
    );
    let otherAnswered = false;
    void ask({ callId: "other", requestId: "alive", scopes: [minute], deadline: later }).then(
      () => (otherAnswered = true),
    );
    await until(() => waitingRoom.waiting === 3);
    const cancelledAt = Date.now();
    cancel("doomed");
    const replies = await Promise.all(waiting);
    expect(replies.map((r) => !r.granted && r.reason)).toEqual(["cancelled", "cancelled"]);
    // "At once": long before any retry of a one-minute scope (a loaded CI machine may add a few hundred ms).
    expect(Math.max(...replies.map((r) => r.at)) - cancelledAt).toBeLessThan(1_000);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(otherAnswered).toBe(false);
  });

  it("lets a held call go after the hold time, to ask again elsewhere", async () => {
    const { ask } = room({ holdMs: 50 });
    const minute: RateLimitScope = { key: "tool:rare", limit: 1, intervalMs: 60_000 };
    await ask({ callId: "holder", scopes: [minute] });
    expect(await ask({ callId: "w", scopes: [minute], deadline: Date.now() + 120_000 })).toMatchObject({
      granted: false,
      reason: "again",
    });
  });

  it("moves a call to the line of the scope that refused it, and takes all scopes or none", async () => {
    const { ask, admittedAt } = room();
    const shared: RateLimitScope = { key: "config:global", limit: 10, intervalMs: 50 };
    const results = await Promise.all(["a", "b", "c"].map((id) => ask({ callId: id, scopes: [shared, oneEvery50] })));
    expect(results.every((r) => r.granted)).toBe(true);
    const times = admittedAt(oneEvery50.key);
    expect(times).toHaveLength(3);
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(100);
  });

  it("on close, lets waiters go at once and resolves only once the try under way has finished", async () => {
    const { waitingRoom, tries, enter } = manualRoom();
    const reply = enter("mid-try", false);
    await until(() => tries.length === 1);
    let closed = false;
    const closing = waitingRoom.close().then(() => (closed = true));
    expect(await reply).toMatchObject({ granted: false, reason: "again" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(false);
    tries[0]!.grant();
    await closing;
    expect(closed).toBe(true);
  });

  it("keeps a grant its caller never heard for the holder, so its next ask at another copy stays counted", async () => {
    // Copy A's try is stuck (its write waits for the state's bucket) past the hold: A tells the caller
    // to ask again, and the caller does, at copy B, which grants it, so the call starts. Then A's try
    // ends, granting the same holder. Had A given that grant back, the running call's entry would be
    // gone and one more call than the limit admitted (the fault suite's 41 starts in a window of 40).
    const states = new Map<string, WindowState>();
    let openGate = () => {};
    const stuck = new Promise<void>((resolve) => (openGate = resolve));
    const copyA = room({ states, holdMs: 30, gate: () => stuck });
    const copyB = room({ states });
    const scope: RateLimitScope = { key: "tool:one-a-minute", limit: 1, intervalMs: 60_000 };
    expect(await copyA.ask({ callId: "c1", scopes: [scope] })).toMatchObject({ granted: false, reason: "again" });
    expect(await copyB.ask({ callId: "c1", scopes: [scope] })).toMatchObject({ granted: true });
    openGate();
    await until(() => copyA.waitingRoom.lines().length === 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(states.get(scope.key)?.starts.map(([, holder]) => holder)).toEqual(["r1/c1/1"]);
    const another = await copyB.ask({ callId: "c2", scopes: [scope], deadline: Date.now() + 100 });
    expect(another).toMatchObject({ granted: false, reason: "deadline" });
  });

  it("confirms a burst of late grants in a few tries, not one after another", async () => {
    const { waitingRoom, tries, enter } = manualRoom();
    // Those that arrive in one turn are tried together at its end; those arriving while that try
    // runs go together in the next.
    const replies = Array.from({ length: 20 }, (_, i) => enter(`late${i}`, true));
    await until(() => tries.length === 1);
    replies.push(...Array.from({ length: 5 }, (_, i) => enter(`later${i}`, true)));
    tries[0]!.grant();
    await until(() => tries.length === 2);
    tries[1]!.grant();
    expect((await Promise.all(replies)).every((reply) => reply.granted)).toBe(true);
    expect(tries.map((t) => t.batch.length)).toEqual([20, 5]);
    await waitingRoom.close();
  });

  it("tries the acquires that arrive in one turn together", async () => {
    const { waitingRoom, tries, enter } = manualRoom();
    const replies = Array.from({ length: 12 }, (_, i) => enter(`burst${i}`, false));
    await until(() => tries.length === 1);
    tries[0]!.grant();
    expect((await Promise.all(replies)).every((reply) => reply.granted)).toBe(true);
    expect(tries.map((t) => t.batch.length)).toEqual([12]);
    await waitingRoom.close();
  });
});
