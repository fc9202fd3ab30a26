import {
  APPROVE_WILDCARD,
  CONSUMERS,
  ContentType,
  encode,
  INTERNAL_SUBJECTS,
  PUBLIC_SUBJECTS,
  QUEUE_GROUPS,
  REPLAY_WILDCARD,
  RequestRunSchema,
  SERVICE_NAMES,
  STREAMS,
  TENANT_SUBJECTS,
  type ToolsReply,
} from "@toolformer/protocol";
import { registryFromEndpoints } from "@toolformer/providers";
import { contentTypeHeaders, runConsumer, type ActorDefinition } from "@toolformer/runtime";
import { ConfiguredScopes, UpstreamBlocks } from "@toolformer/rate-limit-client";
import { SpeculationLedgerStore } from "@toolformer/speculation-ledger";
import { ApprovalStore } from "@toolformer/tool-calls";
import { handleApproval } from "./approvals.ts";
import type { DispatcherConfig } from "./config.ts";
import { acceptRequest } from "./edge.ts";
import { acceptInSpan } from "./edge-span.ts";
import { RequestReader } from "./edge-limits.ts";
import { FrontDoorHandOver } from "./front-door-hand-over.ts";
import { handleReplay } from "./replay-door.ts";
import { RequestMetrics } from "./request-metrics.ts";
import { runRequest } from "./run-request.ts";
import { ToolCatalog } from "./tool-catalog.ts";

/**
 * A request stays unacked while its dispatcher runs it (kept alive by in-progress acks every third of
 * this); if that dispatcher dies, another one takes it over from its recorded progress after at most this long.
 */
export const REQUEST_ACK_WAIT_MS = 15_000;
/**
 * Deliveries of one request before JetStream gives it up. Each takeover (a dispatcher killed, or
 * stopping and handing back) is a delivery, and the request's deadline already bounds how long it
 * runs, so this is far above what faults and rolling updates use up.
 */
export const REQUEST_MAX_DELIVER = 50;

/** The public face of the system: takes requests, runs each one's model loop, answers. */
export function dispatcherActor(
  config: Pick<
    DispatcherConfig,
    | "maxConcurrentRequests"
    | "openai"
    | "anthropic"
    | "fakeLlmUrl"
    | "modelLimits"
    | "speculationDefault"
    | "tenantPolicies"
  >,
): ActorDefinition {
  return {
    name: "dispatcher",
    serviceName: SERVICE_NAMES.dispatcher,
    description: "Accepts orchestrate requests and runs the model loop of each.",
    needs: {
      streams: ["requests", "rounds", "events", "speculation"],
      buckets: ["requests", "tools", "rateLimits", "speculationCalls", "approvals"],
      objectStores: ["results"],
    },
    async start(ctx) {
      const requests = ctx.kv.requests;
      const toolsBucket = ctx.kv.tools;
      if (!requests || !toolsBucket || !ctx.kv.rateLimits)
        throw new Error("the dispatcher's buckets were not provisioned");
      const configuredScopes = await ConfiguredScopes.watch(ctx.kv.rateLimits, ctx.log);
      const upstreamBlocks = new UpstreamBlocks(ctx.kv.rateLimits, ctx.log);
      const catalog = new ToolCatalog(ctx.log);
      await catalog.start(toolsBucket);
      const providers = registryFromEndpoints(config);
      const deps = {
        requests,
        catalog,
        providers,
        modelLimits: config.modelLimits,
        configuredScopes,
        upstreamBlocks,
        speculationDefault: config.speculationDefault === "on",
        ledger: await SpeculationLedgerStore.open(ctx),
        reader: new RequestReader(),
        tenantPolicies: config.tenantPolicies,
        requestMetrics: new RequestMetrics(ctx.metrics.registry),
      };
      const frontDoor = new FrontDoorHandOver();

      const runner = await runConsumer(
        ctx.js,
        ctx.jsm,
        {
          stream: STREAMS.requests.name,
          durable: CONSUMERS.dispatcherRunner,
          filterSubject: INTERNAL_SUBJECTS.requestRunWildcard,
          schema: RequestRunSchema,
          maxInFlight: config.maxConcurrentRequests,
          ackWaitMs: REQUEST_ACK_WAIT_MS,
          maxDeliver: REQUEST_MAX_DELIVER,
          // A request delivered again after a lost ack would send its reply again.
          confirmAcksOver: ctx.nc,
          handle: (run, delivery) => runRequest(run, delivery, ctx, deps),
        },
        ctx.log,
        ctx.metrics,
      );

      // The orchestrator's own account, and the tenants' accounts through their imports (ADR 0017).
      for (const [name, subject] of [
        ["request", PUBLIC_SUBJECTS.request],
        ["tenant-request", TENANT_SUBJECTS.requestWildcard],
      ] as const) {
        ctx.service.addEndpoint(name, {
          subject,
          queue: QUEUE_GROUPS.dispatcher,
          handler: (error, msg) => {
            if (error) return void ctx.log.error({ err: error }, "request endpoint failed");
            frontDoor
              .run(msg, (handedOver) => acceptInSpan(msg, () => acceptRequest(msg, ctx, deps, handedOver)))
              .catch((failure: unknown) => {
                ctx.log.error({ err: failure }, "could not accept a request");
                msg.respondError(500, "the request could not be accepted; it was not run");
              });
          },
        });
      }
      // Approvals of the orchestrator's account, and of each tenant for its own requests only (its import).
      const approvals = { approvals: await ApprovalStore.open(ctx), tools: () => catalog.available(), log: ctx.log };
      ctx.service.addEndpoint("approve", {
        subject: APPROVE_WILDCARD,
        queue: QUEUE_GROUPS.dispatcher,
        handler: (error, msg) => {
          if (error) return void ctx.log.error({ err: error }, "approve endpoint failed");
          handleApproval(msg, approvals).catch((failure: unknown) => {
            ctx.log.error({ err: failure }, "could not apply an approval");
            msg.respondError(500, "the approval could not be stored; send it again");
          });
        },
      });
      // Replays of the orchestrator's account, and of each tenant of its own requests only (its import).
      ctx.service.addEndpoint("replay", {
        subject: REPLAY_WILDCARD,
        queue: QUEUE_GROUPS.dispatcher,
        handler: (error, msg) => {
          if (error) return void ctx.log.error({ err: error }, "replay endpoint failed");
          handleReplay(msg, ctx, requests).catch((failure: unknown) => {
            ctx.log.error({ err: failure }, "could not read a request's records for a replay");
            msg.respondError(500, "the request's records could not be read; send the replay again");
          });
        },
      });
      ctx.service.addEndpoint("tools", {
        subject: PUBLIC_SUBJECTS.tools,
        queue: QUEUE_GROUPS.dispatcher,
        handler: (error, msg) => {
          if (error) return;
          const reply: ToolsReply = {
            tools: [...catalog.available().values()].sort((a, b) => a.name.localeCompare(b.name)),
          };
          msg.respond(encode(reply, ContentType.json), { headers: contentTypeHeaders(ContentType.json) });
        },
      });

      return {
        async stop() {
          // The endpoint has stopped (the runtime stops the service first): publishes in flight go to the other copies.
          const handedOver = frontDoor.handOver(ctx.nc);
          if (handedOver > 0)
            ctx.log.info({ handedOver }, "stopping: handed publishes in flight to the other front doors");
          await runner.stop();
          catalog.stop();
          configuredScopes.stop();
          upstreamBlocks.stop();
        },
      };
    },
  };
}
