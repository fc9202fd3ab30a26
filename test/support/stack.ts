import { dispatcherActor, type ModelLimits, type TenantPolicies } from "@toolformer/dispatcher";
import { executorActor, type ExecutorOptions, type McpServers } from "@toolformer/executor";
import { rateLimiterActor } from "@toolformer/rate-limiter";
import { schedulerActor } from "@toolformer/scheduler";
import { speculationActor, SpeculationOptionsSchema, type SpeculationOptions } from "@toolformer/speculation";
import { BaseConfigSchema, startActor, type ActorDefinition, type RunningActor } from "@toolformer/runtime";
import type { NatsAuth } from "@toolformer/client";
import type { RateLimitsConfig, Role } from "@toolformer/protocol";
import { freePort } from "@toolformer/testing";
import { EXAMPLE_TOOLS, type TypeScriptTool } from "@toolformer/tools";

export interface StackOptions {
  natsUrl: string;
  /** Each actor connects as its own role (the test server's `credentials`). */
  credentials: (role: Role) => NatsAuth;
  fakeLlmUrl: string;
  /** Copies of each actor (default one of each). */
  copies?: Partial<Record<"dispatcher" | "scheduler" | "rateLimiter" | "speculation" | "executor", number>>;
  /** The rate-limiter copies' actor ids, in start order (default random): a test then knows which owns a line. */
  rateLimiterIds?: readonly string[];
  tools?: readonly TypeScriptTool[];
  /** The dispatchers' per-model request and token limits. */
  modelLimits?: ModelLimits;
  /** The operator's rate-limit scopes (what TF_RATE_LIMITS_FILE holds). */
  rateLimits?: RateLimitsConfig;
  /** The executors' cluster-wide cap on calls running at once. */
  maxConcurrentCalls?: number;
  /** MCP servers the executors mount. */
  mcpServers?: McpServers;
  /** The executors' thresholds for large results. */
  results?: ExecutorOptions["results"];
  /** The speculation engine's predictors and budgets (the fake model server is its provider). */
  speculation?: Partial<SpeculationOptions>;
  /** Whether requests that do not say speculate. */
  speculationDefault?: "on" | "off";
  /** What each tenant account's requests may ask for (TF_TENANT_POLICIES). */
  tenantPolicies?: TenantPolicies;
  /** Each actor serves its own `/metrics` on a free port (as each actor process does on METRICS_PORT). */
  metrics?: boolean;
}

/** The speculation engine's settings for a test: the defaults, the fake model server, the test's own. */
export function speculationOptions(options: Pick<StackOptions, "fakeLlmUrl" | "speculation">): SpeculationOptions {
  return SpeculationOptionsSchema.parse({ fakeLlmUrl: options.fakeLlmUrl, ...options.speculation });
}

export interface Stack {
  actors: RunningActor[];
  /** With `metrics`: each actor's `/metrics` URL, by the actor's id. */
  metricsUrls: Map<string, { actor: string; url: string }>;
  /** Starts one more copy of an actor (e.g. to replace one a test stopped). */
  add(definition: ActorDefinition): Promise<RunningActor>;
  stop(): Promise<void>;
}

/**
 * The five actors in this process, each with its own NATS connection: the same code the actor
 * processes run, started in-process so tests can give executors their own tools.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const config = (role: Role, metricsPort: number, actorId: string | undefined) =>
    BaseConfigSchema.parse({
      natsUrl: options.natsUrl,
      natsAuth: options.credentials(role),
      logLevel: process.env.TEST_LOG_LEVEL ?? "silent",
      metricsPort,
      actorId,
    });
  const limiterIds = [...(options.rateLimiterIds ?? [])];
  const copies = { dispatcher: 1, scheduler: 1, rateLimiter: 1, speculation: 1, executor: 1, ...options.copies };
  const tools = options.tools ?? EXAMPLE_TOOLS;
  const definitions: [ActorDefinition, number][] = [
    [rateLimiterActor({ rateLimits: options.rateLimits ?? { scopes: [] }, agingMs: 1_000 }), copies.rateLimiter],
    [
      executorActor({
        tools,
        remoteTools: true,
        maxInFlightPerTool: 256,
        discoveryIntervalMs: 500,
        maxConcurrentCalls: options.maxConcurrentCalls,
        mcpServers: options.mcpServers,
        results: options.results,
      }),
      copies.executor,
    ],
    [schedulerActor({ maxConcurrentRounds: 1000 }), copies.scheduler],
    [
      dispatcherActor({
        maxConcurrentRequests: 1000,
        fakeLlmUrl: options.fakeLlmUrl,
        modelLimits: options.modelLimits ?? {},
        speculationDefault: options.speculationDefault ?? "off",
        tenantPolicies: options.tenantPolicies ?? {},
      }),
      copies.dispatcher,
    ],
    [speculationActor(speculationOptions(options)), copies.speculation],
  ];
  const actors: RunningActor[] = [];
  const metricsUrls: Stack["metricsUrls"] = new Map();
  const add = async (definition: ActorDefinition) => {
    const metricsPort = options.metrics ? await freePort() : 0;
    // An actor's name is its role's (protocol ROLES).
    const actorId = definition.name === "rate-limiter" ? limiterIds.shift() : undefined;
    const actor = await startActor(definition, config(definition.name as Role, metricsPort, actorId));
    actors.push(actor);
    if (metricsPort > 0)
      metricsUrls.set(actor.actorId, { actor: definition.name, url: `http://127.0.0.1:${metricsPort}/metrics` });
    return actor;
  };
  // Side by side, as a deployment starts them: each actor's binding and consumers wait for the servers,
  // and those waits overlap. Actors make no assumption about each other's start order.
  await Promise.all(definitions.flatMap(([definition, count]) => Array.from({ length: count }, () => add(definition))));
  return {
    actors,
    metricsUrls,
    add,
    async stop() {
      await Promise.allSettled(actors.splice(0).map((actor) => actor.stop()));
    },
  };
}
