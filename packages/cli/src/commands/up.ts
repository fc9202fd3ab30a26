import { join } from "node:path";
import { startFakeLlm } from "@toolformer/fake-llm";
import { ToolformerClient } from "@toolformer/client";
import { spawnActors } from "../actor-processes.ts";
import { startLocalNats, type LocalNats } from "../local-nats.ts";
import { waitForActors } from "../readiness.ts";
import { runAndPrint } from "./run.ts";
import type { ActorName } from "./actor.ts";

const ACTORS_READY_TIMEOUT_MS = 60_000;
export const DEMO_PROMPT = "What is the weather in Paris and in Tokyo, and what is 21*2?";

export interface UpOptions {
  copies: Record<ActorName, number>;
  natsPort: number;
  demo: boolean;
}

/**
 * The whole stack in the foreground: a local nats-server (unless NATS_URL names one), the fake model
 * server, and each actor as its own process. Prints one `ready` line, answers a demo request, and on
 * Ctrl-C drains the actors and stops what it started.
 */
export async function runUpCommand(options: UpOptions): Promise<number> {
  let nats: LocalNats | undefined;
  const natsUrl =
    process.env.NATS_URL ??
    (nats = await startLocalNats(options.natsPort, join(process.cwd(), ".toolformer", "nats"))).url;
  const fake = await startFakeLlm({ port: 0 });
  const realProvider = process.env.OPENAI_API_KEY ? "openai" : process.env.ANTHROPIC_API_KEY ? "anthropic" : undefined;
  const actors = spawnActors(options.copies, {
    ...process.env,
    NATS_URL: natsUrl,
    FAKE_LLM_URL: fake.url,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
  });

  const stopAll = async () => {
    await actors.stop();
    await fake.close();
    await nats?.stop();
  };
  try {
    await Promise.race([
      waitForActors(natsUrl, options.copies, ACTORS_READY_TIMEOUT_MS),
      actors.exited.then((why) => Promise.reject(new Error(why))),
    ]);
  } catch (error) {
    await stopAll();
    throw error;
  }
  const actorSummary = Object.entries(options.copies)
    .map(([name, n]) => `${name}=${n}`)
    .join(" ");
  console.log(`ready nats=${natsUrl} model=${realProvider ?? `fake(${fake.url})`} ${actorSummary}`);

  if (options.demo) {
    const model =
      process.env.TOOLFORMER_MODEL ??
      (realProvider === "openai"
        ? "openai:gpt-4o-mini"
        : realProvider === "anthropic"
          ? "anthropic:claude-haiku-4-5"
          : "fake:demo");
    console.log(`demo request (${model}): ${DEMO_PROMPT}`);
    const client = await ToolformerClient.connect(natsUrl, "toolformer-up-demo");
    try {
      await runAndPrint(client, { prompt: DEMO_PROMPT, model, timeoutMs: 60_000 }, (line) => console.log(line));
    } catch (error) {
      console.error(`demo request failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      await client.close();
    }
    console.log('serving; try `npx toolformer run "<prompt>"` in another terminal. Ctrl-C stops.');
  }

  const why = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("interrupted"));
    process.once("SIGTERM", () => resolve("terminated"));
    void actors.exited.then(resolve);
  });
  console.log(`stopping (${why})`);
  await stopAll();
  console.log("stopped");
  return why.includes("exited") ? 1 : 0;
}
