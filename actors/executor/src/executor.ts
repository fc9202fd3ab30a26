import { availableParallelism } from "node:os";
import { Svcm } from "@nats-io/services";
import {
  CONCURRENCY_LEASE_MS,
  MESSAGE_IDS,
  CONSUMERS,
  eventForRecord,
  ExecCallSchema,
  INTERNAL_SUBJECTS,
  SERVICE_NAMES,
  STREAMS,
  type CallResult,
  type ToolDefinition,
} from "@toolformer/protocol";
import {
  lastStored,
  packInternal,
  publishStored,
  retryUntil,
  runConsumer,
  traceparentHere,
  type ActorContext,
  type ActorDefinition,
  type RunningConsumer,
} from "@toolformer/runtime";
import { ConfiguredScopes, sendRateLimitFeedback, UpstreamBlocks } from "@toolformer/rate-limit-client";
import { messageBudget } from "@toolformer/result-store";
import type { TypeScriptTool } from "@toolformer/tools";
import { CallClaims } from "./call-claims.ts";
import { CatalogRegistration } from "./catalog-registration.ts";
import { ConnectionLosses } from "./connection-losses.ts";
import { remoteInvoker, typescriptInvoker, type ToolInvoker } from "./invokers.ts";
import { failGivenUpCalls } from "./given-up-calls.ts";
import type { McpServers } from "./mcp-servers.ts";
import type { MountedMcpServer } from "./mcp-tools.ts";
import { acquirePermit, toolScope } from "./permits.ts";
import { MissingRemoteTools, toolsFromServiceInfos } from "./remote-discovery.ts";
import { carried, DEFAULT_RESULT_MAX_BYTES, DEFAULT_SPILL_BYTES } from "./result-transport.ts";
import { ResultCache } from "./result-cache.ts";
import { runCall, type CallDeps } from "./run-call.ts";
import { resultCacheMetrics, ToolMetrics } from "./tool-metrics.ts";
import { WorkerPool } from "./worker-pool.ts";

/** A tool a source offers; its invoker is made only when it is hosted. */
interface OfferedTool {
  definition: ToolDefinition;
  invoker(): ToolInvoker;
}

export interface ExecutorOptions {
  /** TypeScript tools this executor hosts. */
  tools: readonly TypeScriptTool[];
  /** Discover and host tools served by NATS micro services. */
  remoteTools: boolean;
  /** Calls of one tool this copy runs at once. */
  maxInFlightPerTool: number;
  discoveryIntervalMs: number;
  /** At most this many calls run at once in the whole cluster (every executor must say the same); none when absent. */
  maxConcurrentCalls?: number | undefined;
  /**
   * How long a concurrency place of this copy's calls is kept without a renewal (default
   * CONCURRENCY_LEASE_MS; every executor must say the same); renewed every third of it while the call runs.
   */
  concurrencyLeaseMs?: number | undefined;
  /** How long a call may go without an ack before another executor gets it (default CALL_ACK_WAIT_MS). */
  callAckWaitMs?: number | undefined;
  /** Deliveries of one call before it is given up and failed (default DEFAULT_MAX_DELIVER). */
  maxDeliver?: number | undefined;
  /** Threads for tools that run in the worker pool (default: one less than the cores, at least one). */
  workerThreads?: number | undefined;
  /** Results larger than `spillBytes` (JSON) go to the object store; larger than `maxBytes` fail the call. */
  results?: { spillBytes?: number | undefined; maxBytes?: number | undefined } | undefined;
  /** Model Context Protocol servers whose tools this executor mounts. */
  mcpServers?: McpServers | undefined;
}

/**
 * A call stays unacked while it runs (kept alive by in-progress acks every third of this); if its
 * executor dies, another one gets it after at most this long. Shorter would risk a stalled but living
 * executor's call being started a second time elsewhere.
 */
export const CALL_ACK_WAIT_MS = 10_000;

const DEFAULT_WORKER_THREADS = Math.max(1, availableParallelism() - 1);

const DISCOVERY_WAIT_MS = 500;
/** Rounds in a row a remote tool must be missing from discovery before this executor drops it. */
const DISCOVERY_ROUNDS_BEFORE_GONE = 3;

