import type { CancelReason, ExecCall, OrchestrateEventDraft, ToolCallRecord } from "@toolformer/protocol";
import type { Logger } from "@toolformer/runtime";
import type { ToolInvoker } from "./invokers.ts";
import type { CallClaims } from "./call-claims.ts";
import type { Permit } from "./permits.ts";
import type { ResultCache } from "./result-cache.ts";

/** What running one call needs from the outside world; injected so the flow is testable without NATS. */
export interface CallDeps {
  executorId: string;
  invoker(tool: string): ToolInvoker | undefined;
  /** Hears a cancel of the request, also when it came before the call arrived. */
  onCancel(requestId: string, listener: (reason: CancelReason) => void): () => void;
  /** Hears a cancel of this one call (a lost race), also when it came before the call arrived. */
  onCallCancel(requestId: string, callId: string, listener: (reason: CancelReason) => void): () => void;
  /** True when an earlier delivery of this call already published its result. */
  hasResult(call: ExecCall): Promise<boolean>;
  /** Which run holds each call of a tool with side effects. */
  claims: Pick<CallClaims, "claim" | "renew" | "release">;
  /**
   * Waits for the call's permits; resolves to the permit, which gives its concurrency places back. After
   * `stopAsking` it asks no more (but still hears the answer in flight, so no grant is left unused).
   */
  acquirePermit(call: ExecCall, signal: AbortSignal, stopAsking: AbortSignal): Promise<Permit>;
  /** The tool said "too many": its scope is blocked at every limiter until `until` (epoch ms). */
  blockTool(call: ExecCall, until: number): Promise<void>;
  /** Publishes one of the call's tool events (none for a speculative call: it is not the model's call). */
  publishEvent(call: ExecCall, event: OrchestrateEventDraft): Promise<void>;
  publishResult(call: ExecCall, record: ToolCallRecord): Promise<void>;
  /** Tool arguments and results go on the tool's span, redacted (opt-in; off when absent). */
  captureToolContent?: boolean;
  /**
   * The result cache (only read-only tools that opt in use it): looked up before the permit, around
   * each try of the tool, and given up by a call that held its key and will not run.
   */
  resultCache: Pick<ResultCache, "claim" | "through" | "release">;
  log: Logger;
}
