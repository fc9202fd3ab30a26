import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { ToolformerClient } from "@toolformer/client";
import { startFakeLlm } from "@toolformer/fake-llm";
import { startNatsCluster } from "@toolformer/testing";
import { startStack } from "../support/stack.ts";
import { waitForCatalog } from "../support/environment.ts";

/**
 * Longer than one JetStream request's timeout (5 s), where a start step tried once failed, and than the
 * 15 s a bind step waits for a stream the admin has not provisioned yet, where the tries of one ended.
 */
const QUORUM_LOST_MS = 16_000;
/**
 * How long the servers may take to elect every stream's and consumer's leader again once both nodes are
 * back: 5-19 s in 12 runs on nats-server 2.9 (the rounds stream's replicas elect again and again). In
 * 3 of about 25 runs before this wait, the request sent as soon as the actors served timed out, while
 * the scheduler's pulls on the rounds stream went unanswered for over 2 minutes. The actors cannot
 * shorten the elections; what this test shows is that they start through the outage and serve once the
 * servers do. (Beside the other test files the request once timed out even with every leader back, not
 * explained yet: vitest.config.ts runs this file apart.) The test's own limit is this and 90 s for the rest.
 */
const LEADERS_BACK_MS = 150_000;

/**
 * CI once saw three rate limiters fail to start on a new cluster (a JetStream request timed out at
 * their start). Every step of an actor's start is tried again while the servers do not answer it: here
 * the cluster has no JetStream quorum at all while the five actors start, and gets it back later.
 */
describe("actors started while the cluster has no JetStream quorum", () => {
  it("wait for it, then serve: a request that calls a tool is answered", async () => {
    await using cluster = await startNatsCluster({ size: 3 });
    await using fake = await startFakeLlm({
      scenarios: {
        echo: { turns: [{ toolCalls: [{ name: "echo", arguments: { value: "hi" } }] }, { text: "done" }] },
      },
    });
    await cluster.killNode(1);
    await cluster.killNode(2);
    const live = cluster.nodes[0]?.url ?? "";
    const startedAt = Date.now();
    // Read only after the outage has lasted its full length; a start that failed meanwhile is thrown then.
    const started = startStack({ natsUrl: live, credentials: cluster.credentials, fakeLlmUrl: fake.url }).then(
      (stack) => ({ stack, startMs: Date.now() - startedAt }),
      (error: unknown) => ({ error }),
    );
    await sleep(QUORUM_LOST_MS); // the outage itself, not a wait for an event
    await Promise.all([cluster.startNode(1), cluster.startNode(2)]);
    const leadersLacking = await cluster.untilEveryStreamLeads(LEADERS_BACK_MS).then(
      () => undefined,
      (error: unknown) => error,
    );
    const outcome = await started;
    if ("error" in outcome) throw outcome.error;
    const { stack, startMs } = outcome;
    let client: ToolformerClient | undefined;
    try {
      if (leadersLacking) throw leadersLacking;
      client = new ToolformerClient(await cluster.connect("client"));
      console.info(
        `five actors served ${startMs} ms after they started, the first ${QUORUM_LOST_MS} ms without quorum`,
      );
      expect(startMs).toBeGreaterThanOrEqual(QUORUM_LOST_MS);
      await waitForCatalog(client, ["echo"]);
      const reply = await client.request({ id: `quorum-${Date.now()}`, prompt: "echo", model: "fake:echo" });
      // Unexplained once under load (above): a failure says which durable held the request, and whether
      // its pulls reached the leader.
      const backlogs = reply.status === "completed" ? "" : await cluster.describeBacklogs();
      expect(reply.status, `the request ended ${reply.status}; the consumers' backlogs:\n${backlogs}`).toBe(
        "completed",
      );
      expect(reply.answer).toBe("done");
      expect(reply.toolCalls.map((call) => call.status)).toEqual(["succeeded"]);
    } finally {
      await client?.close();
      await stack.stop();
    }
  }, 240_000);
});