export function executorActor(options: ExecutorOptions): ActorDefinition {
  return {
    name: "executor",
    serviceName: SERVICE_NAMES.executor,
    description: "Runs tool calls: TypeScript tools in-process, remote tools over NATS micro services.",
    needs: {
      streams: ["exec", "results", "events"],
      buckets: ["tools", "rateLimits", "resultCache", "callClaims"],
      objectStores: ["results"],
    },
    async start(ctx) {
      const kv = ctx.kv.tools;
      if (!kv || !ctx.kv.rateLimits) throw new Error("the tools and rate-limit buckets were not provisioned");
      const configuredScopes = await ConfiguredScopes.watch(ctx.kv.rateLimits, ctx.log);
      const blocks = new UpstreamBlocks(ctx.kv.rateLimits, ctx.log);
      const registration = new CatalogRegistration(kv, ctx.actorId, options.maxInFlightPerTool, ctx.log);
      const hosted = new Map<string, { invoker: ToolInvoker; consumer: RunningConsumer }>();
      const resultCache = await ResultCache.open(ctx, resultCacheMetrics(ctx.metrics.registry));
      const limits = { configuredScopes, blocks };
      const deps = callDeps(ctx, limits, resultCache, options, (tool) => hosted.get(tool)?.invoker);

      const host = async (invoker: ToolInvoker) => {
        const tool = invoker.definition.name;
        const consumer = await runConsumer(
          ctx.js,
          ctx.jsm,
          {
            stream: STREAMS.exec.name,
            durable: CONSUMERS.executorForTool(tool),
            filterSubject: INTERNAL_SUBJECTS.exec(tool),
            schema: ExecCallSchema,
            maxInFlight: options.maxInFlightPerTool,
            ackWaitMs: options.callAckWaitMs ?? CALL_ACK_WAIT_MS,
            // A call delivered again while this copy runs it must not start its tool a second time.
            oneDeliveryAtATime: true,
            ...(options.maxDeliver === undefined ? {} : { maxDeliver: options.maxDeliver }),
            // What the call sends on (permits, events, its result) names this delivery's span as its parent.
            handle: (call, delivery) =>
              runCall({ ...call, traceparent: traceparentHere(call.traceparent) }, delivery, deps),
          },
          ctx.log,
          ctx.metrics,
        );
        hosted.set(tool, { invoker, consumer });
        await registration.add(invoker.definition);
      };
      // The invoker stays until the consumer has stopped: calls already delivered run, or go back.
      const unhost = async (tool: string) => {
        const entry = hosted.get(tool);
        if (!entry) return;
        await registration.remove(tool);
        await entry.consumer.stop();
        hosted.delete(tool);
      };

      let workers: WorkerPool | undefined;
      const pool = () => (workers ??= new WorkerPool(options.workerThreads ?? DEFAULT_WORKER_THREADS));
      for (const tool of options.tools) await host(typescriptInvoker(tool, pool));
      /**
       * Hosts what a source of tools (remote discovery, an MCP server) offers now: a tool that is new or
       * whose definition changed is hosted (again), and the source's tools named in `gone` are dropped.
       * A tool of the same name from another source (a local one) wins.
       */
      const hostOffered = async (owned: Set<string>, offered: Iterable<OfferedTool>, gone: Iterable<string>) => {
        for (const { definition, invoker } of offered) {
          const name = definition.name;
          if (hosted.has(name) && !owned.has(name)) continue;
          const current = hosted.get(name)?.invoker.definition;
          if (current && JSON.stringify(current) === JSON.stringify(definition)) continue;
          if (current) await unhost(name);
          await host(invoker());
          owned.add(name);
          ctx.log.info({ tool: name, source: definition.source }, "hosting a tool");
        }
        for (const name of gone) {
          owned.delete(name);
          await unhost(name);
          ctx.log.info({ tool: name }, "a tool is gone");
        }
      };

      const mounted: MountedMcpServer[] = [];
      for (const [name, server] of Object.entries(options.mcpServers ?? {})) {
        // The MCP SDK is loaded only by an executor that mounts a server (tens of MB otherwise unused).
        const { mountMcpServer } = await import("./mcp-tools.ts");
        const owned = new Set<string>();
        let offering = Promise.resolve();
        // One offer at a time: a list change may come while the tools of the connection are being hosted.
        const offer = (invokers: ToolInvoker[]) =>
          (offering = offering.then(async () => {
            const names = new Set(invokers.map((invoker) => invoker.definition.name));
            const gone = [...owned].filter((tool) => !names.has(tool));
            const offered = invokers.map((invoker) => ({ definition: invoker.definition, invoker: () => invoker }));
            await hostOffered(owned, offered, gone);
          }));
        mounted.push(await mountMcpServer(name, server, { offer, log: ctx.log.child({ server: name }) }));
      }
      registration.start();
      const givenUp = failGivenUpCalls(ctx.nc, ctx.jsm, deps, ctx.log);

      const remoteNames = new Set<string>();
      const missing = new MissingRemoteTools(DISCOVERY_ROUNDS_BEFORE_GONE);
      const losses = new ConnectionLosses(ctx.nc);
      const discover = async () => {
        const infos = [];
        const iterator = await new Svcm(ctx.nc).client({ strategy: "timer", maxWait: DISCOVERY_WAIT_MS }).info();
        for await (const info of iterator) infos.push(info);
        const { tools, rejected } = toolsFromServiceInfos(infos);
        for (const r of rejected) ctx.log.warn(r, "ignoring a remote endpoint that is not a valid tool");
        const offered = [...tools.values()].map(({ definition, subject }) => ({
          definition,
          invoker: () => remoteInvoker(ctx.nc, losses, definition, subject, ctx.log),
        }));
        await hostOffered(remoteNames, offered, missing.gone(remoteNames, new Set(tools.keys())));
      };
      let discovery: NodeJS.Timeout | undefined;
      let discovering: Promise<void> = Promise.resolve();
      if (options.remoteTools) {
        const tick = () => {
          discovering = discover()
            .catch((error: unknown) => ctx.log.warn({ err: error }, "remote tool discovery failed"))
            .finally(() => {
              discovery = setTimeout(tick, options.discoveryIntervalMs);
            });
        };
        tick();
      }

      return {
        /**
         * Withdraws this copy's catalog entries first (the catalog then lists only the copies that stay),
         * stops pulling calls, hands back every call whose tool has not started (at once when it waits for
         * a worker thread; when the limiter answers the question in flight, within its 5 s hold, when it
         * waits for permits, so no grant is left counted for nobody) and finishes the calls whose tool
         * runs (bounded by the consumers' stop grace).
         */
        async stop() {
          clearTimeout(discovery);
          await discovering;
          clearTimeout(discovery);
          await registration.stop();
          workers?.refuseWaiting();
          await Promise.all([...hosted.values()].map((entry) => entry.consumer.stop()));
          await givenUp.drain();
          await Promise.allSettled(mounted.map((mcp) => mcp.close()));
          await workers?.close();
          configuredScopes.stop();
          blocks.stop();
        },
      };
    },
  };
}

