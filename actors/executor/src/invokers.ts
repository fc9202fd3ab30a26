import type { Msg, NatsConnection } from "@nats-io/transport-node";
import { headers } from "@nats-io/transport-node";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CancelReason,
  ContentType,
  decode,
  encode,
  ErrorCode,
  Header,
  TerminalError,
  type ToolDefinition,
} from "@toolformer/protocol";
import {
  abortable,
  backoffDelayMs,
  isNoResponders,
  publishCallCancel,
  traceCarrier,
  type Logger,
} from "@toolformer/runtime";
import type { ConnectionLosses } from "./connection-losses.ts";
import { cancelReasonOf } from "./abort-reasons.ts";
import { argumentChecker } from "@toolformer/tool-calls";
import type { WorkerPool } from "./worker-pool.ts";
import { retryAfterSecondsMs, ToolRateLimitedError } from "./tool-rate-limited.ts";
import { toolDefinitionOf, type ToolContext, type TypeScriptTool } from "@toolformer/tools";
import { z } from "zod";

/** The service error code a remote tool answers with when it is rate limited (as HTTP's 429). */
const TOO_MANY_REQUESTS = "429";

/** What a remote call resolves to when its request or reply may have been lost (ConnectionLosses). */
const LOST: unique symbol = Symbol("connection lost");

/**
 * How long a call waits for a remote tool that answers "no responders" before it fails. The tool is in
 * the catalog, so its service was there moments ago: a service whose node died is away while it redials
 * (nats.js waits about 2 s before it dials again), and a call sent then found nobody (a full fault run
 * of 2026-12-03 failed a call so, and the model answered without its result). A service that is really
 * gone fails its calls this much later, and the catalog drops it after three discovery rounds.
 */
export const NO_RESPONDERS_PATIENCE_MS = 5_000;

/** A hosted tool, whatever its kind: the executor only needs its definition and a way to run it. */
export interface ToolInvoker {
  definition: ToolDefinition;
  invoke(args: unknown, ctx: ToolContext & { traceparent: string }): Promise<unknown>;
}

/**
 * Runs a TypeScript tool in-process after validating its arguments against its zod schema, or in the
 * worker pool when the tool asks for it (the worker validates the same way).
 */
export function typescriptInvoker(tool: TypeScriptTool, pool: () => WorkerPool): ToolInvoker {
  const { worker } = tool;
  return {
    definition: toolDefinitionOf(tool),
    async invoke(args, ctx) {
      if (worker)
        return pool().run({ module: worker.module, tool: tool.name, args, memoryLimitMb: worker.memoryLimitMb }, ctx);
      const parsed = tool.parameters.safeParse(args);
      if (!parsed.success) {
        throw new TerminalError(ErrorCode.INVALID_ARGUMENTS, `invalid arguments: ${z.prettifyError(parsed.error)}`);
      }
      return tool.run(parsed.data, ctx);
    },
  };
}

/**
 * Calls an endpoint of a NATS micro service: JSON arguments in, JSON result out, errors signalled with
 * the service API's headers. The request is bounded by the call's deadline; a call abandoned early
 * (cancel, deadline, tool timeout) is announced on `orchestrate.call.cancel.<tool>`. When this
 * executor's connection is lost while the call runs, or a node of the cluster goes away, its request
 * or its reply may be lost: the call is sent again (after the reconnect), with the same call id (the
 * tool's idempotency key, docs/tools.md).
 */
export function remoteInvoker(
  nc: NatsConnection,
  losses: ConnectionLosses,
  definition: ToolDefinition,
  subject: string,
  log: Logger,
): ToolInvoker {
  const check = argumentChecker(definition.parameters);
  return {
    definition,
    async invoke(args, ctx) {
      check(args);
      const h = headers();
      h.set(Header.contentType, ContentType.json);
      h.set(Header.requestId, ctx.requestId);
      h.set(Header.callId, ctx.callId);
      const { traceparent, tracestate } = traceCarrier(ctx.traceparent);
      h.set(Header.traceparent, traceparent);
      if (tracestate) h.set(Header.tracestate, tracestate);
      h.set(Header.deadline, String(ctx.deadline));
      // The service cannot see our AbortSignal: tell it, unless the cancel it would hear came from that subject already.
      const tellService = () => {
        const reason = cancelReasonOf(ctx.signal.reason);
        if (reason === CancelReason.race) return;
        publishCallCancel(nc, { requestId: ctx.requestId, callId: ctx.callId, tool: definition.name, reason });
      };
      ctx.signal.addEventListener("abort", tellService, { once: true });
      const body = encode(args, ContentType.json);
      const ask = async (): Promise<Msg> => {
        let nobodySince: number | undefined;
        let lostOnce = false;
        for (let sent = 1, unanswered = 0; ; sent++) {
          const loss = losses.next();
          const timeout = Math.max(1, ctx.deadline - Date.now());
          const request = nc.request(subject, body, { headers: h, timeout });
          request.catch(() => undefined); // given up on after a loss: its failure is nobody's
          const lostFirst = loss.lostAndBack.then((): typeof LOST => LOST);
          let reply: Msg | typeof LOST;
          try {
            reply = await abortable<Msg | typeof LOST>(Promise.race([request, lostFirst]), ctx.signal).finally(
              loss.cancel,
            );
          } catch (error) {
            // The service may be reconnecting (its node died): wait for it to come back, a while, rather
            // than fail a call of a tool that was there moments ago. A call sent again after a loss
            // reached the service before, so it waits for as long as the request allows.
            if (!isNoResponders(error) || ctx.signal.aborted) throw error;
            nobodySince ??= Date.now();
            if (!lostOnce && Date.now() - nobodySince >= NO_RESPONDERS_PATIENCE_MS) throw error;
            await sleep(backoffDelayMs(++unanswered), undefined, { signal: ctx.signal }).catch(() => undefined);
            continue;
          }
          if (reply !== LOST) return reply;
          lostOnce = true;
          log.warn(
            { requestId: ctx.requestId, callId: ctx.callId, tool: definition.name, sent },
            "a remote call's request or reply may have been lost with a connection or a node; sending it again",
          );
        }
      };
      const reply = await ask().finally(() => ctx.signal.removeEventListener("abort", tellService));
      const serviceError = reply.headers?.get(Header.serviceError);
      if (serviceError) {
        const code = reply.headers?.get(Header.serviceErrorCode) ?? "";
        if (code === TOO_MANY_REQUESTS)
          throw new ToolRateLimitedError(serviceError, retryAfterSecondsMs(reply.headers?.get(Header.retryAfter)));
        throw new TerminalError(ErrorCode.TOOL_FAILED, code ? `${serviceError} (code ${code})` : serviceError);
      }
      if (reply.data.length === 0) return null;
      try {
        return decode(reply.data, ContentType.json);
      } catch {
        throw new TerminalError(ErrorCode.TOOL_FAILED, "the remote tool replied with a body that is not JSON");
      }
    },
  };
}
