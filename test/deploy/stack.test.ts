import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { ToolformerClient } from "@toolformer/client";
import { CONSUMERS, STREAMS, type OrchestrateReply } from "@toolformer/protocol";
import { forPodman, type PodmanStack } from "./kube-play.ts";
import { readKedaLag } from "./keda-lag.ts";
import { K8S, REPO, render, type Manifest } from "./manifests.ts";
import { containerState, podIp, podman, podsNamed, until } from "./podman.ts";

const QUICK = process.env.TF_DEPLOY_MODE === "quick";
const ACTORS = ["rate-limiter", "scheduler", "speculation", "dispatcher", "executor"] as const;
/** One executor runs 4 sleeps at once (TF_EXECUTOR_MAX_IN_FLIGHT): 300 ms each, so about 13 calls a second. */
const EXECUTOR_MAX_IN_FLIGHT = "4";
const SLEEPS_PER_REQUEST = 4;

/**
 * The local overlay (deploy/k8s/overlays/local) run by `podman kube play` on its own network: NATS,
 * the fake model, the provision Job, the five actor Deployments, each as its own role; a client on the
 * host talks to NATS as a client from outside the pods would.
 */
describe("the local overlay under podman kube play", () => {
  const network = `tf-deploy-${process.pid}`;
  const work = mkdtempSync(join(tmpdir(), "tf-deploy-"));
  const played: string[] = [];
  let stack: PodmanStack;
  let client: ToolformerClient;
  let natsIp: string;

  const play = async (name: string, yaml: string, extra: string[] = []) => {
    const file = join(work, `${name}.yaml`);
    writeFileSync(file, yaml);
    await podman(["kube", "play", "--network", network, ...extra, file], 180_000);
    if (!played.includes(file)) played.push(file);
  };
  const ready = async (pod: string) => {
    const ip = await podIp(pod, network);
    await until(
      `${pod} /readyz`,
      async () => ((await fetch(`http://${ip}:9464/readyz`)).ok ? true : undefined),
      90_000,
    );
    return ip;
  };
  const ask = (model: string, prompt: string) =>
    client.request({ prompt, model, options: { timeoutMs: 120_000 } }) as Promise<OrchestrateReply>;
  const lag = () => readKedaLag(`${natsIp}:8222`, "$G", STREAMS.exec.name, CONSUMERS.executorForTool("sleep"));
  /** Sleep calls each executor pod has acked, from its own /metrics (the durable is the subject label). */
  const ackedByPod = async () => {
    const counts = new Map<string, number>();
    for (const pod of await podsNamed("toolformer-executor-pod-")) {
      const text = await (await fetch(`http://${await podIp(pod, network)}:9464/metrics`)).text();
      const line = text
        .split("\n")
        .find(
          (l) =>
            l.startsWith("toolformer_messages_total{") &&
            l.includes('subject="exec_sleep"') &&
            l.includes('outcome="ack"'),
        );
      counts.set(pod, line ? Number(line.split(" ").at(-1)) : 0);
    }
    return counts;
  };

  beforeAll(async () => {
    await podman(["network", "create", network]);
    const credentials = execFileSync(
      process.execPath,
      [
        join(REPO, "packages/cli/bin/toolformer.mjs"),
        "credentials",
        "--dir",
        join(work, "keys"),
        "--namespace",
        "toolformer",
      ],
      { encoding: "utf8" },
    );
    const secrets = parseAllDocuments(credentials).map((d) => d.toJS() as Manifest);
    stack = forPodman(render(join(K8S, "overlays", "local")), {
      image: inject("image"),
      secrets,
      secretsDir: join(work, "secrets"),
      actorEnv: { executor: { TF_EXECUTOR_MAX_IN_FLIGHT: EXECUTOR_MAX_IN_FLIGHT } },
    });
    await play("infrastructure", stack.infrastructure);
    natsIp = await podIp("nats", network);
    await until(
      "NATS to serve JetStream",
      async () => ((await fetch(`http://${natsIp}:8222/healthz?js-enabled-only=true`)).ok ? true : undefined),
      60_000,
    );
    await play("provision", stack.provision);
    await until(
      "the provision Job to finish",
      async () => {
        const state = await containerState("toolformer-provision-provision");
        return state.status === "exited" && state.exitCode === 0 ? true : undefined;
      },
      90_000,
    );
    for (const actor of ACTORS) await play(actor, stack.actor(actor));
    for (const actor of ACTORS) await ready(`toolformer-${actor}-pod-0`);
    client = await ToolformerClient.connect(`nats://${natsIp}:4222`, "deploy-test", {
      nkeySeedFile: join(work, "keys", "client.nk"),
    });
  }, 600_000);

  afterAll(async () => {
    await client?.close();
    for (const file of played.reverse()) await podman(["kube", "down", file], 120_000).catch(() => {});
    await podman(["pod", "rm", "--force", "--ignore", "nats", "fake-llm", "toolformer-provision"]).catch(() => {});
    await podman(["network", "rm", "--force", network]).catch(() => {});
    rmSync(work, { recursive: true, force: true });
  }, 300_000);

  it("answers a request sent from outside the pods, with the client role's key", async () => {
    const reply = await ask("fake:demo", "What is the weather in Paris and Tokyo, and 21*2?");
    expect([reply.status, reply.error]).toEqual(["completed", undefined]);
    expect(reply.toolCalls.map((call) => call.tool).sort()).toEqual(["calculator", "get_weather", "get_weather"]);
    expect(reply.answer).toContain("calculator:");
    expect(reply.answer).toContain('"value":42');
  });

  it.skipIf(QUICK)(
    "shows the lag KEDA reads growing under load, and falling when the executors go from 1 to 3, calls spread across them",
    async () => {
      const samples: { atMs: number; lag: number; executors: number }[] = [];
      let executors = 1;
      const startedAt = Date.now();
      const sampling = setInterval(() => {
        void lag().then(
          (value) => samples.push({ atMs: Date.now() - startedAt, lag: value, executors }),
          () => {},
        );
      }, 200);
      try {
        const requests = Array.from({ length: 40 }, (_, i) => ask("fake:parallel-sleeps", `load ${i}`));
        for (const request of requests) request.catch(() => {}); // awaited below; a failure before must not go unhandled
        const grown = await until(
          "the lag to grow",
          async () => ((await lag()) >= 60 ? await lag() : undefined),
          60_000,
        );
        const before = await ackedByPod();
        // `kubectl scale` for podman 4.3, whose `kube play --replace` fails on a Deployment's pods: the
        // copy stops (and hands its calls back), three start.
        executors = 3;
        await podman(["kube", "down", join(work, "executor.yaml")], 120_000);
        await play("executor", stack.actor("executor", 3));
        await Promise.all([0, 1, 2].map((i) => ready(`toolformer-executor-pod-${i}`)));
        const replies = await Promise.all(requests);
        await until("the lag to fall to 0", async () => ((await lag()) === 0 ? true : undefined), 60_000);
        const after = await ackedByPod();
        console.log(
          `lag: grew to ${grown} with 1 executor; samples ${JSON.stringify(samples.filter((_, i) => i % 5 === 0))}`,
        );
        console.log(
          `sleep calls acked per executor pod after the scale: ${JSON.stringify([...after])} (before: ${JSON.stringify([...before])})`,
        );
        expect(replies.every((reply) => reply.status === "completed")).toBe(true);
        expect(Math.max(...samples.filter((s) => s.executors === 1).map((s) => s.lag))).toBeGreaterThanOrEqual(60);
        expect(after.size).toBe(3);
        for (const [pod, acked] of after) expect([pod, acked > 0]).toEqual([pod, true]);
      } finally {
        clearInterval(sampling);
      }
    },
    300_000,
  );

  it.skipIf(QUICK)(
    "loses nothing when an executor pod is deleted mid-load",
    async () => {
      const requests = Array.from({ length: 30 }, (_, i) => ask("fake:parallel-sleeps", `deleted ${i}`));
      for (const request of requests) request.catch(() => {});
      await until("calls in flight", async () => ((await lag()) >= 20 ? true : undefined), 60_000);
      // What `kubectl delete pod` does: SIGTERM to the pod's containers, then the grace period (45 s)
      // before a SIGKILL, while the pod's sandbox (and so its network) stays until they have exited.
      // `podman pod stop` would stop the infra container, and with it the network, at the same time:
      // the copy could not hand anything back and was SIGKILLed at 45 s. So the actor's container is
      // stopped first, as Kubernetes would, then the pod removed.
      const deletedAt = Date.now();
      await podman(["stop", "--time", "45", "toolformer-executor-pod-1-actor"], 90_000);
      const stopMs = Date.now() - deletedAt;
      await podman(["pod", "rm", "--force", "toolformer-executor-pod-1"]);
      const replies = await Promise.all(requests);
      console.log(`executor pod deleted mid-load: it stopped in ${stopMs} ms; ${replies.length} requests answered`);
      for (const reply of replies) {
        expect(reply.status).toBe("completed");
        expect(reply.answer).toBe("slept four times in parallel");
        expect(reply.toolCalls).toHaveLength(SLEEPS_PER_REQUEST);
        expect(reply.toolCalls.every((call) => call.status === "succeeded")).toBe(true);
      }
      // The copy stops by itself (hands back what has not started, finishes what runs), far inside the
      // grace period: the grace period is never the bound (0.8-1 s here; the bound is loose on purpose).
      expect(stopMs).toBeLessThan(30_000);
    },
    300_000,
  );
});