function callDeps(
  ctx: ActorContext,
  { configuredScopes, blocks }: { configuredScopes: ConfiguredScopes; blocks: UpstreamBlocks },
  resultCache: ResultCache,
  options: Pick<ExecutorOptions, "maxConcurrentCalls" | "concurrencyLeaseMs" | "results">,
  invoker: (tool: string) => ToolInvoker | undefined,
): CallDeps {
  const results = options.results ?? {};
  const toolMetrics = new ToolMetrics(ctx.metrics.registry);
  return {
    executorId: ctx.actorId,
    invoker,
    resultCache,
    claims: new CallClaims(ctx),
    onCancel: (requestId, listener) => ctx.cancellations.onCancel(requestId, listener),
    onCallCancel: (requestId, callId, listener) => ctx.cancellations.onCallCancel(requestId, callId, listener),
    // Read again while the results stream has no leader; a failure throws rather than answering "no",
    // which would run a call a second time.
    async hasResult(call) {
      const subject = INTERNAL_SUBJECTS.result(call.requestId, call.callId);
      const stored = await lastStored(ctx.jsm, STREAMS.results.name, subject, { giveUpAt: retryUntil(call.deadline) });
      return stored !== null;
    },
    acquirePermit: (call, signal, stopAsking) =>
      acquirePermit(
        ctx.nc,
        configuredScopes,
        blocks,
        {
          tool: invoker(call.tool)?.definition.maxConcurrency,
          all: options.maxConcurrentCalls,
          leaseMs: options.concurrencyLeaseMs ?? CONCURRENCY_LEASE_MS,
        },
        call,
        signal,
        ctx.log,
        stopAsking,
      ),
    captureToolContent: ctx.tracing.captureContent,
    async blockTool(call, until) {
      const scope = toolScope(call);
      blocks.blocked([scope], until);
      const { requestId, attempt, deadline, traceparent } = call;
      await sendRateLimitFeedback(ctx.nc, { op: "block", requestId, attempt, deadline, traceparent, scope, until });
    },
    publishEvent: async (call, event) => {
      if (!call.speculative) await ctx.events.publish(event, call.traceparent, { giveUpAt: retryUntil(call.deadline) });
    },
    // Each write is tried again while its stream has no leader (a node died), until the call's deadline
    // and a little past it (a timeout's record is still awaited).
    async publishResult(call, produced) {
      toolMetrics.ended(ctx, call.requestId, produced);
      const retry = () => ({ giveUpAt: retryUntil(call.deadline) });
      const record = await carried(produced, call, {
        spillBytes: Math.min(results.spillBytes ?? DEFAULT_SPILL_BYTES, messageBudget(ctx.nc)),
        maxBytes: results.maxBytes ?? DEFAULT_RESULT_MAX_BYTES,
        store: ctx.objectStores.results,
        retry: retry(),
      });
      const result: CallResult = { requestId: call.requestId, record };
      // The event first: the result lets the round (and then the request) finish, and the request's
      // completion event must not be stored before this call's. An event that cannot be stored does not
      // hold the result back: without a result the call would be delivered, and run, again.
      if (!call.speculative)
        await ctx.events
          .publish(eventForRecord(call.requestId, record), call.traceparent, retry())
          .catch((error: unknown) =>
            ctx.log.warn(
              { err: error, requestId: call.requestId, callId: call.callId },
              "could not publish a call's outcome event",
            ),
          );
      const { data, headers } = packInternal(result, call);
      await publishStored(ctx.js, INTERNAL_SUBJECTS.result(call.requestId, call.callId), data, {
        msgID: MESSAGE_IDS.result(call.requestId, call.callId),
        headers,
        ...retry(),
      });
    },
    log: ctx.log,
  };
}
