import { setTimeout as sleep } from "node:timers/promises";
import { waitForActors, type ActorCopy, type ActorName, type ActorProcesses, type CopyExit } from "@toolformer/cli";
import type { NatsCluster } from "@toolformer/testing";

export const NemesisKind = {
  /** SIGKILL of one actor copy. */
  kill: "kill",
  /** SIGTERM of one actor copy (rolling restart, final shutdown). */
  term: "term",
  /** A copy told to stop has exited (`detail`: how, after how long). */
  exit: "exit",
  /** A replacement copy was started. */
  start: "start",
  /** Every expected copy of an actor type answers the service API again. */
  serving: "serving",
  /** The copies did not all answer within the bound: a finding, not a test error. */
  notServing: "not-serving",
  /** An actor copy exited without being told to; a replacement starts as after a kill. */
  crash: "crash",
  nodeKill: "node-kill",
  nodeStart: "node-start",
  /** The node is back and an R3 stream can be created again. */
  nodeReady: "node-ready",
  phase: "phase",
} as const;
export type NemesisKind = (typeof NemesisKind)[keyof typeof NemesisKind];

export interface NemesisAction {
  at: number;
  kind: NemesisKind;
  /** `dispatcher#2`, `node1`, or a phase name. */
  target: string;
  actor?: ActorName;
  detail?: string;
  /** For `exit`: how the copy ended. */
  exit?: CopyExit;
}

const SERVING_TIMEOUT_MS = 60_000;
/** A copy still running this long after SIGTERM is killed (and counts as not prompt: checker.ts). */
export const SIGTERM_GRACE_MS = 15_000;

/** Small, seeded, good enough to pick victims reproducibly (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Kills and restarts actor copies and NATS nodes, writing down what it did and when. */
export class Nemesis {
  readonly actions: NemesisAction[] = [];
  readonly #actors: ActorProcesses;
  readonly #cluster: NatsCluster;
  readonly #copies: Record<ActorName, number>;
  readonly #random: () => number;
  readonly #restartAfterMs: number;

  constructor(
    actors: ActorProcesses,
    cluster: NatsCluster,
    copies: Record<ActorName, number>,
    options: { random: () => number; restartAfterMs: number },
  ) {
    this.#actors = actors;
    this.#cluster = cluster;
    this.#copies = copies;
    this.#random = options.random;
    this.#restartAfterMs = options.restartAfterMs;
  }

  /** A copy that crashed is written down and replaced, as a container's supervisor would. */
  readonly supervise = (copy: ActorCopy, why: string): void => {
    this.#note(NemesisKind.crash, `${copy.name}#${copy.copy}`, copy.name, why);
    void sleep(this.#restartAfterMs).then(async () => {
      this.#start(copy.name);
      await this.#waitServing(copy.name);
    });
  };

  phase(name: string): void {
    this.#note(NemesisKind.phase, name);
  }

  /** SIGKILL of a random running copy of `name`; a replacement starts `restartAfterMs` later. */
  async killCopy(name: ActorName, restartAfterMs: number): Promise<void> {
    const candidates = this.#actors.running().filter((c) => c.name === name);
    const victim = candidates[Math.floor(this.#random() * candidates.length)];
    if (!victim) return;
    this.#note(NemesisKind.kill, `${name}#${victim.copy}`, name);
    await this.#actors.signal(victim, "SIGKILL");
    await sleep(restartAfterMs);
    this.#start(name);
    await this.#waitServing(name);
  }

  /** SIGKILL of one NATS node; it starts again (same ports and store) `downMs` later. */
  async killNode(downMs: number): Promise<void> {
    const index = Math.floor(this.#random() * this.#cluster.nodes.length);
    this.#note(NemesisKind.nodeKill, `node${index}`);
    await this.#cluster.killNode(index);
    await sleep(downMs);
    this.#note(NemesisKind.nodeStart, `node${index}`);
    await this.#cluster.startNode(index);
    this.#note(NemesisKind.nodeReady, `node${index}`);
  }

  /** Every copy of each actor type in turn: SIGTERM, wait for it to exit, start a new one, wait until it serves. */
  async rollingRestart(order: ActorName[]): Promise<void> {
    for (const name of order) {
      for (const copy of this.#actors.running().filter((c) => c.name === name)) {
        this.#note(NemesisKind.term, `${name}#${copy.copy}`, name);
        const exit = await this.#actors.signal(copy, "SIGTERM", SIGTERM_GRACE_MS);
        this.#note(NemesisKind.exit, `${name}#${copy.copy}`, name, describeExit(exit), exit);
        this.#start(name);
        await this.#waitServing(name);
      }
    }
  }

  #start(name: ActorName): void {
    const started = this.#actors.add(name);
    this.#note(NemesisKind.start, `${name}#${started.copy}`, name);
  }

  /**
   * Until every expected copy of `name` answers the service API. `waitForActors` speaks to one URL, so a
   * node that is down (a crash is replaced while the node kill lasts) is skipped for the next.
   */
  async #waitServing(name: ActorName): Promise<void> {
    const giveUpAt = Date.now() + SERVING_TIMEOUT_MS;
    let lastError: unknown;
    for (let attempt = 0; Date.now() < giveUpAt; attempt++) {
      const url = this.#cluster.urls[attempt % this.#cluster.urls.length]!;
      try {
        await waitForActors(
          url,
          { [name]: this.#copies[name] },
          Math.max(1_000, giveUpAt - Date.now()),
          this.#cluster.credentials("admin"),
        );
        this.#note(NemesisKind.serving, name, name);
        return;
      } catch (error) {
        lastError = error;
        if (!/connection|refused|ECONNRESET/i.test(String(error))) break;
        await sleep(200);
      }
    }
    this.#note(NemesisKind.notServing, name, name, String(lastError));
  }

  #note(kind: NemesisKind, target: string, actor?: ActorName, detail?: string, exit?: CopyExit): void {
    this.actions.push({
      at: Date.now(),
      kind,
      target,
      ...(actor ? { actor } : {}),
      ...(detail ? { detail } : {}),
      ...(exit ? { exit } : {}),
    });
  }
}

export function describeExit(exit: CopyExit): string {
  const how = exit.signal ?? `code ${exit.code}`;
  return `${how} after ${exit.afterMs} ms${exit.forced ? " (SIGKILL after the grace period)" : ""}`;
}
