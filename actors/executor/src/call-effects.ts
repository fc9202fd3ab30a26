import type { ExecCall } from "@toolformer/protocol";
import { nuid } from "@nats-io/transport-node";
import type { Effects, Logger } from "@toolformer/runtime";
import { abortReasonOf, type CallCommand, type CallEvent, type ProgressReply } from "./call-flow.ts";
import type { ToolInvoker } from "./invokers.ts";
import type { CallDeps } from "./call-deps.ts";
import type { Permit } from "./permits.ts";
import { invokeInSpan } from "./tool-span.ts";

export interface CallWorld {
  call: ExecCall;
  deliveryCount: number;
  deps: CallDeps;
  /** The tool as hosted when the call was delivered (the flow records UNKNOWN_TOOL without it). */
  invoker: ToolInvoker | undefined;
  log: Logger;
}

export interface CallEffects {
  run: Effects<CallEvent, CallCommand>;
  /** The run is over: progress the tool still reports resolves without being published. */
  close(): void;
}

/**
 * How the call flow's commands are carried out with `CallDeps`. One AbortSignal is shared by the permit
 * wait and every try of the tool (cancel, deadline, tool timeout); `stopAsking` is the permit wait's own,
 * and the cache look-up's (which may wait for an identical call's run).
 */
export function callEffects(world: CallWorld): CallEffects {
  const { call, deps, invoker, log } = world;
  const aborter = new AbortController();
  const stopAsking = new AbortController();
  let releasePlaces: Permit["release"] = async () => {};
  let renewPlaces = async () => {};
  let startedUnderPermit: Permit["started"] = () => {};
  /** Settles once `tool.started` is stored (or could not be): the call's later events come after it. */
  let started: Promise<void> = Promise.resolve();
  const waitingProgress = new Set<ProgressReply>();
  /** This run, as its claim names it; and the claim's revision while the run holds it. */
  const claimRun = nuid.next();
  let claimRevision: number | undefined;
  let claimWrites: Promise<void> = Promise.resolve();
  const writeClaim = async (kind: "renewClaim" | "releaseClaim") => {
    if (claimRevision === undefined) return;
    if (kind === "releaseClaim") {
      await deps.claims.release(call, claimRun, claimRevision);
      claimRevision = undefined;
      return;
    }
    const renewed = await deps.claims.renew(call, claimRun, claimRevision);
    if (renewed === null) log.warn("another run took the call over: this run's claim had lapsed");
    claimRevision = renewed ?? undefined;
  };
  let closed = false;

  const progressOf = (emit: (event: CallEvent) => void) => (partial: unknown) =>
    closed
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const reply: ProgressReply = {
            resolve: () => (waitingProgress.delete(reply), resolve()),
            reject: (error) => (waitingProgress.delete(reply), reject(error)),
          };
          waitingProgress.add(reply);
          emit({ type: "progress", partial, reply });
        });

  const run: Effects<CallEvent, CallCommand> = async (command, emit) => {
    switch (command.kind) {
      case "lookUp":
        return emit({ type: "lookedUp", found: await deps.hasResult(call) });
      case "claim": {
        const outcome = await deps.claims.claim(call, claimRun);
        if (outcome.kind === "held") return emit({ type: "claimHeld", until: outcome.until });
        claimRevision = outcome.revision;
        return emit({ type: "claimed" });
      }
      case "renewClaim":
      case "releaseClaim":
        // One write at a time: each presents the revision the one before it made.
        // A failed write is not the call's: the claim holds until its lease ends.
        claimWrites = claimWrites
          .then(() => writeClaim(command.kind))
          .catch((error: unknown) => log.warn({ err: error }, "could not write the call's claim"));
        return claimWrites;
      case "claimCacheKey": {
        // Waiting for an identical call's run ends with the call (cancel, deadline) and with this copy's stop.
        const signal = AbortSignal.any([aborter.signal, stopAsking.signal]);
        const claimed = await deps.resultCache.claim(call, invoker?.definition, signal);
        return emit(claimed.kind === "hit" ? { type: "cacheHit", value: claimed.value } : { type: "cacheMissed" });
      }
      case "releaseCacheKey":
        return deps.resultCache.release(call, invoker?.definition);
      case "acquirePermit":
        let permit: Permit;
        try {
          permit = await deps.acquirePermit(call, aborter.signal, stopAsking.signal);
        } catch (error) {
          return emit({ type: "permitRefused", error });
        }
        releasePlaces = permit.release;
        renewPlaces = permit.renewal?.renew ?? (async () => {});
        startedUnderPermit = permit.started;
        return emit({ type: "permitGranted", waitedFor: permit.waitedFor, renewEveryMs: permit.renewal?.everyMs });
      case "stopAsking":
        return stopAsking.abort();
      case "abort":
        return aborter.abort(abortReasonOf(command.cause));
      case "publishStarted":
        started = deps
          .publishEvent(call, command.event)
          .catch((error: unknown) => log.warn({ err: error }, "could not publish the call's tool.started event"));
        return;
      case "startTool": {
        const { attempt } = command;
        if (!invoker) throw new Error(`no tool ${call.tool} to start`);
        try {
          const tool = { definition: invoker.definition, captureContent: deps.captureToolContent ?? false };
          const run = () =>
            invokeInSpan(call, attempt, tool, (traceparent) => {
              const running = invoker.invoke(call.args, {
                signal: aborter.signal,
                deadline: call.deadline,
                requestId: call.requestId,
                callId: call.callId,
                attempt: world.deliveryCount,
                traceparent,
                log,
                progress: progressOf(emit),
              });
              // The tool's request has gone out: a late start is counted again from now.
              startedUnderPermit();
              return running;
            });
          const { value, cached } = await deps.resultCache.through(call, invoker.definition, run, aborter.signal);
          return emit({ type: "toolSucceeded", attempt, value, cached });
        } catch (error) {
          return emit({ type: "toolFailed", attempt, error, jitter: Math.random() });
        }
      }
      case "publishProgress":
        // A failed publish rejects the tool's `progress()`; the flow goes on.
        return started
          .then(() => deps.publishEvent(call, command.event))
          .then(command.reply.resolve, command.reply.reject);
      case "skipProgress":
        return command.reply.resolve();
      case "publishResult":
        await started;
        await deps.publishResult(call, command.record);
        return emit({ type: "resultPublished" });
      case "blockTool":
        // Not stored is not fatal: the call asks the limiters again, and the tool answers 429 again.
        await deps
          .blockTool(call, command.until)
          .catch((error: unknown) => log.warn({ err: error }, "could not block a rate-limited tool at the limiters"));
        return emit({ type: "toolBlocked" });
      case "renewPlaces":
        return renewPlaces();
      case "release":
        await releasePlaces();
        return emit({ type: "released" });
      case "log":
        return log.info(command.fields, command.message);
    }
  };

  return {
    run,
    close() {
      closed = true;
      for (const reply of [...waitingProgress]) reply.resolve();
    },
  };
}
