import type { ActorName } from "@toolformer/cli";

/** How big a fault run is and how hard the nemesis hits: `quick` for CI, `full` for the record. */
export interface FaultRunConfig {
  mode: "quick" | "full";
  /** Seeds every random choice of the nemesis (which copy, which node), printed so a run can be repeated. */
  seed: number;
  copies: Record<ActorName, number>;
  /** Fault-free requests first, at the same pace: the latency baseline, and what the speculation engine learns from. */
  warmupRequests: number;
  /** Requests sent while the nemesis works (all the time it works), and on until this many… */
  faultRequests: number;
  /** …but never more than this. */
  maxFaultRequests: number;
  /** One request every this many milliseconds (while fewer than `maxInFlight` are unanswered). */
  paceMs: number;
  maxInFlight: number;
  requestTimeoutMs: number;
  /** A publish that sees no `request.accepted` within this is sent again, with the same id. */
  acceptWaitMs: number;
  maxResends: number;
  /** After the last reply, how long the client keeps listening for duplicate replies. */
  duplicateGraceMs: number;
  workMs: number;
  combineMs: number;
  thinkMs: number;
  /**
   * Every this-many-th request asks for speculation (`options.speculation`), so the speculation engine,
   * its budgets and its ledger are exercised without its budget (a quarter of the tool's limit) pacing
   * every call.
   */
  speculateEvery: number;
  /** The operator's scope on the work tool (TF_RATE_LIMITS_FILE). */
  rateLimit: { limit: number; intervalMs: number };
  nemesis: {
    /** Rounds of killing one copy of every actor type (in a random order), at least… */
    minKillRounds: number;
    /** …and more until this share of the fault requests has been sent, but never more than… */
    killUntilShare: number;
    maxKillRounds: number;
    /** After which kill rounds (1-based) one NATS node is killed and started again. */
    nodeKillAfterRounds: number[];
    /** Copies killed after the rounds (and their node kills): more of the kills whose effects have exceptions. */
    extraKills: ActorName[];
    killGapMs: number;
    /** A SIGKILLed copy's replacement starts this long after the kill. */
    restartAfterMs: number;
    nodeDownMs: number;
  };
  /** Milliseconds a copy may take to exit after SIGTERM before it counts as not prompt. */
  promptExitMs: number;
  testTimeoutMs: number;
}

const COPIES: Record<ActorName, number> = {
  dispatcher: 2,
  scheduler: 2,
  "rate-limiter": 2,
  speculation: 2,
  executor: 3,
};

const COMMON = {
  copies: COPIES,
  acceptWaitMs: 5_000,
  maxResends: 6,
  duplicateGraceMs: 3_000,
  workMs: 300,
  combineMs: 20,
  // A model's time to answer a turn: long enough that requests are often past their first turn when a
  // dispatcher dies, which is when asking the model again from the first turn would show.
  thinkMs: 800,
  promptExitMs: 10_000,
  speculateEvery: 3,
} as const;

const QUICK: Omit<FaultRunConfig, "seed"> = {
  ...COMMON,
  mode: "quick",
  warmupRequests: 30,
  faultRequests: 170,
  maxFaultRequests: 220,
  paceMs: 450,
  maxInFlight: 40,
  // Generous: a request a SIGKILLed dispatcher held waits out the runners' ack_wait once per takeover.
  requestTimeoutMs: 90_000,
  // Demand is 5 work calls a request: 22 per 2 s at this pace, so the limit binds in bursts only. A 2 s
  // window keeps the delivery jitter allowed at the tool (checker.ts) small beside it.
  rateLimit: { limit: 40, intervalMs: 2_000 },
  nemesis: {
    minKillRounds: 1,
    killUntilShare: 0,
    maxKillRounds: 1,
    nodeKillAfterRounds: [1],
    extraKills: ["dispatcher", "executor"],
    killGapMs: 2_000,
    restartAfterMs: 1_500,
    nodeDownMs: 4_000,
  },
  testTimeoutMs: 290_000,
};

const FULL: Omit<FaultRunConfig, "seed"> = {
  ...COMMON,
  mode: "full",
  warmupRequests: 100,
  faultRequests: 1_900,
  maxFaultRequests: 2_300,
  // What this 2-core machine sustains with every actor, three nodes and the load on it (measured: at
  // one request every 160 ms, in-flight requests piled up and the load fell behind).
  paceMs: 350,
  maxInFlight: 80,
  requestTimeoutMs: 120_000,
  rateLimit: { limit: 50, intervalMs: 2_000 },
  nemesis: {
    minKillRounds: 3,
    killUntilShare: 0.6,
    maxKillRounds: 10,
    nodeKillAfterRounds: [1, 3],
    extraKills: [],
    killGapMs: 4_000,
    restartAfterMs: 3_000,
    nodeDownMs: 6_000,
  },
  testTimeoutMs: 1_800_000,
};

/**
 * Read once: TF_FAULTS_MODE (`quick` | `full`, default `full`) and TF_FAULTS_SEED (an integer; default
 * from the clock).
 */
export function faultRunConfig(env: NodeJS.ProcessEnv): FaultRunConfig {
  const mode = env.TF_FAULTS_MODE ?? "full";
  if (mode !== "quick" && mode !== "full") throw new Error(`TF_FAULTS_MODE must be quick or full, not ${mode}`);
  const seed = env.TF_FAULTS_SEED === undefined ? Date.now() % 1_000_000 : Number(env.TF_FAULTS_SEED);
  if (!Number.isInteger(seed)) throw new Error(`TF_FAULTS_SEED must be an integer, not ${env.TF_FAULTS_SEED}`);
  return { ...(mode === "quick" ? QUICK : FULL), seed };
}
