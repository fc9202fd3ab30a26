import { Svcm, type Service, type ServiceMsg } from "@nats-io/services";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { connectionOptions, type NatsAuth } from "@toolformer/client";
import { Header } from "@toolformer/protocol";
import { combine, COMBINE_TOOL, COMBINED_VALUES, WORK_TOOL, workValue } from "./scenario.ts";

/** One call received by a tool, written by the tool itself: the effect log the checker trusts. */
export interface Effect {
  requestId: string;
  callId: string;
  tool: string;
  args: unknown;
  startedAt: number;
  /** When it answered; undefined if the run ended before it did. */
  finishedAt?: number;
  /**
   * Set when the call id had been received before, so the tool answered from its record of that call
   * instead of running it again (docs/tools.md: the call id is the idempotency key): whether that run
   * was still going or done. Absent on a run.
   */
  answeredFrom?: "running" | "record";
}

/** A tool's record of one call id: its run's answer once there is one, and the repeats waiting for it. */
interface CallRecord {
  answer?: string;
  waiting: ServiceMsg[];
}

export interface ToolService extends AsyncDisposable {
  effects: Effect[];
  nc: NatsConnection;
}

/** Each call's runs are bounded by this, so a reply lost with a node fails its call instead of holding the request. */
const TOOL_TIMEOUT_MS = 10_000;

/**
 * The tools the fault runs call, as a NATS micro service the executors discover: `fault_work` (read-only,
 * so it can be speculated; rate-limited by the operator's scope) and `fault_combine` (side effects: tried
 * once). The connection knows every node and reconnects forever, so the service outlives a node's death.
 */
export async function startToolService(
  urls: string[],
  auth: NatsAuth,
  timing: { workMs: number; combineMs: number },
): Promise<ToolService> {
  const nc = await connect({
    ...connectionOptions(urls.join(","), auth),
    name: "fault-tools",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  const effects: Effect[] = [];
  const calls = new Map<string, CallRecord>();
  const run = (tool: string, msg: ServiceMsg, ms: number, result: (args: Record<string, unknown>) => unknown) => {
    const args = msg.json<Record<string, unknown>>();
    const effect: Effect = {
      requestId: msg.headers?.get(Header.requestId) ?? "",
      callId: msg.headers?.get(Header.callId) ?? "",
      tool,
      args,
      startedAt: Date.now(),
    };
    effects.push(effect);
    // As the contract asks of a tool with side effects: a call id received again (its executor lost the
    // reply with its connection, or died) is answered from the record, never run twice.
    const key = `${effect.requestId}/${effect.callId}`;
    const known = calls.get(key);
    if (known) {
      effect.answeredFrom = known.answer === undefined ? "running" : "record";
      if (known.answer === undefined) return void known.waiting.push(msg);
      effect.finishedAt = Date.now();
      return void msg.respond(known.answer);
    }
    const record: CallRecord = { waiting: [msg] };
    calls.set(key, record);
    setTimeout(() => {
      effect.finishedAt = Date.now();
      record.answer = JSON.stringify(result(args));
      for (const waiting of record.waiting.splice(0)) waiting.respond(record.answer);
    }, ms);
  };
  const service: Service = await new Svcm(nc).add({ name: "fault-tools", version: "1.0.0" });
  service.addEndpoint(WORK_TOOL, {
    subject: "faults.work",
    metadata: {
      "toolformer.parameters": JSON.stringify({
        type: "object",
        properties: { seed: { type: "string" }, part: { type: "integer", minimum: 0 } },
        required: ["seed", "part"],
        additionalProperties: false,
      }),
      "toolformer.description": "One part of the fault workload's computation",
      "toolformer.read_only": "true",
      "toolformer.timeout_ms": String(TOOL_TIMEOUT_MS),
    },
    handler: (_error, msg) =>
      run(WORK_TOOL, msg, timing.workMs, ({ seed, part }) => ({
        seed,
        part,
        value: workValue(String(seed), Number(part)),
      })),
  });
  service.addEndpoint(COMBINE_TOOL, {
    subject: "faults.combine",
    metadata: {
      "toolformer.parameters": JSON.stringify({
        type: "object",
        properties: {
          seed: { type: "string" },
          values: { type: "array", items: { type: "number" }, minItems: COMBINED_VALUES, maxItems: COMBINED_VALUES },
        },
        required: ["seed", "values"],
        additionalProperties: false,
      }),
      "toolformer.description": "Combines the parts into one total",
      "toolformer.idempotent": "false",
      "toolformer.timeout_ms": String(TOOL_TIMEOUT_MS),
    },
    handler: (_error, msg) =>
      run(COMBINE_TOOL, msg, timing.combineMs, ({ seed, values }) => combine(String(seed), values as number[])),
  });
  return {
    effects,
    nc,
    async [Symbol.asyncDispose]() {
      await service.stop().catch(() => undefined);
      await nc.close();
    },
  };
}
