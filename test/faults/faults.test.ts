/**
 * Jepsen-style fault run: the whole stack on a 3-node cluster, a steady load of requests whose answers
 * depend on every tool result, a nemesis that SIGKILLs copies of every actor type and a NATS node, then
 * restarts every copy with SIGTERM, and an independent checker (checker.ts). `npm run test:faults`
 * (full) or `npm run test:faults:quick`; docs/reliability.md says what it checks and what it measured.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { ActorName } from "@toolformer/cli";
import { check, type FinalExit } from "./checker.ts";
import { faultRunConfig, type FaultRunConfig } from "./config.ts";
import { findLeftovers } from "./leftovers.ts";
import { LoadClient, type Phase } from "./load.ts";
import { Nemesis, seededRandom, shuffled, SIGTERM_GRACE_MS } from "./nemesis.ts";
import { formatReport, writeObservations, writeReport } from "./report.ts";
import { COMBINE_TOOL, WORK_TOOL } from "./scenario.ts";
import { startFaultStack } from "./stack.ts";

const config = faultRunConfig(process.env);
const RESULTS_DIR = fileURLToPath(new URL("./results/", import.meta.url));
/**
 * Leftovers still there after this long are leaks: an ordered consumer whose reader was killed goes
 * after ORDERED_INACTIVE_THRESHOLD_MS (15 s) idle, and the server sweeps for idle consumers only now
 * and then, so twice that and some.
 */
const LEFTOVER_SETTLE_MS = 45_000;

/**
 * Sends requests at the configured pace with at most `maxInFlight` unanswered: while the nemesis works
 * (so every fault hits a loaded system), then on until `min` are sent or `stopAt`; never more than `max`.
 */
async function sendLoad(
  client: LoadClient,
  phase: Phase,
  bounds: { min: number; max: number; stopAt: number },
  nemesisWorking: () => boolean,
): Promise<number> {
  let sent = 0;
  const more = () => nemesisWorking() || (sent < bounds.min && Date.now() < bounds.stopAt);
  while (sent < bounds.max && more()) {
    if (client.unanswered().length < config.maxInFlight) {
      client.submit(phase);
      sent++;
    }
    await sleep(config.paceMs);
  }
  return sent;
}

/**
 * Kill rounds (one copy of every actor type each, in a random order, and the node kills), the extra
 * kills, then the rolling restart.
 */
async function runNemesis(nemesis: Nemesis, run: FaultRunConfig, random: () => number, sentShare: () => number) {
  const types = Object.keys(run.copies) as ActorName[];
  const { nemesis: plan } = run;
  for (let round = 1; round <= plan.maxKillRounds; round++) {
    if (round > plan.minKillRounds && sentShare() >= plan.killUntilShare) break;
    for (const name of shuffled(types, random)) {
      await sleep(plan.killGapMs);
      await nemesis.killCopy(name, plan.restartAfterMs);
    }
    if (plan.nodeKillAfterRounds.includes(round)) {
      await sleep(plan.killGapMs);
      await nemesis.killNode(plan.nodeDownMs);
    }
  }
  for (const name of plan.extraKills) {
    await sleep(plan.killGapMs);
    await nemesis.killCopy(name, plan.restartAfterMs);
  }
  await sleep(plan.killGapMs);
  nemesis.phase("rolling-restart");
  await nemesis.rollingRestart(shuffled(types, random));
  nemesis.phase("rolling-restart-done");
}

describe(`fault run (${config.mode})`, () => {
  it(
    "answers every request correctly, runs nothing twice and leaves nothing behind under kills, a node loss and a rolling restart",
    async () => {
      const startedAt = Date.now();
      const runId = randomBytes(3).toString("hex");
      const runDir = join(
        RESULTS_DIR,
        `${new Date(startedAt).toISOString().replace(/[:.]/g, "-")}-${config.mode}-${runId}`,
      );
      mkdirSync(runDir, { recursive: true });
      const stack = await startFaultStack(config, runDir);
      const random = seededRandom(config.seed);
      const nemesis = new Nemesis(stack.actors, stack.cluster, config.copies, {
        random,
        restartAfterMs: config.nemesis.restartAfterMs,
      });
      stack.supervise(nemesis.supervise);
      const client = new LoadClient(stack.nc, {
        runId,
        requestTimeoutMs: config.requestTimeoutMs,
        acceptWaitMs: config.acceptWaitMs,
        maxResends: config.maxResends,
        speculateEvery: config.speculateEvery,
      });
      let finalExits: FinalExit[] = [];
      let leftovers;
      let copiesRunning = 0;
      try {
        client.start();
        nemesis.phase("warmup");
        const warmupStopAt = Date.now() + config.warmupRequests * config.paceMs * 3;
        const warm = { min: config.warmupRequests, max: config.warmupRequests, stopAt: warmupStopAt };
        await sendLoad(client, "warmup", warm, () => false);
        await client.settle(Date.now() + config.requestTimeoutMs, 0);

        nemesis.phase("faults");
        const firstFault = client.requests.length;
        const sentShare = () => (client.requests.length - firstFault) / config.faultRequests;
        let nemesisDone = false;
        const stopAt = Date.now() + config.faultRequests * config.paceMs * 1.5;
        const bounds = { min: config.faultRequests, max: config.maxFaultRequests, stopAt };
        const load = sendLoad(client, "faults", bounds, () => !nemesisDone);
        await runNemesis(nemesis, config, random, sentShare).finally(() => (nemesisDone = true));
        await load;
        nemesis.phase("load-sent");
        const lastPublishAt = Math.max(...client.requests.flatMap((r) => r.publishes.map((p) => p.at)));
        await client.settle(lastPublishAt + config.requestTimeoutMs + 5_000, config.duplicateGraceMs);
        nemesis.phase("settled");
        client.stop();

        leftovers = await findLeftovers(stack.nc, [WORK_TOOL, COMBINE_TOOL], LEFTOVER_SETTLE_MS);
        const running = stack.actors.running();
        copiesRunning = running.length;
        nemesis.phase("final-sigterm");
        finalExits = await Promise.all(
          running.map(async (copy) => ({
            target: `${copy.name}#${copy.copy}`,
            ...(await stack.actors.signal(copy, "SIGTERM", SIGTERM_GRACE_MS)),
          })),
        );
      } finally {
        client.stop();
        await stack.stop();
      }

      const report = check({
        requests: client.requests,
        clientOutages: client.outages,
        effects: stack.tools.effects,
        speculativeCalls: client.speculativeCalls,
        toolStarts: client.toolStarts,
        asks: stack.model.asks,
        actions: nemesis.actions,
        rateLimit: config.rateLimit,
        leftovers,
        finalExits,
        promptExitMs: config.promptExitMs,
        copiesExpected: Object.values(config.copies).reduce((a, b) => a + b, 0),
        copiesRunning,
      });
      await writeReport(runDir, config, report, { nemesis: nemesis.actions, leftovers }, startedAt);
      writeObservations(runDir, {
        requests: client.requests,
        clientOutages: client.outages,
        effects: stack.tools.effects,
        "model-asks": stack.model.asks,
        nemesis: nemesis.actions,
        "client-outages": client.outages,
        "tool-starts": [...client.toolStarts].map(([call, at]) => ({ call, at })),
      });
      console.log(formatReport(report, config, runDir));
      for (const { name, ok, detail } of report.checks) expect.soft(ok, `${name}: ${detail}`).toBe(true);
    },
    config.testTimeoutMs,
  );
});
